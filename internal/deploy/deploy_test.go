package deploy_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/runtime/drivertest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// submitAndWait queues a deploy and waits until it ends.
func submitAndWait(t *testing.T, s *podstest.Stack, req deploy.Request) spacepods.Deploy {
	t.Helper()
	ctx := podstest.Context(t, 3*time.Minute)
	d, err := s.Engine().Submit(ctx, req)
	if err != nil {
		t.Fatalf("submit %+v: %v", req, err)
	}
	return waitDeploy(t, s, d.ID)
}

func waitDeploy(t *testing.T, s *podstest.Stack, id int64) spacepods.Deploy {
	t.Helper()
	ctx := podstest.Context(t, 3*time.Minute)
	d, err := s.Engine().WaitDeploy(ctx, id)
	if err != nil {
		t.Fatalf("wait for deploy %d: %v (status %s, step %s)", id, err, d.Status, d.Step)
	}
	return d
}

// describe renders a deploy with its steps and events for failure messages.
func describe(s *podstest.Stack, d spacepods.Deploy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy %d of %s build %d to %s: %s at %s; error %q\n", d.ID, d.App, d.Build, d.Env, d.Status, d.Step, d.Error)
	for _, st := range d.Steps {
		fmt.Fprintf(&b, "  step %-16s %-8s %s\n", st.Name, st.Status, st.Detail)
	}
	evs, _ := s.Store.Events(context.Background(), d.Env, d.ID, 0, 1000)
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %-5s %s\n", e.At.Format("15:04:05.000"), e.Level, e.Line())
	}
	if d.Output != "" {
		fmt.Fprintf(&b, "  output:\n%s\n", d.Output)
	}
	return b.String()
}

// wantStatus fails the test unless d ended with status.
func wantStatus(t *testing.T, s *podstest.Stack, d spacepods.Deploy, status string) {
	t.Helper()
	if d.Status != status {
		t.Fatalf("deploy %d is %s, want %s\n%s", d.ID, d.Status, status, describe(s, d))
	}
}

// masterWithStorefront creates a master environment running the example
// system, storefront at replicas (a manifest variant: default replicas
// 4 as production has), and returns its name.
func masterWithStorefront(t *testing.T, s *podstest.Stack, replicas int) string {
	t.Helper()
	ctx := podstest.Context(t, 3*time.Minute)
	m, err := s.Manifest("storefront")
	if err != nil {
		t.Fatal(err)
	}
	variant := strings.Replace(m, "replicas: {default: 1,", fmt.Sprintf("replicas: {default: %d,", replicas), 1)
	if variant == m {
		t.Fatal("storefront manifest: no replicas line to change")
	}
	if _, err := s.Register(ctx, "storefront", variant); err != nil {
		t.Fatal(err)
	}
	env := s.EnvName("prod")
	if _, err := s.Pods.CreateMaster(ctx, env, false); err != nil {
		t.Fatalf("create master %s: %v", env, err)
	}
	var ids []int64
	for _, app := range []string{"pricing-api", "catalog-api", "storefront"} {
		d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: app, Build: podstest.BuildNormal})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	for _, id := range ids {
		wantStatus(t, s, waitDeploy(t, s, id), spacepods.DeployCompleted)
	}
	requireServes(t, s, env, podstest.BuildNormal)
	return env
}

// requireServes checks that storefront answers with products and runs build.
func requireServes(t *testing.T, s *podstest.Stack, env string, build int) {
	t.Helper()
	status, body, err := s.Get(podstest.Context(t, time.Minute), env, "storefront", "/")
	if err != nil || status != 200 || !strings.Contains(body, "Scout Pod") {
		t.Fatalf("storefront in %s: %d, %v\n%s", env, status, err, body)
	}
	if want := fmt.Sprintf(`id="spacepods-build">%d<`, build); !strings.Contains(body, want) {
		t.Fatalf("storefront in %s does not run build %d:\n%s", env, build, body)
	}
}

