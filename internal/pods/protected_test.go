package pods_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestSnapshot_ProtectedEnvironmentsDataIsReadOnlyByAdminsAndStaysProtected:
// only an admin snapshots a protected environment's database, and that
// snapshot is cloned only into protected environments (a pod or an
// unprotected environment would hand its data to any developer), also
// when a pod's create makes its databases ahead of its deploys.
func TestSnapshot_ProtectedEnvironmentsDataIsReadOnlyByAdminsAndStaysProtected(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	root := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
	dev := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "bob", Role: spacepods.RoleDeveloper})
	ctx := podstest.Context(t, 3*time.Minute)
	prod, qa, vault := s.EnvName("prod"), s.EnvName("qa"), s.EnvName("vault")
	for _, e := range []struct {
		name      string
		protected bool
	}{{prod, true}, {qa, false}, {vault, true}} {
		if _, err := s.Pods.CreateMaster(root, e.name, e.protected); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Databases.Create(ctx, prod, "catalog-api", databases.Source{}); err != nil {
		t.Fatal(err)
	}
	snap := "snap-" + strings.TrimPrefix(prod, "prod-")
	t.Cleanup(func() { s.Databases.DropSnapshot(context.Background(), snap) })

	_, err := s.Pods.Snapshot(dev, prod, "catalog-api", snap)
	if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(spacepods.ErrorMessage(err), "only an admin may snapshot") {
		t.Fatalf("developer snapshots %s: %v, want EFORBIDDEN", prod, err)
	}
	if ss, _ := s.Databases.ListSnapshots(ctx); len(ss) > 0 {
		for _, x := range ss {
			if x.Name == snap {
				t.Fatalf("the refused snapshot exists: %+v", x)
			}
		}
	}
	if _, err := s.Pods.Snapshot(root, prod, "catalog-api", snap); err != nil {
		t.Fatalf("admin snapshots %s: %v", prod, err)
	}
	if _, err := s.Pods.Snapshot(root, prod, "catalog-api", snap); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("a second snapshot of the same name: %v, want ECONFLICT", err)
	}

	app, err := s.Catalog.Get(ctx, "catalog-api")
	if err != nil {
		t.Fatal(err)
	}
	app.Database = &spacepods.Database{Engine: "postgres", Snapshot: snap}
	_, err = s.Engine().EnsureDatabase(ctx, qa, app)
	if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(spacepods.ErrorMessage(err), "holds the data of protected environment "+prod) {
		t.Fatalf("clone into unprotected %s: %v, want EFORBIDDEN", qa, err)
	}
	if _, err := s.Databases.Get(ctx, qa, "catalog-api"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("the refused clone exists in %s: %v", qa, err)
	}
	if _, err := s.Engine().EnsureDatabase(ctx, vault, app); err != nil {
		t.Fatalf("clone into protected %s: %v", vault, err)
	}

	// A pod whose app clones the snapshot fails, and no copy of the data
	// is made on the way: the pods service makes its databases through the
	// engine, which refuses the clone, as the pod's deploy does.
	m, err := s.Manifest("catalog-api")
	if err != nil {
		t.Fatal(err)
	}
	m = strings.Replace(m, "name: catalog-api", "name: catalog-psnap", 1)
	m = strings.Replace(m, "seed: db/seed.sql", "snapshot: "+snap, 1)
	if _, err := s.Register(root, "catalog-api", m); err != nil {
		t.Fatalf("register the snapshot variant: %v", err)
	}
	b, err := s.Catalog.Build(ctx, "catalog-api", podstest.BuildNormal)
	if err != nil {
		t.Fatal(err)
	}
	b.App = "catalog-psnap"
	if _, err := s.Catalog.RecordBuild(ctx, b); err != nil {
		t.Fatal(err)
	}
	pod := s.EnvName("psnap")
	if _, _, err := s.Pods.Create(dev, spacepods.CreatePodRequest{Name: pod, Apps: []string{"catalog-psnap"}}); err != nil {
		t.Fatalf("create pod %s: %v", pod, err)
	}
	e, err := s.WaitEnv(ctx, pod, spacepods.StatusFailed)
	if err != nil || !strings.Contains(e.Reason, "holds the data of protected environment "+prod) {
		t.Fatalf("pod %s cloning a protected snapshot: %+v, %v; want failed with the refusal", pod, e, err)
	}
	// The pods service's early database creation may still be running:
	// give it time to make the copy it must not make.
	for range 30 {
		if _, err := s.Databases.Get(ctx, pod, "catalog-psnap"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("the protected data was copied into pod %s: %v", pod, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
