package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// notes records what the pipeline notifies, one line per event.
type notes struct {
	mu    sync.Mutex
	lines []string
}

func (n *notes) add(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, fmt.Sprintf(format, args...))
}

func (n *notes) ApprovalNeeded(_ context.Context, r spacepods.PipelineRun, stage int) {
	n.add("approval run=%d build=%d env=%s", r.ID, r.Build, r.Stages[stage].Env)
}

func (n *notes) StageFailed(_ context.Context, r spacepods.PipelineRun, stage int) {
	n.add("failed run=%d build=%d env=%s", r.ID, r.Build, r.Stages[stage].Env)
}

func (n *notes) StagePassed(_ context.Context, r spacepods.PipelineRun, stage int) {
	n.add("passed run=%d build=%d env=%s deploy=%d", r.ID, r.Build, r.Stages[stage].Env, r.Stages[stage].DeployID)
}

func (n *notes) RunEnded(_ context.Context, r spacepods.PipelineRun) {
	n.add("%s run=%d build=%d", r.Status, r.ID, r.Build)
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.lines)
}

// rig is a real control plane (Docker, PostgreSQL, the edge router) with
// three master environments, pricing-api deployed in each, the Gatekeeper
// runner and the pipeline service.
type rig struct {
	t     *testing.T
	s     *podstest.Stack
	p     *pipeline.Service
	tests *gatekeeper.Service
	stop  context.CancelFunc
	n     *notes
	envs  []string // qa, staging, production
	clean string   // catalog-api's manifest with the pipeline
}

func start(t *testing.T) *rig {
	s := podstest.Start(t, podstest.Config{})
	ctx := podstest.Context(t, 5*time.Minute)
	r := &rig{t: t, s: s, n: &notes{}}
	for _, prefix := range []string{"qa", "stg", "prd"} {
		env := s.EnvName(prefix)
		if _, err := s.Pods.CreateMaster(ctx, env, false); err != nil {
			t.Fatalf("create master %s: %v", env, err)
		}
		d, err := s.Engine().Deploy(ctx, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal})
		if err != nil {
			t.Fatal(err)
		}
		if d, err = s.Engine().WaitDeploy(ctx, d.ID); err != nil || d.Status != spacepods.DeployCompleted {
			t.Fatalf("deploy pricing-api to %s: %v %s %s", env, err, d.Status, d.Error)
		}
		r.envs = append(r.envs, env)
	}
	r.startPipeline()
	t.Cleanup(r.stopPipeline)
	m, err := s.Manifest("catalog-api")
	if err != nil {
		t.Fatal(err)
	}
	r.clean = m + fmt.Sprintf("pipeline:\n  - {env: %s}\n  - {env: %s}\n  - {env: %s, approval: true}\n", r.envs[0], r.envs[1], r.envs[2])
	return r
}

// startPipeline starts the Gatekeeper runner and the pipeline service on
// the stack's current engine, as a (re)started control plane does.
func (r *rig) startPipeline() {
	r.t.Helper()
	s := r.s
	base, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.tests = &gatekeeper.Service{Store: s.Store, Catalog: s.Catalog, Driver: s.Driver, Endpoints: s.Engine(), Logger: s.Logger.With("component", "gatekeeper")}
	if err := r.tests.Start(base); err != nil {
		r.t.Fatal(err)
	}
	r.p = &pipeline.Service{Store: s.Store, Catalog: s.Catalog, Deploys: s.Engine(), Tests: r.tests, Notifier: r.n, Poll: 200 * time.Millisecond, Logger: s.Logger.With("component", "pipeline")}
	if err := r.p.Start(base); err != nil {
		r.t.Fatal(err)
	}
}

// stopPipeline stops the pipeline and the test runner, as if the control
// plane died: their contexts end wherever they are.
func (r *rig) stopPipeline() {
	r.stop()
	r.p.Wait()
	r.tests.Wait()
}

// restart stops the pipeline, the tests and the deploy engine where they
// are and starts them again on the same store.
func (r *rig) restart() {
	r.t.Helper()
	r.s.KillEngine() // first: a deploy under way stops where it is
	r.stopPipeline()
	r.s.StopEngine()
	if _, err := r.s.StartEngine(); err != nil {
		r.t.Fatal(err)
	}
	r.startPipeline()
}

// deploys returns the deploys of build of catalog-api to env, oldest first.
func (r *rig) deploys(env string, build int) []spacepods.Deploy {
	r.t.Helper()
	ds, err := r.s.Store.ListDeploys(context.Background(), env, "catalog-api", 100)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []spacepods.Deploy
	for _, d := range slices.Backward(ds) {
		if d.Build == build {
			out = append(out, d)
		}
	}
	return out
}

