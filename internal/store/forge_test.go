package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_ADeliverySentManyTimesAtOnceIsStoredOnce: forges retry, and a
// replay may race the original; one row, one pending piece of work.
func TestStore_ADeliverySentManyTimesAtOnceIsStoredOnce(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		queued := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, q, err := s.InsertDelivery(ctx, spacepods.ForgeDelivery{DeliveryID: "same", Event: "push", Repo: "acme/a", Payload: []byte(`{"a":1}`)})
				if err != nil {
					t.Error(err)
					return
				}
				if q {
					mu.Lock()
					queued++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if queued != 1 {
			t.Fatalf("%d inserts said new work, want 1", queued)
		}
		ds, err := s.ListDeliveries(ctx, 0, 10)
		if err != nil || len(ds) != 1 || ds[0].State != spacepods.DeliveryPending || ds[0].DeliveryID != "same" {
			t.Fatalf("%v %+v", err, ds)
		}
		d, ok, err := s.ClaimDelivery(ctx)
		if err != nil || !ok || d.DeliveryID != "same" || d.Attempts != 1 {
			t.Fatalf("claim: %v %v %+v", err, ok, d)
		}
		if _, ok, _ := s.ClaimDelivery(ctx); ok {
			t.Fatal("claimed twice")
		}
		if n, err := s.RequeueDeliveries(ctx); err != nil || n != 1 {
			t.Fatalf("requeue: %d %v", n, err)
		}
	})
}

// TestStore_UserTokenFollowsTheProviderRole: a forge user's token record is
// made once and its role follows each sign-in, audited.
func TestStore_UserTokenFollowsTheProviderRole(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("oidc:alice")
		a, err := s.UpsertUserToken(ctx, "oidc:alice", spacepods.RoleViewer, "h1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.UpsertUserToken(ctx, "oidc:alice", spacepods.RoleAdmin, "h2")
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != b.ID || b.Role != spacepods.RoleAdmin {
			t.Fatalf("%+v then %+v", a, b)
		}
		if _, err := s.TokenByHash(ctx, "h2"); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			t.Fatalf("the second hash became a credential: %v", err)
		}
		tok, err := s.TokenByHash(ctx, "h1")
		if err != nil || tok.Role != spacepods.RoleAdmin {
			t.Fatalf("%v %+v", err, tok)
		}
		es, err := s.ListAudit(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var roleChange bool
		for _, e := range es {
			roleChange = roleChange || (e.Action == "token.role" && e.Target == "oidc:alice")
		}
		if !roleChange {
			t.Fatalf("no audit of the role change: %+v", es)
		}
	})
}

// TestStore_OldDeliveriesKeepTheirIDButNotTheirPayload: a week after it
// finished, a delivery's payload goes; its row (and so replay protection)
// stays.
func TestStore_OldDeliveriesKeepTheirIDButNotTheirPayload(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		old, _, err := s.InsertDelivery(ctx, spacepods.ForgeDelivery{DeliveryID: "old", Event: "push", Payload: []byte(`{"old":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDelivery(ctx, old.ID, spacepods.DeliveryDone, "ok", ""); err != nil {
			t.Fatal(err)
		}
		now = now.Add(store.DeliveryPayloadRetention + time.Hour)
		fresh, _, err := s.InsertDelivery(ctx, spacepods.ForgeDelivery{DeliveryID: "new", Event: "push", Payload: []byte(`{"new":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDelivery(ctx, fresh.ID, spacepods.DeliveryDone, "ok", ""); err != nil {
			t.Fatal(err)
		}
		o, err := s.Delivery(ctx, old.ID, "")
		if err != nil || len(o.Payload) != 0 || o.Result != "ok" {
			t.Fatalf("old: %v %+v", err, o)
		}
		if f, err := s.Delivery(ctx, fresh.ID, ""); err != nil || string(f.Payload) != `{"new":1}` {
			t.Fatalf("new: %v %+v", err, f)
		}
		if _, queued, err := s.InsertDelivery(ctx, spacepods.ForgeDelivery{DeliveryID: "old", Event: "push", Payload: []byte(`{"old":1}`)}); err != nil || queued {
			t.Fatalf("a late replay of the old delivery: queued=%v %v", queued, err)
		}
	})
}
