// Package gatekeeper runs apps' integration-test suites (the manifest's
// tests:) against a live environment: as a one-off runtime task on the
// environment's network, with the URLs of every app of the environment
// (<APP>_URL, the names the apps themselves get) and SPACEPODS_* in its env.
// Each run is stored with its exit code, duration, last lines and whole
// output. It is environment-generic: pull request pods (internal/previews)
// and master environments (the pipeline) use it alike.
package gatekeeper

import (
	"context"

	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Endpoints gives a task the URLs of an environment's apps and the host
// names they resolve to (deploy.Engine implements it).
type Endpoints interface {
	TaskEndpoints(env string, apps []spacepods.App) (vars, hosts map[string]string)
}

// Service runs and records test runs.
type Service struct {
	Store     *store.Store
	Catalog   *catalog.Service
	Driver    runtime.Driver
	Endpoints Endpoints
	Logger    *slog.Logger
	// Notifier is told when a run passes or fails; nil: nobody is.
	Notifier spacepods.Notifier

	mu   sync.Mutex
	base context.Context
	wg   sync.WaitGroup
}

// Start marks runs left running by a previous process as errors (their task
// died with it: the Docker driver removes a task's container when its call
// ends) and makes background runs live until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	runs, err := s.Store.RunningTestRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		r.Status, r.Error = spacepods.TestError, restartedPrefix+": run them again (`spacepods pod test "+r.Env+" --app "+r.App+"`)"
		if _, err := s.Store.FinishTestRun(ctx, r, ""); err != nil {
			return fmt.Errorf("mark test run %d ended: %w", r.ID, err)
		}
	}
	return nil
}

// restartedPrefix starts the error of a run cut short by a restart.
const restartedPrefix = "the control plane restarted while the tests ran"

// StoppedByRestart reports whether r ended only because the control plane
// stopped while it ran: whoever asked for it may run it again.
func StoppedByRestart(r spacepods.TestRun) bool {
	return r.Status == spacepods.TestError && strings.HasPrefix(r.Error, restartedPrefix)
}

// Wait blocks until background runs have ended.
func (s *Service) Wait() { s.wg.Wait() }

// Suites returns the apps of env whose suites run when app changed: app
// itself and the apps of env that depend on it, directly or not, each when
// it declares tests:. With app "" every app of env that declares tests.
// EINVALID when none does.
func (s *Service) Suites(ctx context.Context, env, app string) ([]spacepods.App, error) {
	eas, err := s.Store.EnvApps(ctx, env)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for _, ea := range eas {
		in[ea.App] = true
	}
	if app != "" && !in[app] {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "%s does not run %s: see `spacepods pod show %s`", env, app, env)
	}
	picked := map[string]bool{}
	if app == "" {
		picked = in
	} else {
		g, err := s.Catalog.Graph(ctx)
		if err != nil {
			return nil, err
		}
		queue := []string{app}
		picked[app] = true
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, d := range g.Dependents(n) {
				if in[d] && !picked[d] {
					picked[d] = true
					queue = append(queue, d)
				}
			}
		}
	}
	var out []spacepods.App
	for _, ea := range eas {
		if !picked[ea.App] {
			continue
		}
		a, err := s.Catalog.Get(ctx, ea.App)
		if err != nil {
			return nil, err
		}
		if a.Tests != nil {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		what := "no app of " + env
		if app != "" {
			what = app + " and the apps of " + env + " that depend on it"
		}
		return nil, spacepods.Errorf(spacepods.EINVALID, "%s declare no tests: add tests: {image: ..., command: [...]} to the app's manifest (see docs/manifest.md)", what)
	}
	return out, nil
}

// Begin records one run per suite (see Suites) and runs them in the
// background, side by side; it returns the runs at once (status running).
// The environment must be ready: tests run against healthy apps only.
func (s *Service) Begin(ctx context.Context, env, app, trigger string) ([]spacepods.TestRun, error) {
	e, err := s.Store.GetEnvironment(ctx, env)
	if err != nil {
		return nil, err
	}
	if e.Protected && !spacepods.ActorIsAdmin(ctx) {
		return nil, spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: only admins run tests there (their output may carry its data); ask an admin", env)
	}
	if e.Status != spacepods.StatusReady {
		return nil, spacepods.Errorf(spacepods.ECONFLICT, "%s is %s: tests run once every app is healthy (status ready); see `spacepods pod show %s`", env, e.Status, env)
	}
	suites, err := s.Suites(ctx, env, app)
	if err != nil {
		return nil, err
	}
	all, err := s.envApps(ctx, env)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	base := s.base
	s.mu.Unlock()
	if base == nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the test runner is not started")
	}
	if trigger == "" {
		trigger = "manual"
	}
	runs := make([]spacepods.TestRun, 0, len(suites))
	for _, a := range suites {
		r := spacepods.TestRun{Env: env, App: a.Name, Image: a.Tests.Image, Trigger: trigger}
		if ea, err := s.Store.GetEnvApp(ctx, env, a.Name); err == nil {
			r.Build = ea.Build
			if b, err := s.Catalog.Build(ctx, a.Name, ea.Build); err == nil {
				r.GitSHA = b.GitSHA
			}
		}
		r, err := s.Store.AddTestRun(ctx, r)
		if err != nil {
			return runs, err
		}
		runs = append(runs, r)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.execute(spacepods.WithActor(base, spacepods.ActorFrom(ctx)), r, a, all)
		}()
	}
	return runs, nil
}