// requireOnlyRelease checks that the runtime has exactly one web service of
// app, of release, with replicas replicas: nothing orphaned.
func requireOnlyRelease(t *testing.T, s *podstest.Stack, env, app string, release, replicas int) {
	t.Helper()
	svcs, err := s.Driver.ListServices(podstest.Context(t, time.Minute), env)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, svc := range svcs {
		if svc.App == app {
			got = append(got, fmt.Sprintf("%s (release %d, %d desired, %d healthy)", svc.Name, svc.Release, svc.Desired, svc.Healthy))
		}
	}
	want := fmt.Sprintf("%s (release %d, %d desired, %d healthy)", deploy.ServiceName(app, release, ""), release, replicas, replicas)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("services of %s in %s: %v, want only %s", app, env, got, want)
	}
	ea, err := s.Store.GetEnvApp(context.Background(), env, app)
	if err != nil || ea.Release != release || ea.Status != "healthy" {
		t.Fatalf("%s in %s: %+v, %v; want release %d healthy", app, env, ea, err, release)
	}
}

// requireNoFailures stops the load and fails the test on any failed request.
func requireNoFailures(t *testing.T, l *podstest.Load, during string) podstest.LoadResult {
	t.Helper()
	r := l.Stop()
	t.Logf("load during %s: %s", during, r)
	if r.Failed > 0 || r.OK == 0 {
		t.Fatalf("during %s: %d of %d requests failed:\n  %s", during, r.Failed, r.OK+r.Failed, strings.Join(r.Failures, "\n  "))
	}
	return r
}

func startLoad(s *podstest.Stack, env string) *podstest.Load {
	return s.StartLoad(env, "storefront", podstest.LoadOptions{Workers: 3, Pause: 20 * time.Millisecond, MaxDuration: 4 * time.Minute})
}

