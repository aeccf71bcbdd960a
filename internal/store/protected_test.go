package store_test

import (
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_ReRegisterAuditsWhoChangedWhichFields: the audit record of an
// app update names the actor and the manifest fields that changed.
func TestStore_ReRegisterAuditsWhoChangedWhichFields(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		a := testApp("catalog-api")
		a.Migrate = []string{"/app", "migrate"}
		if _, _, err := s.PutApp(ctxAs("alice"), a); err != nil {
			t.Fatal(err)
		}
		a.Migrate = []string{"/app", "migrate", "--drop-everything"}
		a.Env = map[string]string{"LOG_LEVEL": "debug"}
		if _, _, err := s.PutApp(ctxAs("bob"), a); err != nil {
			t.Fatal(err)
		}
		es, err := s.ListAudit(ctxAs("x"), 0, 1)
		if err != nil || len(es) != 1 {
			t.Fatalf("audit: %v %v", es, err)
		}
		e := es[0]
		want := `version 2 (was 1): env.LOG_LEVEL: (none) → "debug"; migrate: ["/app","migrate"] → ["/app","migrate","--drop-everything"]`
		if e.Actor != "bob" || e.Action != "app.update" || e.Target != "catalog-api" || e.Details != want {
			t.Fatalf("audit entry: %+v\nwant details %s", e, want)
		}
		if _, _, err := s.PutApp(ctxAs("carol"), a); err != nil {
			t.Fatal(err)
		}
		if es, _ := s.ListAudit(ctxAs("x"), 0, 1); es[0].Details != "version 3 (was 2): no changes" {
			t.Fatalf("unchanged re-register: %+v", es[0])
		}
		v, err := s.AppVersion(ctxAs("x"), "catalog-api", 1)
		if err != nil || v.CreatedBy != "alice" || v.Manifest.Version != 1 || len(v.Manifest.Migrate) != 2 {
			t.Fatalf("version 1: %+v %v", v, err)
		}
		if _, err := s.AppVersion(ctxAs("x"), "catalog-api", 9); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("version 9: %v", err)
		}
	})
}

func TestStore_DeployKeepsItsConfirmation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		d, err := s.CreateDeploy(ctxAs("root"), spacepods.Deploy{Env: "production", App: "web", Build: 3, ManifestVersion: 5, ConfirmedBy: "root"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetDeploy(ctxAs("x"), d.ID)
		if err != nil || got.ManifestVersion != 5 || got.ConfirmedBy != "root" {
			t.Fatalf("%+v %v", got, err)
		}
		es, _ := s.ListAudit(ctxAs("x"), 0, 1)
		if !strings.Contains(es[0].Details, "manifest version 5") || !strings.Contains(es[0].Details, "confirmed by root") {
			t.Fatalf("audit: %+v", es[0])
		}
	})
}

func TestStore_ProtectedSnapshotMarks(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("root")
		if _, ok, err := s.ProtectedSnapshot(ctx, "snap"); ok || err != nil {
			t.Fatalf("unmarked: %v %v", ok, err)
		}
		if err := s.MarkSnapshot(ctx, "snap", "production", "web", true); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSnapshot(ctx, "snap", "production", "web", true); err != nil {
			t.Fatalf("marking twice: %v", err)
		}
		p, ok, err := s.ProtectedSnapshot(ctx, "snap")
		if !ok || err != nil || p.Env != "production" || p.App != "web" || p.CreatedBy != "root" {
			t.Fatalf("marked: %+v %v %v", p, ok, err)
		}
		if err := s.MarkSnapshot(ctx, "snap", "qa", "web", false); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.ProtectedSnapshot(ctx, "snap"); ok {
			t.Fatal("a snapshot of an unprotected environment under the same name must clear the mark")
		}
	})
}
