package store_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_CorruptJSONColumnsAreErrors: an environment or deploy row whose
// JSON column does not parse is an error, not an environment without apps
// or a deploy without steps.
func TestStore_CorruptJSONColumnsAreErrors(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "demo", Kind: spacepods.EnvPod, Owner: "alice", Status: spacepods.StatusReady, Apps: []string{"web"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, "UPDATE environments SET apps = 'not json' WHERE name = 'demo'"); err != nil {
			t.Fatal(err)
		}
		if e, err := s.GetEnvironment(ctx, "demo"); err == nil {
			t.Fatalf("environment with a corrupt apps column read as %+v", e)
		}
		d, err := s.CreateDeploy(ctx, spacepods.Deploy{Env: "demo", App: "web", Build: 1, Steps: []spacepods.DeployStep{{Name: "migrate", Status: "pending"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().ExecContext(ctx, "UPDATE deploys SET steps = '[{' WHERE id = $1", d.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetDeploy(ctx, d.ID); err == nil {
			t.Fatalf("deploy with a corrupt steps column read as %+v", got)
		}
	})
}

// TestStore_TokenUseThatCannotBeStampedIsRefused: when last_used cannot
// be written, the token lookup fails instead of dropping the error
// (SQLite: a trigger refuses the update, the select still works).
func TestStore_TokenUseThatCannotBeStampedIsRefused(t *testing.T) {
	s := storetest.MustOpenSQLite(t)
	ctx := ctxAs("admin")
	if _, err := s.CreateToken(ctx, "ci", spacepods.RoleDeveloper, "hash-of-ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `CREATE TRIGGER no_stamp BEFORE UPDATE ON tokens BEGIN SELECT RAISE(ABORT, 'read-only'); END`); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.TokenByHash(ctx, "hash-of-ci"); err == nil {
		t.Fatalf("token %+v came back although its use could not be recorded", tok)
	}
	if _, err := s.DB().ExecContext(ctx, `DROP TRIGGER no_stamp`); err != nil {
		t.Fatal(err)
	}
	if tok, err := s.TokenByHash(ctx, "hash-of-ci"); err != nil || tok.Name != "ci" {
		t.Fatalf("after the store heals: %+v, %v", tok, err)
	}
}