func TestDeploy_ZeroDowntimeStagedRollout(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	env := masterWithStorefront(t, s, 4)
	if err := s.AddBuild(podstest.Context(t, time.Minute), "storefront", podstest.BuildNormal2, ""); err != nil {
		t.Fatal(err)
	}
	l := startLoad(s, env)
	d := submitAndWait(t, s, deploy.Request{Env: env, App: "storefront", Build: podstest.BuildNormal2})
	requireNoFailures(t, l, "the staged rollout")
	wantStatus(t, s, d, spacepods.DeployCompleted)

	evs, err := s.Engine().Events(podstest.Context(t, time.Minute), d.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, e := range evs {
		if strings.HasPrefix(e.Message, "stage ") && strings.Contains(e.Message, " replicas") && strings.Contains(e.Message, "new ") && strings.Contains(e.Message, ", old ") {
			stages = append(stages, e.Message)
		}
	}
	want := []string{"stage 1/3: new 1, old 3 of 4 replicas", "stage 2/3: new 2, old 2 of 4 replicas", "stage 3/3: new 4, old 0 of 4 replicas"}
	if !slices.Equal(stages, want) {
		t.Errorf("stages recorded: %q, want %q", stages, want)
	}
	if rs := d.Steps[4]; rs.Name != "rollout" || rs.Status != "done" || !strings.HasPrefix(rs.Detail, "3 stages") {
		t.Errorf("rollout step: %+v", rs)
	}
	requireServes(t, s, env, podstest.BuildNormal2)
	requireOnlyRelease(t, s, env, "storefront", d.Release, 4)
}

// TestDeploy_FailedBuildsRollBackWithoutDroppingTraffic deploys three bad
// builds under load: each is rolled back with its output kept, the old
// release keeps serving and no request fails. Which rule fails a crashing
// stage (the crash loop, or on a very loaded host the health timeout) is
// not the point here: TestDeploy_CrashLoopFailsTheStageBeforeTheHealthTimeout
// checks that.
func TestDeploy_FailedBuildsRollBackWithoutDroppingTraffic(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{Deploy: deploy.Options{HealthTimeout: 20 * time.Second}})
	env := masterWithStorefront(t, s, 4)
	ctx := podstest.Context(t, 3*time.Minute)
	for _, b := range []struct {
		app    string
		number int
		mode   string
	}{
		{"storefront", podstest.BuildCrash, "crash"},
		{"storefront", podstest.BuildUnhealthy, "unhealthy"},
		{"catalog-api", podstest.BuildBadMigrate, "badmigrate"},
	} {
		if err := s.AddBuild(ctx, b.app, b.number, b.mode); err != nil {
			t.Fatal(err)
		}
	}
	storefrontRelease := func() int {
		ea, err := s.Store.GetEnvApp(ctx, env, "storefront")
		if err != nil {
			t.Fatal(err)
		}
		return ea.Release
	}
	live := storefrontRelease()

	t.Run("crash on start", func(t *testing.T) {
		l := startLoad(s, env)
		d := submitAndWait(t, s, deploy.Request{Env: env, App: "storefront", Build: podstest.BuildCrash})
		requireNoFailures(t, l, "the crashing build's deploy")
		wantStatus(t, s, d, spacepods.DeployRolledBack)
		if d.Step != "rollout" || !strings.Contains(d.Output, "crash mode") {
			t.Errorf("deploy should fail at rollout, keeping the crash output:\n%s", describe(s, d))
		}
		requireServes(t, s, env, podstest.BuildNormal)
		requireOnlyRelease(t, s, env, "storefront", live, 4)
	})

	t.Run("unhealthy", func(t *testing.T) {
		l := startLoad(s, env)
		d := submitAndWait(t, s, deploy.Request{Env: env, App: "storefront", Build: podstest.BuildUnhealthy})
		requireNoFailures(t, l, "the unhealthy build's deploy")
		wantStatus(t, s, d, spacepods.DeployRolledBack)
		if d.Step != "rollout" || !strings.Contains(d.Output, "/healthz") || !strings.Contains(d.Output, "500") {
			t.Errorf("deploy should fail at rollout keeping the health check output:\n%s", describe(s, d))
		}
		requireServes(t, s, env, podstest.BuildNormal)
		requireOnlyRelease(t, s, env, "storefront", live, 4)
	})

	t.Run("bad migration", func(t *testing.T) {
		before, err := s.Store.GetEnvApp(ctx, env, "catalog-api")
		if err != nil {
			t.Fatal(err)
		}
		l := startLoad(s, env)
		d := submitAndWait(t, s, deploy.Request{Env: env, App: "catalog-api", Build: podstest.BuildBadMigrate})
		requireNoFailures(t, l, "the bad migration's deploy")
		wantStatus(t, s, d, spacepods.DeployRolledBack)
		if d.Step != "migrate" || !strings.Contains(d.Output, "migration 4") || !strings.Contains(d.Error, "no traffic was moved") {
			t.Errorf("deploy should fail at migrate keeping the migration output:\n%s", describe(s, d))
		}
		for _, st := range d.Steps[3:] {
			if st.Status != "pending" {
				t.Errorf("step %s ran after the failed migration: %+v", st.Name, st)
			}
		}
		requireServes(t, s, env, podstest.BuildNormal)
		svcs, err := s.Driver.ListServices(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range svcs {
			if svc.App == "catalog-api" && svc.Release != before.Release {
				t.Errorf("service %s (release %d) exists after the failed migration; only release %d should", svc.Name, svc.Release, before.Release)
			}
		}
	})
}

// TestDeploy_QueuesDeploysOfOneAppInOrder submits ten deploys of one app at
// once: they run one at a time, in the order of their IDs.
func TestDeploy_QueuesDeploysOfOneAppInOrder(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	ctx := podstest.Context(t, 4*time.Minute)
	env := s.EnvName("queue")
	if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: env, Apps: []string{"pricing-api"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitEnv(ctx, env, spacepods.StatusReady); err != nil {
		t.Fatal(err)
	}
	const n = 10
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal})
			if err != nil {
				t.Errorf("submit: %v", err)
			}
			ids[i] = d.ID
		})
	}
	wg.Wait()
	slices.Sort(ids)
	var prev spacepods.Deploy
	for i, id := range ids {
		d := waitDeploy(t, s, id)
		wantStatus(t, s, d, spacepods.DeployCompleted)
		if i > 0 {
			if d.StartedAt.Before(*prev.EndedAt) {
				t.Errorf("deploy %d started at %s, before deploy %d ended at %s", d.ID, d.StartedAt.Format(time.StampMicro), prev.ID, prev.EndedAt.Format(time.StampMicro))
			}
			if d.Release != prev.Release+1 || d.FromRelease != prev.Release {
				t.Errorf("deploy %d: release %d from %d; want %d from %d", d.ID, d.Release, d.FromRelease, prev.Release+1, prev.Release)
			}
		}
		prev = d
	}
	requireOnlyRelease(t, s, env, "pricing-api", prev.Release, 1)
}

