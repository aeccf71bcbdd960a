package pods_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/notify/notifytest"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestReap_WarnsOwnersOfPodsExpiringSoon: the reaper tells the owner of a
// pod that expires within ExpiryWarning, keyed by the expiry time (so an
// extended pod is told again), and says nothing of pods further off.
func TestReap_WarnsOwnersOfPodsExpiringSoon(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "alice", Role: spacepods.RoleDeveloper})
	soon, later := time.Now().Add(20*time.Minute), time.Now().Add(3*time.Hour)
	for name, exp := range map[string]*time.Time{"soon": &soon, "later": &later} {
		if _, err := st.CreateEnvironment(ctx, spacepods.Environment{Name: name, Kind: spacepods.EnvPod, Owner: "alice", Status: spacepods.StatusReady, Apps: []string{}, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &notifytest.Recorder{}
	svc := &pods.Service{Store: st, Notifier: rec, ExpiryWarning: time.Hour, Logger: testenv.Logger(t, "pods", slog.LevelInfo)}
	if reaped := svc.Reap(ctx); len(reaped) != 0 {
		t.Fatalf("reaped %v", reaped)
	}
	warn := rec.Notices(spacepods.NoticePodExpiring)
	if len(warn) != 1 || warn[0].Env != "soon" || warn[0].Owner != "alice" || warn[0].Subject != "pod:soon" || warn[0].Fields["expires_at"] == "" {
		t.Fatalf("pod.expiring notices: %+v, want one for soon", warn)
	}
	svc.Reap(ctx)
	again := rec.Notices(spacepods.NoticePodExpiring)
	if len(again) != 2 || again[1].Key != warn[0].Key {
		t.Errorf("second reap: %+v, want the same key (the store records it once)", again)
	}
}
