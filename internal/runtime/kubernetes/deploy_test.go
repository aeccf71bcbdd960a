package kubernetes_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// simRouter stands in for the edge router on a cluster with no data plane:
// it holds the target groups the deploy engine sets and reports every
// target healthy with no errors, so that the driver's pod readiness alone
// decides a rollout. It sends no traffic.
type simRouter struct {
	mu     sync.Mutex
	groups map[string]router.GroupSpec
}

func (r *simRouter) SetGroup(_ context.Context, env, app string, g router.GroupSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups[env+"/"+app] = g
	return nil
}

func (r *simRouter) DeleteGroup(_ context.Context, env, app string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.groups, env+"/"+app)
	return nil
}

func (r *simRouter) SetEnvironment(context.Context, string) error    { return nil }
func (r *simRouter) RemoveEnvironment(context.Context, string) error { return nil }
func (r *simRouter) Environments(context.Context) ([]string, error)  { return nil, nil }

func (r *simRouter) Groups(ctx context.Context) ([]router.GroupStatus, error) {
	r.mu.Lock()
	keys := make([]string, 0, len(r.groups))
	for k := range r.groups {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	var out []router.GroupStatus
	for _, k := range keys {
		env, app, _ := strings.Cut(k, "/")
		st, _ := r.Stats(ctx, env, app)
		out = append(out, st)
	}
	return out, nil
}

func (r *simRouter) Stats(_ context.Context, env, app string) (router.GroupStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := router.GroupStatus{Environment: env, App: app}
	for _, t := range r.groups[env+"/"+app].Targets {
		st.Targets = append(st.Targets, router.TargetStatus{Addr: t.Addr, Weight: t.Weight, State: router.StateHealthy, Healthy: true})
		st.HealthyTargets++
	}
	return st, nil
}

// TestDeploy_FailedStagedRolloutRollsBackOnKubernetes runs the deploy
// engine (its exported API only) on the kubernetes driver: build 1 of the
// example pricing-api rolls out to a master environment, then build 2,
// whose image crashes (a kwok stage: the tag ends in -crash), fails its
// first stage and is rolled back to release 1, with nothing of it left.
func TestDeploy_FailedStagedRolloutRollsBackOnKubernetes(t *testing.T) {
	requireCluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	d := newDriver(t, kubernetes.Config{})

	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := catalog.NewService(st)
	manifest, err := os.ReadFile("../../../examples/pricing-api/spacepods.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cat.Register(ctx, manifest, ""); err != nil {
		t.Fatalf("register pricing-api: %v", err)
	}
	for n, image := range map[int]string{1: "spacepods-example/pricing-api:1", 2: "spacepods-example/pricing-api:2-crash"} {
		if _, err := cat.RecordBuild(ctx, spacepods.Build{App: "pricing-api", Number: n, GitSHA: strings.Repeat("a", 40), Branch: "main", Image: image}); err != nil {
			t.Fatalf("record build %d: %v", n, err)
		}
	}
	env := uniqueEnv("deploy")
	if _, err := st.CreateEnvironment(ctx, spacepods.Environment{Name: env, Kind: spacepods.EnvMaster, Owner: "test", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
		t.Fatal(err)
	}
	ensureEnv(t, d, env)

	engine := &deploy.Engine{
		Store: st, Catalog: cat, Driver: d, Router: &simRouter{groups: map[string]router.GroupSpec{}},
		Domain: "localhost", Logger: testLogger(),
		Options: deploy.Options{HealthTimeout: 15 * time.Second, Bake: -1, Poll: 200 * time.Millisecond},
	}
	ectx, stop := context.WithCancel(context.Background())
	if err := engine.Start(ectx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); engine.Wait() })

	run := func(build int) spacepods.Deploy {
		t.Helper()
		dep, err := engine.Submit(ctx, deploy.Request{Env: env, App: "pricing-api", Build: build})
		if err != nil {
			t.Fatalf("submit build %d: %v", build, err)
		}
		dep, err = engine.WaitDeploy(ctx, dep.ID)
		if err != nil {
			t.Fatalf("wait for the deploy of build %d: %v", build, err)
		}
		return dep
	}
	first := run(1)
	if first.Status != spacepods.DeployCompleted {
		t.Fatalf("deploy of build 1: %s (%s)\n%s", first.Status, first.Error, first.Output)
	}
	second := run(2)
	if second.Status != spacepods.DeployRolledBack {
		t.Fatalf("deploy of the crashing build 2: %s (%s), want rolled back\n%s", second.Status, second.Error, second.Output)
	}
	if !strings.Contains(second.Output+second.Error, "simulated crash") {
		t.Errorf("the failed deploy's output does not quote the crash:\nerror: %s\noutput: %s", second.Error, second.Output)
	}
	t.Logf("rolled back: %s", second.Error)

	svcs, err := d.ListServices(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	var web []runtime.ServiceStatus
	for _, s := range svcs {
		if s.App == "pricing-api" {
			web = append(web, s)
		}
	}
	if len(web) != 1 || web[0].Name != deploy.ServiceName("pricing-api", first.Release, "") || web[0].Desired != 1 || web[0].Healthy != 1 {
		t.Fatalf("services of pricing-api after the rollback = %+v, want only release %d with 1 healthy replica", web, first.Release)
	}
}