// register registers catalog-api's manifest (with the pipeline).
func (r *rig) register(manifest string) {
	r.t.Helper()
	if _, err := r.s.Register(podstest.Context(r.t, time.Minute), "catalog-api", manifest); err != nil {
		r.t.Fatal(err)
	}
}

// record records build n of catalog-api on main (the example image).
func (r *rig) record(n int) {
	r.t.Helper()
	if _, err := r.s.Catalog.RecordBuild(context.Background(), spacepods.Build{App: "catalog-api", Number: n, GitSHA: r.s.SHA, Branch: "main", Image: podstest.Image("catalog-api", podstest.BuildNormal)}); err != nil {
		r.t.Fatal(err)
	}
}

// runOf waits until build's run exists and returns it.
func (r *rig) runOf(build int) spacepods.PipelineRun {
	r.t.Helper()
	return r.wait(fmt.Sprintf("a run of build %d", build), func(runs []spacepods.PipelineRun) (spacepods.PipelineRun, bool) {
		for _, run := range runs {
			if run.Build == build {
				return run, true
			}
		}
		return spacepods.PipelineRun{}, false
	})
}

// waitStatus waits until run id has status (and, when stage >= 0, is at
// that stage).
func (r *rig) waitStatus(id int64, status string, stage int) spacepods.PipelineRun {
	r.t.Helper()
	return r.wait(fmt.Sprintf("run %d %s at stage %d", id, status, stage), func(runs []spacepods.PipelineRun) (spacepods.PipelineRun, bool) {
		for _, run := range runs {
			if run.ID == id {
				return run, run.Status == status && (stage < 0 || run.Stage == stage)
			}
		}
		return spacepods.PipelineRun{}, false
	})
}