// TestDeploy_RecoversFromAControlPlaneKillAtEveryStep kills the control
// plane (cancels the engine) as each step and stage of a deploy starts,
// then starts a fresh engine on the same store: the deploy is rolled back
// (or completed, once the new release was recorded live), nothing of it is
// left behind and no request fails meanwhile.
func TestDeploy_RecoversFromAControlPlaneKillAtEveryStep(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	env := masterWithStorefront(t, s, 4)
	if err := s.AddBuild(podstest.Context(t, time.Minute), "storefront", podstest.BuildNormal2, ""); err != nil {
		t.Fatal(err)
	}
	points := []string{"clear_stale", "register_release", "migrate", "create_service", "rollout",
		"rollout:stage2", "rollout:stage3", "rollout:record"}
	liveBuild := podstest.BuildNormal
	for _, at := range points {
		t.Run(at, func(t *testing.T) {
			ctx := podstest.Context(t, 3*time.Minute)
			ea, err := s.Store.GetEnvApp(ctx, env, "storefront")
			if err != nil {
				t.Fatal(err)
			}
			killed := make(chan struct{})
			var once sync.Once
			s.Engine().SetStepHook(func(_ context.Context, d *spacepods.Deploy, step string) {
				if d.App == "storefront" && step == at {
					once.Do(func() { s.KillEngine(); close(killed) })
				}
			})
			l := startLoad(s, env)
			d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: "storefront", Build: podstest.BuildNormal2})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-killed:
			case <-ctx.Done():
				t.Fatal("the deploy never reached " + at)
			}
			s.StopEngine()
			if got, _ := s.Store.GetDeploy(ctx, d.ID); got.Status != spacepods.DeployRunning || got.Step != strings.Split(at, ":")[0] {
				t.Fatalf("after the kill the deploy is %s at %s, want running at %s", got.Status, got.Step, at)
			}
			// The control plane is down for a moment; the router keeps serving.
			time.Sleep(500 * time.Millisecond)
			if _, err := s.StartEngine(); err != nil {
				t.Fatal(err)
			}
			d = waitDeploy(t, s, d.ID)
			requireNoFailures(t, l, "the kill at "+at+" and the recovery")
			wantStatus(t, s, d, spacepods.DeployRolledBack)
			if !strings.Contains(d.Error, "stopped during step") {
				t.Errorf("error %q should say the control plane stopped", d.Error)
			}
			requireServes(t, s, env, liveBuild)
			requireOnlyRelease(t, s, env, "storefront", ea.Release, 4)
		})
	}

	t.Run("after the release is recorded live", func(t *testing.T) {
		// Killed while removing the old release: recovery completes the deploy.
		ctx := podstest.Context(t, 3*time.Minute)
		killed := make(chan struct{})
		var once sync.Once
		s.Engine().SetStepHook(func(_ context.Context, d *spacepods.Deploy, step string) {
			if d.App == "storefront" && step == "rollout:remove_old" {
				once.Do(func() { s.KillEngine(); close(killed) })
			}
		})
		l := startLoad(s, env)
		d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: "storefront", Build: podstest.BuildNormal2})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-killed:
		case <-ctx.Done():
			t.Fatal("the deploy never recorded its release live")
		}
		s.StopEngine()
		if _, err := s.StartEngine(); err != nil {
			t.Fatal(err)
		}
		d = waitDeploy(t, s, d.ID)
		requireNoFailures(t, l, "the kill after going live and the recovery")
		wantStatus(t, s, d, spacepods.DeployCompleted)
		requireServes(t, s, env, podstest.BuildNormal2)
		requireOnlyRelease(t, s, env, "storefront", d.Release, 4)
	})
}