// Run is Begin, then waits until every run has ended.
func (s *Service) Run(ctx context.Context, env, app, trigger string) ([]spacepods.TestRun, error) {
	runs, err := s.Begin(ctx, env, app, trigger)
	if err != nil {
		return runs, err
	}
	return s.WaitRuns(ctx, runs)
}

// WaitRuns polls until every run has ended or ctx ends.
func (s *Service) WaitRuns(ctx context.Context, runs []spacepods.TestRun) ([]spacepods.TestRun, error) {
	out := slices.Clone(runs)
	pause := 50 * time.Millisecond
	for {
		done := true
		for i := range out {
			if out[i].Done() {
				continue
			}
			r, err := s.Store.GetTestRun(ctx, out[i].ID)
			if err != nil {
				return out, err
			}
			out[i] = r
			done = done && r.Done()
		}
		if done {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(pause):
			pause = min(pause*2, 500*time.Millisecond)
		}
	}
}

func (s *Service) envApps(ctx context.Context, env string) ([]spacepods.App, error) {
	eas, err := s.Store.EnvApps(ctx, env)
	if err != nil {
		return nil, err
	}
	apps := make([]spacepods.App, 0, len(eas))
	for _, ea := range eas {
		a, err := s.Catalog.Get(ctx, ea.App)
		if err != nil {
			return nil, err
		}
		apps = append(apps, a)
	}
	return apps, nil
}

// TaskSpec is the runtime task of run r of app's suite in an environment
// running apps: the suite's image and command, the apps' URLs and the
// standard SPACEPODS_* vars (of app at the run's build). No secret and no
// custom config: a test suite is a client of the environment.
func (s *Service) TaskSpec(r spacepods.TestRun, app spacepods.App, apps []spacepods.App) (runtime.TaskSpec, error) {
	timeout, err := spacepods.TaskTimeout(app.Tests.Timeout)
	if err != nil {
		return runtime.TaskSpec{}, spacepods.Errorf(spacepods.EINVALID, "%s tests.timeout: %v", app.Name, err)
	}
	vars, hosts := s.Endpoints.TaskEndpoints(r.Env, apps)
	vars["SPACEPODS_ENV"] = r.Env
	vars["SPACEPODS_APP"] = app.Name
	vars["SPACEPODS_BUILD"] = strconv.Itoa(r.Build)
	vars["SPACEPODS_GIT_SHA"] = r.GitSHA
	vars["SPACEPODS_TEST_RUN"] = strconv.FormatInt(r.ID, 10)
	return runtime.TaskSpec{
		Name: fmt.Sprintf("%s-tests-%d", app.Name, r.ID), Environment: r.Env, App: app.Name, Image: app.Tests.Image,
		Command: app.Tests.Command, Args: app.Tests.Args, Env: vars, Hosts: hosts, Timeout: timeout,
		Labels: map[string]string{"spacepods.test-run": strconv.FormatInt(r.ID, 10)},
	}, nil
}

func (s *Service) execute(ctx context.Context, r spacepods.TestRun, app spacepods.App, apps []spacepods.App) {
	out := &capped{max: spacepods.MaxTestLog}
	spec, err := s.TaskSpec(r, app, apps)
	var res runtime.TaskResult
	start := time.Now()
	if err == nil {
		spec.Output = out
		res, err = s.Driver.RunTask(ctx, spec)
	}
	switch {
	case err != nil && ctx.Err() == nil && spec.Timeout > 0 && time.Since(start) >= spec.Timeout:
		r.Status, r.ExitCode = spacepods.TestFailed, -1
		r.Error = fmt.Sprintf("the tests were still running after their timeout of %s and were killed: make them end sooner, or raise tests.timeout in %s's manifest", spec.Timeout, app.Name)
	case err != nil:
		r.Status, r.Error = spacepods.TestError, "the tests could not run: "+spacepods.ErrorMessage(err)
	case res.ExitCode != 0:
		r.Status, r.ExitCode = spacepods.TestFailed, res.ExitCode
	default:
		r.Status = spacepods.TestPassed
	}
	log := out.String()
	if len(log) < len(res.LogTail) {
		log = res.LogTail // the stream broke: the tail is the better record
	}
	r.LogTail = lastLines(log, spacepods.TestLogTailLines)
	if _, err := s.Store.FinishTestRun(context.WithoutCancel(ctx), r, log); err != nil {
		s.Logger.Error("record the end of a test run", "run", r.ID, "env", r.Env, "app", r.App, "err", err)
		return
	}
	s.event(ctx, r)
	s.notify(ctx, r)
}

