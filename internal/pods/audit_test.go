package pods_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestDestroy_RefusedWhenItsAuditEntryCannotBeWritten: the audit entry is
// written before anything changes, so a destroy the audit log cannot record
// does not start (it used to start and drop the audit error). No runtime is
// needed: the refusal comes before any driver call.
func TestDestroy_RefusedWhenItsAuditEntryCannotBeWritten(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
		if _, err := st.CreateEnvironment(ctx, spacepods.Environment{Name: "p1", Kind: spacepods.EnvPod, Owner: "root", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
			t.Fatal(err)
		}
		svc := &pods.Service{Store: st, Logger: testenv.Logger(t, "pods", slog.LevelInfo)}
		if _, err := st.DB().ExecContext(ctx, "ALTER TABLE audit RENAME TO audit_unwritable"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.DB().ExecContext(context.Background(), "ALTER TABLE audit_unwritable RENAME TO audit") })
		if err := svc.Destroy(ctx, "p1"); err == nil {
			t.Fatal("destroy with an unwritable audit log succeeded")
		}
		e, err := st.GetEnvironment(ctx, "p1")
		if err != nil || e.Status != spacepods.StatusReady {
			t.Fatalf("after the refused destroy: %+v, %v; want p1 still ready", e, err)
		}
	})
}