func (r *rig) wait(what string, ok func([]spacepods.PipelineRun) (spacepods.PipelineRun, bool)) spacepods.PipelineRun {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		runs, err := r.s.Store.ListPipelineRuns(context.Background(), "catalog-api", 100)
		if err != nil {
			r.t.Fatal(err)
		}
		if run, done := ok(runs); done {
			return run
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s after 5m; runs:\n%s", what, r.describe(runs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *rig) describe(runs []spacepods.PipelineRun) string {
	var b strings.Builder
	for _, run := range runs {
		fmt.Fprintf(&b, "  run %d build %d %s stage %d error %q\n", run.ID, run.Build, run.Status, run.Stage, run.Error)
		for _, st := range run.Stages {
			fmt.Fprintf(&b, "    %s %s deploy %d tests %v rollback %d tries %d/%d %q\n", st.Env, st.Status, st.DeployID, st.TestRuns, st.RollbackDeployID, st.Tries, st.TestTries, st.Error)
		}
	}
	return b.String()
}

// build returns the build of catalog-api running in env.
func (r *rig) build(env string) int {
	r.t.Helper()
	ea, err := r.s.Store.GetEnvApp(context.Background(), env, "catalog-api")
	if err != nil {
		r.t.Fatalf("catalog-api in %s: %v", env, err)
	}
	return ea.Build
}

func as(role string) context.Context {
	return spacepods.WithActor(context.Background(), &spacepods.Token{Name: "carol", Role: role})
}

// TestPipeline: builds on main move qa → staging → production on the
// Docker runtime with the example apps and their test images.
func TestPipeline(t *testing.T) {
	r := start(t)
	qa, stg, prd := r.envs[0], r.envs[1], r.envs[2]

	t.Run("a good build reaches the gate, is approved and completes", func(t *testing.T) {
		r.t = t
		// Build 1 is on main already: giving the app a pipeline starts its run.
		r.register(r.clean)
		run := r.runOf(podstest.BuildNormal)
		run = r.waitStatus(run.ID, spacepods.RunWaiting, 2)
		for i, env := range []string{qa, stg} {
			st := run.Stages[i]
			if st.Status != spacepods.StagePassed || st.DeployID == 0 || len(st.TestRuns) != 1 || st.Tries != 1 || st.TestTries != 1 {
				t.Fatalf("stage %s: %+v", env, st)
			}
			tr, err := r.s.Store.GetTestRun(context.Background(), st.TestRuns[0])
			if err != nil || tr.Status != spacepods.TestPassed || tr.Env != env || tr.Build != podstest.BuildNormal {
				t.Fatalf("test run of %s: %+v %v", env, tr, err)
			}
			if b := r.build(env); b != podstest.BuildNormal {
				t.Fatalf("%s runs build %d", env, b)
			}
		}
		if st := run.Stages[2]; st.Status != spacepods.StageWaiting || st.DeployID != 0 || st.WaitingSince == nil {
			t.Fatalf("gate: %+v", run.Stages[2])
		}
		if _, err := r.s.Store.GetEnvApp(context.Background(), prd, "catalog-api"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("production got catalog-api before the approval: %v", err)
		}
		if _, err := r.p.Decide(as(spacepods.RoleViewer), run.ID, true, ""); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
			t.Fatalf("a viewer approved: %v", err)
		}
		if _, err := r.p.Decide(as(spacepods.RoleDeveloper), run.ID, true, "ship it"); err != nil {
			t.Fatal(err)
		}
		run = r.waitStatus(run.ID, spacepods.RunCompleted, 2)
		if st := run.Stages[2]; st.Status != spacepods.StagePassed || st.DecidedBy != "carol" || st.DecidedAt == nil || !st.Approved {
			t.Fatalf("production stage: %+v", st)
		}
		if b := r.build(prd); b != podstest.BuildNormal {
			t.Fatalf("production runs build %d", b)
		}
		audit, err := r.s.Store.ListAudit(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range audit {
			found = found || (a.Action == "pipeline.approve" && a.Actor == "carol" && a.Details == "ship it")
		}
		if !found {
			t.Fatalf("no audit entry of carol's approval: %+v", audit)
		}
		// Each stage's deploy is told once it passed (the server sends
		// its release notes), the last one before the run's end.
		passed := func(i int) string {
			return fmt.Sprintf("passed run=%d build=1 env=%s deploy=%d", run.ID, run.Stages[i].Env, run.Stages[i].DeployID)
		}
		want := []string{passed(0), passed(1), fmt.Sprintf("approval run=%d build=1 env=%s", run.ID, prd), passed(2), fmt.Sprintf("completed run=%d build=1", run.ID)}
		if got := r.n.all(); !slices.Equal(got, want) {
			t.Fatalf("notified %q, want %q", got, want)
		}
	})

	t.Run("failing tests at qa stop the run there; production keeps the old build", func(t *testing.T) {
		r.t = t
		failing := strings.Replace(r.clean, `command: ["/app", "selftest"]}`, `command: ["/app", "selftest"], args: ["-timeout", "2s", "-min-products", "100000"]}`, 1)
		if failing == r.clean {
			t.Fatal("catalog-api manifest: no tests line to change")
		}
		r.register(failing)
		r.record(2)
		run := r.waitStatus(r.runOf(2).ID, spacepods.RunFailed, 0)
		qaStage := run.Stages[0]
		if qaStage.Status != spacepods.StageFailed || !strings.Contains(qaStage.Error, "tests 1 of 1 failed: catalog-api (exit 1)") || qaStage.RollbackDeployID == 0 {
			t.Fatalf("qa stage: %+v", qaStage)
		}
		if run.Stages[1].Status != spacepods.StageSkipped || run.Stages[2].Status != spacepods.StageSkipped {
			t.Fatalf("later stages: %+v", run.Stages)
		}
		log, err := r.s.Store.TestRunLog(context.Background(), qaStage.TestRuns[0])
		if err != nil || !strings.Contains(log, "want at least 100000") {
			t.Fatalf("the failing test log is not kept: %v\n%s", err, log)
		}
		rb, err := r.s.Engine().WaitDeploy(podstest.Context(t, 3*time.Minute), qaStage.RollbackDeployID)
		if err != nil || rb.Status != spacepods.DeployCompleted || !rb.Rollback {
			t.Fatalf("rollback of qa: %v %+v", err, rb)
		}
		for env, want := range map[string]int{qa: 1, stg: 1, prd: 1} {
			if b := r.build(env); b != want {
				t.Fatalf("%s runs build %d, want %d", env, b, want)
			}
		}
		if got := r.n.all(); got[len(got)-1] != fmt.Sprintf("failed run=%d build=2 env=%s", run.ID, qa) {
			t.Fatalf("notified %q", got)
		}
	})

	t.Run("a newer build supersedes a run waiting at the gate", func(t *testing.T) {
		r.t = t
		r.register(r.clean)
		r.record(3)
		old := r.waitStatus(r.runOf(3).ID, spacepods.RunWaiting, 2)
		r.record(4)
		old = r.waitStatus(old.ID, spacepods.RunSuperseded, 2)
		if old.Stages[2].Status != spacepods.StageSkipped || !strings.Contains(old.Error, "superseded by run") {
			t.Fatalf("superseded run: %+v", old)
		}
		run := r.waitStatus(r.runOf(4).ID, spacepods.RunWaiting, 2)
		if b := r.build(stg); b != 4 {
			t.Fatalf("staging runs build %d, want 4", b)
		}
		if _, err := r.p.Decide(as(spacepods.RoleDeveloper), run.ID, false, "not on a Friday"); err != nil {
			t.Fatal(err)
		}
		run = r.waitStatus(run.ID, spacepods.RunRejected, 2)
		if st := run.Stages[2]; st.Status != spacepods.StageRejected || st.DecidedBy != "carol" || !strings.Contains(run.Error, "carol rejected entering "+prd+": not on a Friday") {
			t.Fatalf("rejected run: %+v", run)
		}
		if b := r.build(prd); b != 1 {
			t.Fatalf("production runs build %d, want 1", b)
		}
		if _, err := r.p.Decide(as(spacepods.RoleDeveloper), run.ID, true, ""); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("approved a rejected run: %v", err)
		}
	})

	t.Run("a restart while deploying to staging and at the gate resumes; nothing runs twice", func(t *testing.T) {
		r.t = t
		r.record(5)
		run := r.runOf(5)
		// Stop the control plane as soon as staging deploys.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			got, err := r.p.Run(context.Background(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Stage == 1 && got.Stages[1].DeployID != 0 {
				break
			}
			if got.Done() || time.Now().After(deadline) {
				t.Fatalf("run never deployed to staging:\n%s", r.describe([]spacepods.PipelineRun{got}))
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.restart()
		run = r.waitStatus(run.ID, spacepods.RunWaiting, 2)
		if st := run.Stages[0]; st.Tries != 1 || st.TestTries != 1 || len(r.deploys(qa, 5)) != 1 {
			t.Fatalf("qa ran again after the restart: %+v, deploys %+v", st, r.deploys(qa, 5))
		}
		ds := r.deploys(stg, 5)
		switch st := run.Stages[1]; {
		case st.Tries == 1 && len(ds) == 1 && ds[0].Status == spacepods.DeployCompleted:
			t.Log("staging's deploy ended before the restart took effect")
		case st.Tries == 2 && len(ds) == 2 && deploy.StoppedByRestart(ds[0]) && ds[1].Status == spacepods.DeployCompleted && st.DeployID == ds[1].ID:
			t.Log("staging's deploy was rolled back by the restart and deployed again")
		default:
			t.Fatalf("staging after the restart: %+v\ndeploys: %+v", st, ds)
		}
		if b := r.build(stg); b != 5 {
			t.Fatalf("staging runs build %d", b)
		}

		// Stop it again while it waits at the gate.
		r.restart()
		time.Sleep(time.Second) // the new process looks at the run
		again, err := r.p.Run(context.Background(), run.ID)
		if err != nil || again.Status != spacepods.RunWaiting || !again.Stages[2].WaitingSince.Equal(*run.Stages[2].WaitingSince) {
			t.Fatalf("after the restart at the gate: %+v %v", again, err)
		}
		if _, err := r.p.Decide(as(spacepods.RoleDeveloper), run.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		run = r.waitStatus(run.ID, spacepods.RunCompleted, 2)
		if len(r.deploys(prd, 5)) != 1 || r.build(prd) != 5 || run.Stages[2].Tries != 1 {
			t.Fatalf("production: %+v, deploys %+v", run.Stages[2], r.deploys(prd, 5))
		}
		approvals := 0
		for _, l := range r.n.all() {
			if strings.HasPrefix(l, fmt.Sprintf("approval run=%d ", run.ID)) {
				approvals++
			}
		}
		if approvals != 1 {
			t.Fatalf("asked for approval %d times: %q", approvals, r.n.all())
		}

		// A build recorded while no control plane runs starts its run
		// when one starts again.
		r.stopPipeline()
		r.record(6)
		r.startPipeline()
		late := r.waitStatus(r.runOf(6).ID, spacepods.RunWaiting, 2)
		if late.Cause != "build" {
			t.Fatalf("run of build 6: %+v", late)
		}
		if _, err := r.p.Decide(as(spacepods.RoleDeveloper), late.ID, false, ""); err != nil {
			t.Fatal(err)
		}
		r.waitStatus(late.ID, spacepods.RunRejected, 2)
	})
}
