package deploy_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestEngine_DeployRefusesPodsAndSubmitQueuesForThem: the rule "pods take no
// direct deploys" is the engine's. Deploy (a user's deploy) refuses a pod
// with what to do instead and queues nothing; Submit (the pods service's
// way in) queues the same request; Deploy queues one to a master
// environment. The engine is not started, so deploys stay queued.
func TestEngine_DeployRefusesPodsAndSubmitQueuesForThem(t *testing.T) {
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
	st := storetest.MustOpenSQLite(t)
	cat := catalog.NewService(st)
	if _, _, err := cat.Register(ctx, []byte("name: web\nrepo: acme/web\nkind: web\nport: 8080\nhealth: /healthz\n"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.RecordBuild(ctx, spacepods.Build{App: "web", Number: 1, GitSHA: "abcdef1", Branch: "main", Image: "acme/web:1"}); err != nil {
		t.Fatal(err)
	}
	pod, master := "p1", "qa"
	for _, e := range []spacepods.Environment{
		{Name: pod, Kind: spacepods.EnvPod, Owner: "root", Status: spacepods.StatusReady, Apps: []string{}},
		{Name: master, Kind: spacepods.EnvMaster, Owner: "root", Status: spacepods.StatusReady, Apps: []string{}},
	} {
		if _, err := st.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	e := &deploy.Engine{Store: st, Catalog: cat, Domain: "localhost", Logger: slog.New(slog.DiscardHandler)}

	_, err := e.Deploy(ctx, deploy.Request{Env: pod, App: "web", Build: 1})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), pod+" is a pod: pods take no direct deploys") ||
		!strings.Contains(spacepods.ErrorMessage(err), "spacepods pod update "+pod+" --build web=1") {
		t.Fatalf("Deploy to pod %s: %v, want EINVALID saying to update the pod", pod, err)
	}
	if ds, _ := st.ListDeploys(ctx, pod, "web", 10); len(ds) != 0 {
		t.Fatalf("Deploy queued a deploy to the pod: %+v", ds)
	}
	if d, err := e.Submit(ctx, deploy.Request{Env: pod, App: "web", Build: 1}); err != nil || d.Status != spacepods.DeployQueued {
		t.Fatalf("Submit to pod %s: %+v, %v, want queued", pod, d, err)
	}
	if d, err := e.Deploy(ctx, deploy.Request{Env: master, App: "web", Build: 1}); err != nil || d.Status != spacepods.DeployQueued {
		t.Fatalf("Deploy to master %s: %+v, %v, want queued", master, d, err)
	}
}
