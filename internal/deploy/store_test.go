package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// errOutage is what the flaky store answers while it is down.
var errOutage = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused (test outage)")

// flakyStore is the engine's store with an outage that starts at the first
// call trigger matches (that call fails) and lasts until up is called, and
// optionally a number of failing queue lookups.
type flakyStore struct {
	deploy.Store

	mu         sync.Mutex
	trigger    func(call string, d *spacepods.Deploy, ea *spacepods.EnvApp) bool
	down       bool
	downSince  time.Time
	failed     int         // calls failed during the outage
	failQueue  int         // UnfinishedDeploys calls still to fail
	queueFails []time.Time // when the failing UnfinishedDeploys calls came
}

// arm makes the outage start at the first call that trigger matches.
func (f *flakyStore) arm(trigger func(call string, d *spacepods.Deploy, ea *spacepods.EnvApp) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trigger, f.down, f.failed = trigger, false, 0
}

// up ends the outage.
func (f *flakyStore) up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.trigger = false, nil
}

// outage reports whether the store is down, since when, and how many calls
// failed meanwhile.
func (f *flakyStore) outage() (bool, time.Time, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.downSince, f.failed
}

func (f *flakyStore) check(call string, d *spacepods.Deploy, ea *spacepods.EnvApp) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if call == "UnfinishedDeploys" && f.failQueue > 0 {
		f.failQueue--
		f.queueFails = append(f.queueFails, time.Now())
		return errOutage
	}
	if !f.down && f.trigger != nil && f.trigger(call, d, ea) {
		f.down, f.downSince, f.trigger = true, time.Now(), nil
	}
	if f.down {
		f.failed++
		return errOutage
	}
	return nil
}

func (f *flakyStore) GetEnvironment(ctx context.Context, name string) (spacepods.Environment, error) {
	if err := f.check("GetEnvironment", nil, nil); err != nil {
		return spacepods.Environment{}, err
	}
	return f.Store.GetEnvironment(ctx, name)
}

func (f *flakyStore) GetEnvApp(ctx context.Context, env, app string) (spacepods.EnvApp, error) {
	if err := f.check("GetEnvApp", nil, nil); err != nil {
		return spacepods.EnvApp{}, err
	}
	return f.Store.GetEnvApp(ctx, env, app)
}

func (f *flakyStore) PutEnvApp(ctx context.Context, a spacepods.EnvApp) error {
	if err := f.check("PutEnvApp", nil, &a); err != nil {
		return err
	}
	return f.Store.PutEnvApp(ctx, a)
}

func (f *flakyStore) AddRelease(ctx context.Context, r spacepods.Release) (spacepods.Release, error) {
	if err := f.check("AddRelease", nil, nil); err != nil {
		return r, err
	}
	return f.Store.AddRelease(ctx, r)
}

func (f *flakyStore) GetRelease(ctx context.Context, env, app string, number int) (spacepods.Release, error) {
	if err := f.check("GetRelease", nil, nil); err != nil {
		return spacepods.Release{}, err
	}
	return f.Store.GetRelease(ctx, env, app, number)
}

func (f *flakyStore) CreateDeploy(ctx context.Context, d spacepods.Deploy) (spacepods.Deploy, error) {
	if err := f.check("CreateDeploy", &d, nil); err != nil {
		return d, err
	}
	return f.Store.CreateDeploy(ctx, d)
}

func (f *flakyStore) SaveDeploy(ctx context.Context, d spacepods.Deploy) error {
	if err := f.check("SaveDeploy", &d, nil); err != nil {
		return err
	}
	return f.Store.SaveDeploy(ctx, d)
}

func (f *flakyStore) GetDeploy(ctx context.Context, id int64) (spacepods.Deploy, error) {
	if err := f.check("GetDeploy", nil, nil); err != nil {
		return spacepods.Deploy{}, err
	}
	return f.Store.GetDeploy(ctx, id)
}

func (f *flakyStore) ListDeploys(ctx context.Context, env, app string, limit int) ([]spacepods.Deploy, error) {
	if err := f.check("ListDeploys", nil, nil); err != nil {
		return nil, err
	}
	return f.Store.ListDeploys(ctx, env, app, limit)
}

func (f *flakyStore) UnfinishedDeploys(ctx context.Context) ([]spacepods.Deploy, error) {
	if err := f.check("UnfinishedDeploys", nil, nil); err != nil {
		return nil, err
	}
	return f.Store.UnfinishedDeploys(ctx)
}

func (f *flakyStore) AddEvent(ctx context.Context, ev spacepods.Event) (spacepods.Event, error) {
	if err := f.check("AddEvent", nil, nil); err != nil {
		return ev, err
	}
	return f.Store.AddEvent(ctx, ev)
}