func (s *Service) event(ctx context.Context, r spacepods.TestRun) {
	level, msg := "info", fmt.Sprintf("tests of %s passed (run %d)", r.App, r.ID)
	switch r.Status {
	case spacepods.TestFailed:
		level, msg = "error", fmt.Sprintf("tests of %s failed with exit code %d (run %d: `spacepods test log %d`)", r.App, r.ExitCode, r.ID, r.ID)
	case spacepods.TestError:
		level, msg = "error", fmt.Sprintf("tests of %s did not run (run %d): %s", r.App, r.ID, r.Error)
	}
	if _, err := s.Store.AddEvent(context.WithoutCancel(ctx), spacepods.Event{Env: r.Env, App: r.App, Level: level, Message: msg}); err != nil {
		s.Logger.Error("record event", "env", r.Env, "err", err)
	}
}

// Get returns one run.
func (s *Service) Get(ctx context.Context, id int64) (spacepods.TestRun, error) {
	return s.Store.GetTestRun(ctx, id)
}

// List lists an environment's runs, newest first.
func (s *Service) List(ctx context.Context, env, app string, limit int) ([]spacepods.TestRun, error) {
	if _, err := s.Store.GetEnvironment(ctx, env); err != nil {
		return nil, err
	}
	return s.Store.ListTestRuns(ctx, env, app, limit)
}

// Log returns a run's whole kept output. Runs in a protected environment
// are read by admins only, as its apps' logs are.
func (s *Service) Log(ctx context.Context, id int64) (string, error) {
	r, err := s.Store.GetTestRun(ctx, id)
	if err != nil {
		return "", err
	}
	if e, err := s.Store.GetEnvironment(ctx, r.Env); err == nil && e.Protected && !spacepods.ActorIsAdmin(ctx) {
		return "", spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: only admins read its test output (it may carry its data); ask an admin", r.Env)
	}
	return s.Store.TestRunLog(ctx, id)
}

// Summary is a one-line account of runs for statuses and comments:
// "2 passed", "1 of 2 failed: catalog-api (exit 1)".
func Summary(runs []spacepods.TestRun) (ok bool, line string) {
	var bad []string
	for _, r := range runs {
		switch r.Status {
		case spacepods.TestFailed:
			bad = append(bad, fmt.Sprintf("%s (exit %d)", r.App, r.ExitCode))
		case spacepods.TestError:
			bad = append(bad, r.App+" (did not run)")
		case spacepods.TestRunning:
			bad = append(bad, r.App+" (still running)")
		}
	}
	if len(bad) == 0 {
		return true, fmt.Sprintf("%d passed", len(runs))
	}
	return false, fmt.Sprintf("%d of %d failed: %s", len(bad), len(runs), strings.Join(bad, ", "))
}

// capped keeps the last max bytes written to it (the task's output).
type capped struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if over := len(c.b) - c.max; over > 0 {
		c.b = append(c.b[:0], c.b[over:]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// notify tells the notifier how a run ended (an error counts as failed:
// nobody's tests passed). A PR pod's run names its pull request in
// Fields["trigger"].
func (s *Service) notify(ctx context.Context, r spacepods.TestRun) {
	kind, text := spacepods.NoticeTestsPassed, fmt.Sprintf("Tests of %s passed in %s (run %d, build %d)", r.App, r.Env, r.ID, r.Build)
	if r.Status != spacepods.TestPassed {
		kind, text = spacepods.NoticeTestsFailed, fmt.Sprintf("Tests of %s failed in %s (run %d, build %d, exit code %d)", r.App, r.Env, r.ID, r.Build, r.ExitCode)
		if r.Error != "" {
			text += ": " + r.Error
		}
	}
	id := strconv.FormatInt(r.ID, 10)
	spacepods.Notify(ctx, s.Notifier, spacepods.Notice{
		Kind: kind, Key: "testrun:" + id, Subject: "testrun:" + id, App: r.App, Env: r.Env, Owner: r.By, Text: text,
		URL:    "/tests/" + id,
		Fields: map[string]string{"run": id, "build": strconv.Itoa(r.Build), "status": r.Status, "trigger": r.Trigger, "git_sha": r.GitSHA, "reason": r.Error},
	})
}