// TestDeploy_RollbackRedeploysAnEarlierReleaseExactly rolls back to the
// first release: a new release with the same artifact and config runs.
func TestDeploy_RollbackRedeploysAnEarlierReleaseExactly(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	ctx := podstest.Context(t, 3*time.Minute)
	env := s.EnvName("rb")
	if _, err := s.Pods.CreateMaster(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBuild(ctx, "pricing-api", podstest.BuildNormal2, ""); err != nil {
		t.Fatal(err)
	}
	d1 := submitAndWait(t, s, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal})
	wantStatus(t, s, d1, spacepods.DeployCompleted)
	d2 := submitAndWait(t, s, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal2})
	wantStatus(t, s, d2, spacepods.DeployCompleted)
	if got := buildOf(t, s, env, "pricing-api"); got != "2" {
		t.Fatalf("pricing-api runs build %s, want 2", got)
	}

	d3 := submitAndWait(t, s, deploy.Request{Env: env, App: "pricing-api", Rollback: d1.Release})
	wantStatus(t, s, d3, spacepods.DeployCompleted)
	if !d3.Rollback || d3.Build != podstest.BuildNormal || d3.FromRelease != d2.Release || d3.Release <= d2.Release {
		t.Errorf("rollback deploy: %+v", d3)
	}
	r1, err := s.Store.GetRelease(ctx, env, "pricing-api", d1.Release)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := s.Store.GetRelease(ctx, env, "pricing-api", d3.Release)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Image != r1.Image || r3.Build != r1.Build || r3.GitSHA != r1.GitSHA || fmt.Sprint(r3.Vars) != fmt.Sprint(r1.Vars) || !slices.Equal(r3.Command, r1.Command) {
		t.Errorf("release %d is not a copy of release %d:\n%+v\n%+v", r3.Number, r1.Number, r3, r1)
	}
	if got := buildOf(t, s, env, "pricing-api"); got != "1" {
		t.Errorf("after the rollback pricing-api runs build %s, want 1", got)
	}
	requireOnlyRelease(t, s, env, "pricing-api", d3.Release, 1)

	// A rollback to a release that does not exist is refused up front.
	if _, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: "pricing-api", Rollback: 99}); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("rollback to release 99: %v, want ENOTFOUND", err)
	}
}

// buildOf returns SPACEPODS_BUILD as app's /env reports it through the router.
func buildOf(t *testing.T, s *podstest.Stack, env, app string) string {
	t.Helper()
	status, body, err := s.Get(podstest.Context(t, time.Minute), env, app, "/env")
	if err != nil || status != 200 {
		t.Fatalf("GET %s /env: %d, %v\n%s", app, status, err, body)
	}
	_, rest, ok := strings.Cut(body, `"SPACEPODS_BUILD": "`)
	if !ok {
		t.Fatalf("no SPACEPODS_BUILD in /env:\n%s", body)
	}
	b, _, _ := strings.Cut(rest, `"`)
	return b
}