func (f *flakyStore) Events(ctx context.Context, env string, deploy, after int64, limit int) ([]spacepods.Event, error) {
	if err := f.check("Events", nil, nil); err != nil {
		return nil, err
	}
	return f.Store.Events(ctx, env, deploy, after, limit)
}

// saveOf matches the SaveDeploy that records step as status (step "" and
// status running: the deploy's start; step "" and another status: its end).
func saveOf(app, step, status string) func(string, *spacepods.Deploy, *spacepods.EnvApp) bool {
	return func(call string, d *spacepods.Deploy, _ *spacepods.EnvApp) bool {
		if call != "SaveDeploy" || d.App != app {
			return false
		}
		if step == "" {
			return d.Status == status && (status != spacepods.DeployRunning || d.Step == "")
		}
		for _, s := range d.Steps {
			if s.Name == step {
				return d.Step == step && s.Status == status
			}
		}
		return false
	}
}

// waitStored polls the real store (the engine's is down at times) until
// deploy id has ended.
func waitStored(t *testing.T, s *podstest.Stack, id int64) spacepods.Deploy {
	t.Helper()
	ctx := podstest.Context(t, 3*time.Minute)
	for {
		d, err := s.Store.GetDeploy(ctx, id)
		if err == nil && d.Done() {
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("deploy %d did not end: %s at %s (%v)", id, d.Status, d.Step, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// queueBehind queues a deploy of app behind the ones queued, straight in
// the real store (the engine's may be down), as Submit would.
func queueBehind(t *testing.T, s *podstest.Stack, env, app string, build int) spacepods.Deploy {
	t.Helper()
	steps := make([]spacepods.DeployStep, len(spacepods.DeploySteps))
	for i, n := range spacepods.DeploySteps {
		steps[i] = spacepods.DeployStep{Name: n, Status: "pending"}
	}
	d, err := s.Store.CreateDeploy(context.Background(), spacepods.Deploy{Env: env, App: app, Build: build, Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDeploy_StoreFailuresStopTheDeployAndItResumes makes the store fail
// at each point where a deploy records its progress, until the test ends
// the outage: the deploy stops right there (no step starts, nothing in the
// runtime changes while its progress cannot be recorded), its worker keeps
// trying, and once the store answers the deploy is recovered — rolled back,
// or completed when its release was already recorded live, or run from the
// start when it had not started — and the deploy queued behind it runs.
func TestDeploy_StoreFailuresStopTheDeployAndItResumes(t *testing.T) {
	t.Parallel()
	flaky := &flakyStore{}
	s := podstest.Start(t, podstest.Config{
		WrapStore: func(st deploy.Store) deploy.Store { flaky.Store = st; return flaky },
		Deploy:    deploy.Options{StoreRetry: 50 * time.Millisecond, HealthTimeout: time.Minute},
	})
	ctx := podstest.Context(t, 10*time.Minute)
	const app = "pricing-api"
	env := s.EnvName("store")
	if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: env, Apps: []string{app}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitEnv(ctx, env, spacepods.StatusReady); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		number int
		mode   string
	}{{podstest.BuildNormal2, ""}, {podstest.BuildCrash, "crash"}} {
		if err := s.AddBuild(ctx, app, b.number, b.mode); err != nil {
			t.Fatal(err)
		}
	}

	// Steps that start, per deploy, with when.
	var hookMu sync.Mutex
	type started struct {
		deploy int64
		at     string
		when   time.Time
	}
	var hooks []started
	s.Engine().SetStepHook(func(_ context.Context, d *spacepods.Deploy, at string) {
		hookMu.Lock()
		hooks = append(hooks, started{d.ID, at, time.Now()})
		hookMu.Unlock()
	})

	liveEnvApp := func(call string, _ *spacepods.Deploy, ea *spacepods.EnvApp) bool {
		return call == "PutEnvApp" && ea.App == app && ea.Status == "healthy" && ea.Release > 0
	}
	for _, tc := range []struct {
		name    string
		build   int
		trigger func(string, *spacepods.Deploy, *spacepods.EnvApp) bool
		want    string // how the deploy ends
		error   string // in its error
	}{
		{"start", podstest.BuildNormal2, saveOf(app, "", spacepods.DeployRunning), spacepods.DeployCompleted, ""},
		{"clear_stale", podstest.BuildNormal2, saveOf(app, "clear_stale", "running"), spacepods.DeployRolledBack, "stopped during step clear_stale because the store did not take its progress"},
		{"register_release done", podstest.BuildNormal2, saveOf(app, "register_release", "done"), spacepods.DeployRolledBack, "stopped during step register_release"},
		{"migrate", podstest.BuildNormal2, saveOf(app, "migrate", "running"), spacepods.DeployRolledBack, "stopped during step migrate"},
		{"create_service done", podstest.BuildNormal2, saveOf(app, "create_service", "done"), spacepods.DeployRolledBack, "stopped during step create_service"},
		{"rollout", podstest.BuildNormal2, saveOf(app, "rollout", "running"), spacepods.DeployRolledBack, "stopped during step rollout"},
		{"release recorded live", podstest.BuildNormal2, liveEnvApp, spacepods.DeployRolledBack, "stopped during step rollout"},
		{"rollout done", podstest.BuildNormal2, saveOf(app, "rollout", "done"), spacepods.DeployCompleted, ""},
		{"completed", podstest.BuildNormal2, saveOf(app, "", spacepods.DeployCompleted), spacepods.DeployCompleted, ""},
		{"failed deploy rolled back", podstest.BuildCrash, saveOf(app, "", spacepods.DeployRolledBack), spacepods.DeployRolledBack, "crash-looping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := podstest.Context(t, 5*time.Minute)
			flaky.arm(tc.trigger)
			t.Cleanup(flaky.up)
			d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: app, Build: tc.build})
			if err != nil {
				t.Fatal(err)
			}
			next := queueBehind(t, s, env, app, podstest.BuildNormal)

			// The outage starts; the worker keeps looking (a few failed
			// calls, with pauses between them).
			var since time.Time
			for deadline := time.Now().Add(3 * time.Minute); ; {
				down, at, failed := flaky.outage()
				if down && failed >= 5 {
					since = at
					break
				}
				if time.Now().After(deadline) {
					got, _ := s.Store.GetDeploy(ctx, d.ID)
					t.Fatalf("the outage did not start, or nothing retried (down %v, %d failed calls); deploy %s at %s", down, failed, got.Status, got.Step)
				}
				time.Sleep(20 * time.Millisecond)
			}
			before, err := s.Driver.ListServices(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			during, err := s.Driver.ListServices(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := serviceSet(before), serviceSet(during); a != b {
				t.Errorf("the runtime changed while the deploy's progress could not be recorded:\n  %s\n→ %s", a, b)
			}
			upAt := time.Now()
			flaky.up()

			got := waitStored(t, s, d.ID)
			if got.Status != tc.want || !strings.Contains(got.Error, tc.error) {
				t.Errorf("deploy ended %s with error %q; want %s with an error containing %q\n%s", got.Status, got.Error, tc.want, tc.error, describe(s, got))
			}
			if tc.build == podstest.BuildCrash && !strings.Contains(got.Output, "crash mode") {
				t.Errorf("the failed deploy's output was not kept through its recovery:\n%s", describe(s, got))
			}
			hookMu.Lock()
			for _, h := range hooks {
				if h.deploy == d.ID && h.when.After(since) && h.when.Before(upAt) {
					t.Errorf("step %s of deploy %d started while its progress could not be recorded", h.at, d.ID)
				}
			}
			hookMu.Unlock()

			// The deploy queued behind it was not stranded.
			n := waitStored(t, s, next.ID)
			wantStatus(t, s, n, spacepods.DeployCompleted)
			requireOnlyRelease(t, s, env, app, n.Release, 1)
			if status, body, err := s.Get(ctx, env, app, "/healthz"); err != nil || status != 200 {
				t.Errorf("%s in %s after the recovery: %d %v %s", app, env, status, err, body)
			}
		})
	}

	t.Run("queue lookups that fail are retried with backoff", func(t *testing.T) {
		ctx := podstest.Context(t, 3*time.Minute)
		flaky.mu.Lock()
		flaky.failQueue, flaky.queueFails = 4, nil
		flaky.mu.Unlock()
		d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: app, Build: podstest.BuildNormal2})
		if err != nil {
			t.Fatal(err)
		}
		d = waitStored(t, s, d.ID)
		wantStatus(t, s, d, spacepods.DeployCompleted)
		flaky.mu.Lock()
		fails := slices.Clone(flaky.queueFails)
		flaky.mu.Unlock()
		if len(fails) != 4 {
			t.Fatalf("%d failed queue lookups, want 4", len(fails))
		}
		for i := 1; i < len(fails); i++ {
			if gap, least := fails[i].Sub(fails[i-1]), 50*time.Millisecond<<(i-1); gap < least {
				t.Errorf("failed lookup %d came %s after the one before, want at least %s (doubling pauses)", i+1, gap, least)
			}
		}
	})
}

// serviceSet renders the services of an environment for comparison.
func serviceSet(svcs []runtime.ServiceStatus) string {
	out := make([]string, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, fmt.Sprintf("%s×%d", s.Name, s.Desired))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
