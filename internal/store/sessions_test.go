package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_SessionsEndWhenRevokedExpiredOrTheirTokenIsRevoked: a session
// is found by its hash only while it is live.
func TestStore_SessionsEndWhenRevokedExpiredOrTheirTokenIsRevoked(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("admin")
		tok, err := s.CreateToken(ctx, "dev", spacepods.RoleDeveloper, "tokenhash")
		if err != nil {
			t.Fatal(err)
		}
		now := s.Now()
		unauthorized := func(what, hash string) {
			t.Helper()
			if _, err := s.SessionByHash(ctx, hash); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
				t.Fatalf("%s: want unauthorized, got %v", what, err)
			}
		}
		sess, err := s.CreateSession(ctx, "h1", tok.ID, now.Add(time.Hour))
		if err != nil || sess.ID == 0 {
			t.Fatalf("create: %+v %v", sess, err)
		}
		got, err := s.SessionByHash(ctx, "h1")
		if err != nil || got.ID != sess.ID || got.Token.Name != "dev" || got.Token.Role != spacepods.RoleDeveloper {
			t.Fatalf("lookup: %+v %v", got, err)
		}
		unauthorized("unknown hash", "nope")

		if err := s.RevokeSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		unauthorized("revoked", "h1")
		if err := s.RevokeSession(ctx, "h1"); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}

		if _, err := s.CreateSession(ctx, "h2", tok.ID, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		s.Now = func() time.Time { return now.Add(2 * time.Minute) }
		unauthorized("expired", "h2")
		s.Now = func() time.Time { return now }

		if _, err := s.CreateSession(ctx, "h3", tok.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteToken(ctx, "dev"); err != nil {
			t.Fatal(err)
		}
		unauthorized("token revoked", "h3")
	})
}

// TestStore_WritesSignalChangesOfTheirEnvironment: live views wait on
// Changes; a write to an environment wakes its watchers, not others'.
func TestStore_WritesSignalChangesOfTheirEnvironment(t *testing.T) {
	s := storetest.MustOpenSQLite(t)
	ctx := context.Background()
	p1, p2 := s.Changes().Watch("p1"), s.Changes().Watch("p2")
	if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "p1", Kind: spacepods.EnvPod, Owner: "a", Status: spacepods.StatusCreating}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p1:
	default:
		t.Fatal("creating p1 did not signal its watchers")
	}
	select {
	case <-p2:
		t.Fatal("creating p1 woke the watchers of p2")
	default:
	}
	for name, write := range map[string]func() error{
		"status": func() error { return s.SetEnvironmentStatus(ctx, "p1", spacepods.StatusReady, "") },
		"event":  func() error { _, err := s.AddEvent(ctx, spacepods.Event{Env: "p1", Message: "x"}); return err },
		"deploy": func() error {
			_, err := s.CreateDeploy(ctx, spacepods.Deploy{Env: "p1", App: "web", Build: 1})
			return err
		},
		"envapp": func() error { return s.PutEnvApp(ctx, spacepods.EnvApp{Env: "p1", App: "web", Status: "healthy"}) },
	} {
		w := s.Changes().Watch("p1")
		gen := s.Changes().Generation()
		if err := write(); err != nil {
			t.Fatal(name, err)
		}
		select {
		case <-w:
		default:
			t.Fatalf("%s did not signal p1's watchers", name)
		}
		if s.Changes().Generation() <= gen {
			t.Fatalf("%s did not count a change", name)
		}
	}
}