// TestDeploy_DependenciesAreCalledOnlyOnAdmittedReplicas rolls out a build
// of pricing-api (a dependency of catalog-api, itself storefront's) whose
// health check never passes, under constant load on storefront. Apps call
// their dependencies through the router's internal listener, so the new
// replica, never admitted, gets none of catalog-api's calls (by network
// alias it would get about half): its log, kept on the rolled-back deploy,
// shows no request. Meanwhile the old replica serves them all, through the
// router, and no storefront request fails.
func TestDeploy_DependenciesAreCalledOnlyOnAdmittedReplicas(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{Deploy: deploy.Options{HealthTimeout: 8 * time.Second}})
	env := masterWithStorefront(t, s, 2)
	ctx := podstest.Context(t, 3*time.Minute)
	if err := s.AddBuild(ctx, "pricing-api", podstest.BuildUnhealthy, "unhealthy"); err != nil {
		t.Fatal(err)
	}
	before, err := s.RouterClient.Stats(ctx, env, "pricing-api")
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(s, env)
	d := submitAndWait(t, s, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildUnhealthy})
	requireNoFailures(t, l, "the unhealthy dependency's deploy")
	wantStatus(t, s, d, spacepods.DeployRolledBack)
	if !strings.Contains(d.Output, "unhealthy") {
		t.Fatalf("the rolled-back deploy does not keep the new replica's output:\n%s", describe(s, d))
	}
	if strings.Contains(d.Output, `"path":"/prices"`) {
		t.Errorf("the never-admitted replica was called by catalog-api:\n%s", d.Output)
	}
	after, err := s.RouterClient.Stats(ctx, env, "pricing-api")
	if err != nil {
		t.Fatal(err)
	}
	var n0, n1 uint64
	for _, tg := range before.Targets {
		n0 += tg.Requests
	}
	for _, tg := range after.Targets {
		n1 += tg.Requests
	}
	if n1 <= n0 {
		t.Errorf("the router's pricing-api targets served %d requests during the deploy, want catalog-api's calls", n1-n0)
	}
	t.Logf("pricing-api served %d calls through the router during the deploy", n1-n0)
}

// TestDeploy_CrashLoopFailsTheStageBeforeTheHealthTimeout deploys a build
// whose process exits at start, with a health timeout far longer than the
// test: the stage fails on the crash loop (a replica that exited twice and
// was never healthy), however slowly a loaded host restarts it, keeps the
// crash output, and the old release keeps serving. The older rule (5
// restarts) is off here, so only the new one can fail the stage in time.
func TestDeploy_CrashLoopFailsTheStageBeforeTheHealthTimeout(t *testing.T) {
	t.Parallel()
	const healthTimeout = 10 * time.Minute
	s := podstest.Start(t, podstest.Config{Deploy: deploy.Options{HealthTimeout: healthTimeout, CrashRestarts: -1}})
	ctx := podstest.Context(t, 4*time.Minute)
	env := s.EnvName("crashloop")
	if _, err := s.Pods.CreateMaster(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	d1 := submitAndWait(t, s, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal})
	wantStatus(t, s, d1, spacepods.DeployCompleted)
	if err := s.AddBuild(ctx, "pricing-api", podstest.BuildCrash, "crash"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d := submitAndWait(t, s, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildCrash})
	took := time.Since(start)
	wantStatus(t, s, d, spacepods.DeployRolledBack)
	if d.Step != "rollout" || !strings.Contains(d.Error, "crash-looping") || !strings.Contains(d.Error, "never healthy") || !strings.Contains(d.Output, "crash mode") {
		t.Errorf("the deploy should fail at rollout on the crash loop, keeping the crash output:\n%s", describe(s, d))
	}
	if took >= healthTimeout/2 {
		t.Errorf("the crash loop took %s to fail the deploy (health timeout %s)", took, healthTimeout)
	}
	t.Logf("the crashing build was rolled back after %s", took.Round(time.Millisecond))
	requireOnlyRelease(t, s, env, "pricing-api", d1.Release, 1)
}

