package store_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// An RDS snapshot is recorded with its kind before it is taken; its name
// is taken until it fails; a failed one may be taken again.
func TestStore_ExternalSnapshotsKeepTheirKind(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		if _, ok, err := s.GetExternalSnapshot(ctx, "prod-copy"); ok || err != nil {
			t.Fatalf("before: %v %v", ok, err)
		}
		x, err := s.AddExternalSnapshot(ctx, store.ExternalSnapshot{Name: "prod-copy", Kind: "rds", Env: "production", App: "catalog-api", Source: "production-catalog-api", Ref: "sp-prod-copy"})
		if err != nil || x.Status != store.ExternalCreating || x.CreatedBy != "alice" {
			t.Fatalf("add: %+v %v", x, err)
		}
		if _, err := s.AddExternalSnapshot(ctx, store.ExternalSnapshot{Name: "prod-copy", Kind: "rds"}); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("second add of a name being made: %v, want ECONFLICT", err)
		}
		if err := s.SetExternalSnapshotStatus(ctx, "prod-copy", store.ExternalFailed); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddExternalSnapshot(ctx, store.ExternalSnapshot{Name: "prod-copy", Kind: "rds", Env: "production", App: "catalog-api", Source: "i", Ref: "sp-prod-copy"}); err != nil {
			t.Fatalf("retaking a failed snapshot: %v", err)
		}
		if err := s.SetExternalSnapshotStatus(ctx, "prod-copy", store.ExternalAvailable); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.GetExternalSnapshot(ctx, "prod-copy")
		if err != nil || !ok || got.Kind != "rds" || got.Status != store.ExternalAvailable || got.Source != "i" || got.Ref != "sp-prod-copy" || got.CreatedAt.IsZero() {
			t.Fatalf("get: %+v %v %v", got, ok, err)
		}
		if list, err := s.ListExternalSnapshots(ctx, "rds"); err != nil || len(list) != 1 || list[0].Name != "prod-copy" {
			t.Fatalf("list rds: %+v %v", list, err)
		}
		if list, err := s.ListExternalSnapshots(ctx, "other"); err != nil || len(list) != 0 {
			t.Fatalf("list other: %+v %v", list, err)
		}
	})
}
