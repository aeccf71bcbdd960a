package notify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// flaky is a Sender that fails the first failFirst sends to each target
// and records the keys it delivered, in order, per target.
type flaky struct {
	mu        sync.Mutex
	failFirst int
	fails     map[string]int
	sent      map[string][]string
	attempts  map[string][]time.Time
	always    map[string]bool // targets that always fail
}

func newFlaky(failFirst int) *flaky {
	return &flaky{failFirst: failFirst, fails: map[string]int{}, sent: map[string][]string{}, attempts: map[string][]time.Time{}, always: map[string]bool{}}
}

func (f *flaky) Send(_ context.Context, target string, n spacepods.Notice, _ spacepods.NoticeDelivery) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[target] = append(f.attempts[target], time.Now())
	if f.always[target] {
		return "", errors.New("connection refused")
	}
	if f.fails[target] < f.failFirst {
		f.fails[target]++
		return "", fmt.Errorf("503 from %s", target)
	}
	f.sent[target] = append(f.sent[target], n.Key)
	return "200 OK", nil
}

func (f *flaky) got(target string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent[target]...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func notice(i int) spacepods.Notice {
	return spacepods.Notice{Kind: spacepods.NoticeDeployCompleted, Key: fmt.Sprintf("deploy-%d-completed", i), Subject: fmt.Sprintf("deploy:%d", i), App: "web", Env: "staging"}
}

func TestService_RetriesWithBackoffInOrderPerTarget(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newFlaky(2)
		var backoffs []int
		var bmu sync.Mutex
		svc := &notify.Service{
			Store:   st,
			Route:   func(context.Context, spacepods.Notice) []string { return []string{"test:a", "test:b"} },
			Senders: map[string]notify.Sender{"test": f},
			Backoff: func(n int) time.Duration {
				bmu.Lock()
				backoffs = append(backoffs, n)
				bmu.Unlock()
				return time.Duration(n) * 50 * time.Millisecond
			},
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for i := 1; i <= 3; i++ {
			svc.Notify(ctx, notice(i))
		}
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		want := []string{"deploy-1-completed", "deploy-2-completed", "deploy-3-completed"}
		waitFor(t, "both targets get all three", func() bool { return len(f.got("a")) == 3 && len(f.got("b")) == 3 })
		cancel()
		<-done
		for _, tg := range []string{"a", "b"} {
			if got := f.got(tg); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("target %s got %v, want %v in order", tg, got, want)
			}
			f.mu.Lock()
			at := f.attempts[tg]
			f.mu.Unlock()
			if len(at) != 5 { // two failures, then three sends
				t.Fatalf("target %s: %d attempts, want 5", tg, len(at))
			}
			// The second retry waits longer than the first (backoff grows).
			if d1, d2 := at[1].Sub(at[0]), at[2].Sub(at[1]); d1 < 50*time.Millisecond || d2 < 100*time.Millisecond {
				t.Errorf("target %s: retries after %s and %s, want ≥ 50ms and ≥ 100ms", tg, d1, d2)
			}
		}
		ds, err := st.ListNoticeDeliveries(context.Background(), "test:a", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 3 || ds[2].Attempts != 3 || ds[2].State != spacepods.NoticeSent || ds[0].Attempts != 1 {
			t.Errorf("delivery log of test:a: %+v", ds)
		}
	})
}

func TestService_DeadTargetDoesNotHoldUpOthers(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	f := newFlaky(0)
	f.always["dead"] = true
	svc := &notify.Service{
		Store:       st,
		Route:       func(context.Context, spacepods.Notice) []string { return []string{"test:dead", "test:ok"} },
		Senders:     map[string]notify.Sender{"test": f},
		Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
		MaxAttempts: 3,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	for i := 1; i <= 3; i++ {
		svc.Notify(ctx, notice(i))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("recording 3 notices took %s: Notify must not wait for targets", d)
	}
	go svc.Run(ctx)
	waitFor(t, "ok target gets all three", func() bool { return len(f.got("ok")) == 3 })
	waitFor(t, "dead target's deliveries are given up", func() bool {
		ds, _ := st.ListNoticeDeliveries(ctx, "test:dead", 0, 10)
		for _, d := range ds {
			if d.State != spacepods.NoticeDead {
				return false
			}
		}
		return len(ds) == 3
	})
	ds, _ := st.ListNoticeDeliveries(ctx, "test:dead", 0, 10)
	if ds[0].Attempts != 3 || ds[0].LastError == "" {
		t.Errorf("dead delivery: %+v, want 3 attempts and the last error", ds[0])
	}
}

func TestService_IdempotencyKeyRecordsOnce(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	svc := &notify.Service{Store: st, Route: func(context.Context, spacepods.Notice) []string { return []string{"test:a"} }}
	a, err := svc.Record(context.Background(), notice(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Record(context.Background(), notice(1))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Errorf("same key stored twice: %d and %d", a.ID, b.ID)
	}
	ds, _ := st.ListNoticeDeliveries(context.Background(), "", 0, 10)
	if len(ds) != 1 {
		t.Errorf("%d deliveries, want 1", len(ds))
	}
}

// TestService_DeliversAfterRestart: a notice recorded (and one half-sent)
// before the server stopped is delivered by the next one, with its key.
func TestService_DeliversAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	route := func(context.Context, spacepods.Notice) []string { return []string{"test:a"} }
	first := &notify.Service{Store: st, Route: route}
	first.Notify(ctx, notice(1))
	first.Notify(ctx, notice(2))
	// The first server claimed notice 1 and died while sending it.
	if _, _, ok, err := st.ClaimNoticeDelivery(ctx); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	f := newFlaky(0)
	second := &notify.Service{Store: st2, Route: route, Senders: map[string]notify.Sender{"test": f}}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go second.Run(rctx)
	waitFor(t, "both notices delivered after the restart", func() bool { return len(f.got("a")) == 2 })
	if got := f.got("a"); got[0] != "deploy-1-completed" || got[1] != "deploy-2-completed" {
		t.Errorf("delivered %v", got)
	}
}

func TestNotify_NilNotifierIsANoOp(t *testing.T) {
	spacepods.Notify(context.Background(), nil, notice(1)) // must not panic
}

func TestService_UnknownTargetTypeIsDeadAtOnce(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	svc := &notify.Service{Store: st, Route: func(context.Context, spacepods.Notice) []string { return []string{"teams:x"} }}
	svc.Notify(context.Background(), notice(1))
	if ok, err := svc.DeliverNext(context.Background()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ds, _ := st.ListNoticeDeliveries(context.Background(), "", 0, 1)
	if ds[0].State != spacepods.NoticeDead || ds[0].Attempts != 1 {
		t.Errorf("%+v", ds[0])
	}
}