// testAppImage builds the conformance suite's testapp into an image FROM
// scratch with ENTRYPOINT ["/app"] and no CMD, and returns its reference.
func testAppImage(t *testing.T, s *podstest.Stack) string {
	t.Helper()
	ref, err := s.Driver.EnsureScratchImage(podstest.Context(t, 2*time.Minute), "spacepods-test/testapp", drivertest.TestAppBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestDeploy_EntrypointImageRunsCommandsAsGivenAndAHungMigrationTimesOut
// deploys an app whose image has an ENTRYPOINT (/app): its migrate command
// runs as given (not after the ENTRYPOINT, which would start the web
// server, which never ends), its args follow the ENTRYPOINT. Then a build
// whose migration hangs: with migrate_timeout 3s the migration is killed,
// the deploy fails naming the timeout with the migration's output kept,
// its progress was reported live meanwhile, and the old release serves.
func TestDeploy_EntrypointImageRunsCommandsAsGivenAndAHungMigrationTimesOut(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{Deploy: deploy.Options{TaskProgress: 500 * time.Millisecond}})
	ctx := podstest.Context(t, 4*time.Minute)
	image := testAppImage(t, s)
	const app = "entrypoint-api"
	manifest := func(migrate, timeout string) string {
		return "name: " + app + "\nrepo: acme/entrypoint-api\nkind: web\nport: 8080\nhealth: /healthz\n" +
			"args: [\"serving-with-args\"]\nmigrate: " + migrate + "\nmigrate_timeout: " + timeout + "\n"
	}
	record := func(number int) {
		t.Helper()
		if _, err := s.Catalog.RecordBuild(ctx, spacepods.Build{App: app, Number: number, GitSHA: s.SHA, Branch: spacepods.DefaultBranch, Image: image}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Catalog.Register(ctx, []byte(manifest(`["/app", "task", "-say=migrated as given"]`, "1m")), ""); err != nil {
		t.Fatal(err)
	}
	record(1)
	env := s.EnvName("entry")
	if _, err := s.Pods.CreateMaster(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	d1 := submitAndWait(t, s, deploy.Request{Env: env, App: app, Build: 1})
	wantStatus(t, s, d1, spacepods.DeployCompleted)
	if st := d1.Steps[2]; st.Name != "migrate" || st.Status != "done" {
		t.Errorf("migrate step: %+v\n%s", st, describe(s, d1))
	}
	status, body, err := s.Get(ctx, env, app, "/args")
	if err != nil || status != 200 || strings.TrimSpace(body) != `["/app","serving-with-args"]` {
		t.Errorf("GET /args through the router = %d %q (%v), want the ENTRYPOINT followed by the manifest's args", status, body, err)
	}

	if _, _, err := s.Catalog.Register(ctx, []byte(manifest(`["/app", "task", "-say=migrating forever", "-sleep=1h"]`, "3s")), ""); err != nil {
		t.Fatal(err)
	}
	record(2)
	start := time.Now()
	d := submitAndWait(t, s, deploy.Request{Env: env, App: app, Build: 2})
	wantStatus(t, s, d, spacepods.DeployRolledBack)
	if took := time.Since(start); took > 2*time.Minute {
		t.Errorf("the hung migration took %s to fail the deploy, with a 3s timeout", took)
	}
	if d.Step != "migrate" || !strings.Contains(d.Error, "timeout of 3s") || !strings.Contains(d.Error, "migrate_timeout") ||
		!strings.Contains(d.Output, "migrating forever") {
		t.Errorf("the deploy should fail at migrate naming the timeout, with the migration's output kept:\n%s", describe(s, d))
	}
	evs, err := s.Store.Events(ctx, env, d.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	live := false
	for _, e := range evs {
		live = live || strings.HasPrefix(e.Message, "migrate running 0:0") && strings.Contains(e.Output, "migrating forever")
	}
	if !live {
		t.Errorf("no progress event showed the running migration's output:\n%s", describe(s, d))
	}
	if status, _, err := s.Get(ctx, env, app, "/healthz"); err != nil || status != 200 {
		t.Errorf("%s after the failed migration: %d %v", app, status, err)
	}
	requireOnlyRelease(t, s, env, app, d1.Release, 1)
}
