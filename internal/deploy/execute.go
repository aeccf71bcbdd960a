package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// stepError is a failed step with the output to keep on the deploy.
type stepError struct {
	msg    string
	output string
}

func (e *stepError) Error() string { return e.msg }

func fail(output, format string, args ...any) error {
	return &stepError{msg: fmt.Sprintf(format, args...), output: output}
}

// run holds one deploy's working state.
type run struct {
	e       *Engine
	d       *spacepods.Deploy
	app     spacepods.App
	env     spacepods.Environment
	rel     spacepods.Release
	old     *spacepods.Release // live before this deploy, nil if none
	created bool               // the new service exists
	early   chan error         // services being started alongside the migration (pods)
	// createdAt is when the new service was asked for: stage 1's wait for
	// healthy replicas counts from here.
	createdAt time.Time
	tr        traffic         // made on first use: see (*run).traffic
	healthy   map[string]bool // replica IDs seen healthy (see crashLoop)
}

func (e *Engine) now() *time.Time {
	t := time.Now().UTC()
	if e.Now != nil {
		t = e.Now()
	}
	return &t
}

// persistError is progress of a deploy that the store did not take. The
// deploy must not go on unrecorded: it stops where it is, as if the control
// plane had been killed there, and its worker recovers it (rolls it back,
// or completes it once its release was recorded live) as soon as the store
// answers again.
type persistError struct{ err error }

func (p *persistError) Error() string { return "record the deploy's progress: " + p.err.Error() }
func (p *persistError) Unwrap() error { return p.err }

// isPersist reports whether err is store trouble (see stored).
func isPersist(err error) bool {
	var p *persistError
	return errors.As(err, &p)
}

// stored marks an error from the store as store trouble, unless it is an
// answer of the domain (ENOTFOUND, ECONFLICT…) or the end of ctx: a read or
// write that failed says nothing about the deploy, so the deploy stops and
// is resumed rather than failed.
func stored(err error) error {
	var se *spacepods.Error
	if err == nil || errors.As(err, &se) || isPersist(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &persistError{err: err}
}

// unsaved is what this process knows of a deploy whose progress the store
// did not take (for its recovery).
type unsaved struct {
	err string           // the store's error
	d   spacepods.Deploy // the deploy when it stopped
}

// interrupt stops a deploy whose progress the store did not take: it is
// left to recoverDeploy, which its worker runs once the store answers.
func (e *Engine) interrupt(d *spacepods.Deploy, err error) error {
	e.Logger.Error("the store did not take a deploy's progress: it stops here and is recovered once the store answers",
		"deploy", d.ID, "env", d.Env, "app", d.App, "step", d.Step, "err", err)
	e.mu.Lock()
	if e.unsaved == nil {
		e.unsaved = map[int64]unsaved{}
	}
	why := err.Error()
	var p *persistError
	if errors.As(err, &p) {
		why = p.err.Error()
	}
	e.unsaved[d.ID] = unsaved{err: why, d: *d}
	e.mu.Unlock()
	return err
}

// save writes a deploy's state; a persistError if the store fails.
func (e *Engine) save(ctx context.Context, d *spacepods.Deploy) error {
	if err := e.Store.SaveDeploy(context.WithoutCancel(ctx), *d); err != nil {
		if isPersist(err) {
			return err
		}
		return &persistError{err: err}
	}
	return nil
}

// markStep changes a step of d in memory (see setStep).
func (e *Engine) markStep(d *spacepods.Deploy, name, status, detail string) {
	for i := range d.Steps {
		if d.Steps[i].Name != name {
			continue
		}
		s := &d.Steps[i]
		s.Status = status
		if detail != "" {
			s.Detail = detail
		}
		switch status {
		case "running":
			s.StartedAt = e.now()
		case "done", "failed", "skipped":
			if s.StartedAt == nil {
				s.StartedAt = e.now()
			}
			s.EndedAt = e.now()
		}
	}
	if status == "running" {
		d.Step = name
	}
}

// setStep changes a step of d and saves d: a persistError if the store did
// not take it, after which the deploy must stop.
func (e *Engine) setStep(ctx context.Context, d *spacepods.Deploy, name, status, detail string) error {
	e.markStep(d, name, status, detail)
	return e.save(ctx, d)
}

// execute runs the five steps of one deploy. It returns an error only when
// the store failed: the deploy then stays queued (it had not started) or
// stops where it is and is left to recoverDeploy; either way the worker
// looks at its queue again after a pause.
func (e *Engine) execute(ctx context.Context, d *spacepods.Deploy) error {
	e.mu.Lock()
	delete(e.unsaved, d.ID) // queued in the store: whatever ran of it before is undone by clear_stale
	e.mu.Unlock()
	r := &run{e: e, d: d}
	if err := r.load(ctx); err != nil {
		switch {
		case ctx.Err() != nil:
			e.stopped(ctx, d)
			return nil
		case isGone(err):
			return e.cancelDeploy(ctx, d, spacepods.ErrorMessage(err))
		case isPersist(err):
			return err // still queued: it runs once the store answers
		}
		d.Status, d.EndedAt, d.Error = spacepods.DeployFailed, e.now(), spacepods.ErrorMessage(err)
		if err := e.save(ctx, d); err != nil {
			return err
		}
		e.event(ctx, d, "error", "deploy could not start: "+d.Error)
		return nil
	}
	d.Status, d.StartedAt = spacepods.DeployRunning, e.now()
	if err := e.save(ctx, d); err != nil {
		return err // still queued: it runs once the store answers
	}
	err := r.steps(ctx)
	r.joinEarly() // nothing may be created behind the rollback's back
	if err == nil {
		d.Status, d.EndedAt = spacepods.DeployCompleted, e.now()
		if err := e.save(ctx, d); err != nil {
			return e.interrupt(d, err)
		}
		e.event(ctx, d, "info", fmt.Sprintf("completed: %s runs build %d (release %d) in %s", d.App, d.Build, d.Release, d.Env))
		return nil
	}
	if ctx.Err() != nil {
		e.stopped(ctx, d)
		return nil
	}
	if isPersist(err) {
		return e.interrupt(d, err)
	}
	var se *stepError
	if errors.As(err, &se) && se.output != "" {
		d.Output = se.output
	}
	d.Error = spacepods.ErrorMessage(err)
	if spacepods.ErrorCode(err) == spacepods.EINTERNAL && !errors.As(err, &se) {
		d.Error = err.Error()
	}
	if se != nil {
		d.Error = se.msg
	}
	// The failure is recorded before the rollback starts; if it cannot
	// be, recovery rolls back once the store answers.
	if err := e.setStep(ctx, d, d.Step, "failed", ""); err != nil {
		return e.interrupt(d, err)
	}
	e.event(ctx, d, "error", fmt.Sprintf("%s failed: %s", d.Step, d.Error))
	return r.rollback(ctx)
}

// stopped handles a deploy whose context ended: cancelled by CancelEnv
// (its environment is being destroyed or wiped), or the control plane is
// stopping (the deploy stays running; the next start rolls it back from
// the store and the runtime's labels).
func (e *Engine) stopped(ctx context.Context, d *spacepods.Deploy) {
	var c *cancelled
	if errors.As(context.Cause(ctx), &c) {
		if err := e.cancelDeploy(context.WithoutCancel(ctx), d, c.reason); err != nil {
			e.Logger.Error("record a cancelled deploy", "deploy", d.ID, "err", err)
		}
		return
	}
	if d.Status != spacepods.DeployRunning {
		return // not started: it stays queued
	}
	e.event(context.WithoutCancel(ctx), d, "warn", "control plane stopping during "+d.Step+"; the next start rolls this deploy back")
}

// isGone reports whether err says that the environment is gone or going.
func isGone(err error) bool {
	var g *goneError
	return errors.As(err, &g)
}

type goneError struct{ msg string }

func (g *goneError) Error() string { return g.msg }

// load reads what the deploy works on: environment, app and the release
// live now (from the store, which is the truth after a crash too).
func (r *run) load(ctx context.Context) error {
	e, d := r.e, r.d
	var err error
	r.env, err = e.Store.GetEnvironment(ctx, d.Env)
	switch {
	case spacepods.ErrorCode(err) == spacepods.ENOTFOUND:
		return &goneError{fmt.Sprintf("environment %s no longer exists", d.Env)}
	case err != nil:
		return stored(err)
	case r.env.Status == spacepods.StatusDestroying:
		return &goneError{fmt.Sprintf("environment %s is being destroyed", d.Env)}
	}
	if r.app, err = e.Catalog.Get(ctx, d.App); err != nil {
		return stored(err)
	}
	ea, err := e.Store.GetEnvApp(ctx, d.Env, d.App)
	if err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return stored(err)
	}
	if ea.Release > 0 {
		old, err := e.Store.GetRelease(ctx, d.Env, d.App, ea.Release)
		if err != nil {
			return stored(err)
		}
		r.old = &old
		d.FromRelease = old.Number
	}
	return nil
}

func (r *run) steps(ctx context.Context) error {
	e, d := r.e, r.d
	prev, err := e.Store.GetEnvApp(ctx, d.Env, d.App)
	if err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return stored(err)
	}
	prev.Env, prev.App, prev.Status, prev.Reason = d.Env, d.App, "deploying", ""
	if prev.Release == 0 {
		prev.Build = d.Build
	}
	if err := e.Store.PutEnvApp(ctx, prev); err != nil {
		return stored(err)
	}
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"clear_stale", r.clearStale},
		{"register_release", r.register},
		{"migrate", r.migrate},
		{"create_service", r.createService},
		{"rollout", r.rollout},
	} {
		if err := e.setStep(ctx, d, step.name, "running", ""); err != nil {
			return err
		}
		e.hook(ctx, d, step.name)
		if err := ctx.Err(); err != nil {
			return err
		}
		e.event(ctx, d, "info", "step "+step.name)
		if o := e.opts(); o.PauseAt == step.name && o.PauseFor > 0 {
			// Fault injection for the crash tests: hold the step open.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.PauseFor):
			}
		}
		if err := step.fn(ctx); err != nil {
			return err
		}
		if d.Steps[stepIndex(step.name)].Status == "running" {
			if err := e.setStep(ctx, d, step.name, "done", ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// hook lets tests act (kill the control plane, say) as a step or stage starts.
func (e *Engine) hook(ctx context.Context, d *spacepods.Deploy, at string) {
	if e.stepHook != nil {
		e.stepHook(ctx, d, at)
	}
}

func stepIndex(name string) int {
	for i, n := range spacepods.DeploySteps {
		if n == name {
			return i
		}
	}
	return -1
}

// servicesOf lists the runtime services of (env, app), web and workers.
func (e *Engine) servicesOf(ctx context.Context, env, app string) ([]runtime.ServiceStatus, error) {
	all, err := e.Driver.ListServices(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []runtime.ServiceStatus
	for _, s := range all {
		if s.App == app {
			out = append(out, s)
		}
	}
	return out, nil
}

// Step 1: anything of this app that is not the live release is stale.
func (r *run) clearStale(ctx context.Context) error {
	svcs, err := r.e.servicesOf(ctx, r.d.Env, r.d.App)
	if err != nil {
		return err
	}
	n := 0
	for _, s := range svcs {
		if r.old != nil && s.Release == r.old.Number {
			// An earlier deploy may have died with the live release
			// scaled down: give it its full count back first.
			if s.Name == ServiceName(r.d.App, r.old.Number, "") && s.Desired < r.old.Replicas {
				if err := r.e.driver().ScaleService(ctx, r.d.Env, s.Name, r.old.Replicas); err != nil {
					return err
				}
				r.e.event(ctx, r.d, "warn", fmt.Sprintf("live service %s had %d of %d replicas (an earlier deploy stopped midway): scaled back up", s.Name, s.Desired, r.old.Replicas))
			}
			continue
		}
		if err := r.e.driver().DeleteService(ctx, r.d.Env, s.Name); err != nil {
			return err
		}
		n++
		r.e.event(ctx, r.d, "warn", fmt.Sprintf("removed stale service %s (release %d) left by an earlier deploy", s.Name, s.Release))
	}
	return r.e.setStep(ctx, r.d, "clear_stale", "done", fmt.Sprintf("%d stale services removed", n))
}

// Step 2: an immutable release from build + config (or a copy of an
// earlier release for a rollback).
func (r *run) register(ctx context.Context) error {
	e, d := r.e, r.d
	var rel spacepods.Release
	if d.Rollback && d.Release > 0 {
		prev, err := e.Store.GetRelease(ctx, d.Env, d.App, d.Release)
		if err != nil {
			return stored(err)
		}
		rel = prev
		e.event(ctx, d, "info", fmt.Sprintf("rollback: reusing release %d (build %d) as is", prev.Number, prev.Build))
	} else {
		if err := r.checkConfirmed(ctx); err != nil {
			return err
		}
		build, err := e.Catalog.Build(ctx, d.App, d.Build)
		if err != nil {
			return stored(err)
		}
		deps := map[string]string{}
		for _, dep := range r.app.Dependencies {
			da, err := e.Catalog.Get(ctx, dep)
			if err != nil {
				return stored(err)
			}
			deps[dep] = e.DependencyURL(d.Env, da)
		}
		dbURL := ""
		if r.app.Database != nil {
			start := time.Now()
			if dbURL, err = e.EnsureDatabase(ctx, d.Env, r.app); err != nil {
				return err
			}
			e.event(ctx, d, "info", fmt.Sprintf("database ready in %s", time.Since(start).Round(time.Millisecond)))
		}
		replicas := r.app.Replicas(d.Env)
		if r.env.Kind == spacepods.EnvPod {
			replicas = 1
		}
		vars := config.Compose(config.Inputs{Env: d.Env, App: r.app, Build: build, DatabaseURL: dbURL, Deps: deps})
		var refs map[string]string
		if e.Config != nil {
			custom, err := e.Config.CustomFor(ctx, d.App, d.Env, r.env.Kind)
			if err != nil {
				return stored(err)
			}
			vars, refs = config.Merge(vars, r.app, custom)
		}
		rel = spacepods.Release{
			Build: build.Number, Image: build.Image, GitSHA: build.GitSHA, Vars: vars, SecretRefs: refs,
			Command: r.app.Command, Migrate: r.app.Migrate, Replicas: replicas, Workers: r.app.Workers,
			AppVersion: r.app.Version,
			Args:       r.app.Args, MigrateTimeout: r.app.MigrateTimeout,
		}
	}
	rel.Env, rel.App = d.Env, d.App
	rel, err := e.Store.AddRelease(ctx, rel)
	if err != nil {
		return stored(err)
	}
	r.rel = rel
	d.Release = rel.Number
	return e.setStep(ctx, d, "register_release", "done", fmt.Sprintf("release %d: build %d, image %s, %d replicas", rel.Number, rel.Build, rel.Image, rel.Replicas))
}

// Step 3: migrations as a one-off task; a non-zero exit aborts before any
// traffic moves.
func (r *run) migrate(ctx context.Context) error {
	e, d := r.e, r.d
	if len(r.rel.Migrate) == 0 {
		return e.setStep(ctx, d, "migrate", "skipped", "the app declares no migrate command")
	}
	timeout := e.opts().TaskTimeout
	if r.rel.MigrateTimeout != "" {
		t, err := spacepods.TaskTimeout(r.rel.MigrateTimeout)
		if err != nil {
			return spacepods.Errorf(spacepods.EINVALID, "release %d: migrate_timeout %v", r.rel.Number, err)
		}
		timeout = t
	}
	r.startEarly(ctx)
	cmd := strings.Join(r.rel.Migrate, " ")
	start := time.Now()
	out := &taskOutput{}
	stop := r.reportProgress(ctx, "migrate", out, start)
	res, err := e.Driver.RunTask(ctx, runtime.TaskSpec{
		Name: fmt.Sprintf("%s-migrate-r%d", d.App, r.rel.Number), Environment: d.Env, App: d.App, Release: r.rel.Number,
		Image: r.rel.Image, Command: r.rel.Migrate, Env: r.rel.Vars, Secrets: r.rel.SecretRefs, Hosts: e.dependencyHosts(d.Env, r.app), Timeout: timeout,
		Output: out,
	})
	stop()
	took := time.Since(start).Round(time.Second)
	switch {
	case err != nil && ctx.Err() == nil && time.Since(start) >= timeout:
		return fail(res.LogTail, "migration %q was still running after its timeout of %s and was killed; no traffic was moved (its output is kept on this deploy): make it end sooner, or raise migrate_timeout in the app's manifest", cmd, timeout)
	case err != nil:
		return fail(res.LogTail, "migration task: %s", spacepods.ErrorMessage(err))
	case res.ExitCode != 0:
		return fail(res.LogTail, "migration %q exited with code %d after %s; no traffic was moved (its output is kept on this deploy)", cmd, res.ExitCode, took)
	}
	return e.setStep(ctx, d, "migrate", "done", fmt.Sprintf("exit 0 after %s", took))
}

func (r *run) webSpec(replicas int) runtime.ServiceSpec {
	role := runtime.RoleWeb
	if r.app.Kind == spacepods.KindWorker {
		role = runtime.RoleWorker
	}
	return runtime.ServiceSpec{
		Name: ServiceName(r.d.App, r.rel.Number, ""), Environment: r.d.Env, App: r.d.App, Release: r.rel.Number, Role: role,
		Image: r.rel.Image, Command: r.rel.Command, Args: r.rel.Args, Env: r.rel.Vars, Secrets: r.rel.SecretRefs, Port: r.app.Port, Aliases: []string{r.d.App},
		Hosts: r.e.dependencyHosts(r.d.Env, r.app), Health: runtime.HealthCheck{Path: r.app.Health}, Replicas: replicas,
	}
}

func (r *run) workerSpec(w spacepods.Worker) runtime.ServiceSpec {
	return runtime.ServiceSpec{
		Name: ServiceName(r.d.App, r.rel.Number, w.Name), Environment: r.d.Env, App: r.d.App, Release: r.rel.Number, Role: runtime.RoleWorker,
		Image: r.rel.Image, Command: w.Command, Args: w.Args, Env: r.rel.Vars, Secrets: r.rel.SecretRefs, Hosts: r.e.dependencyHosts(r.d.Env, r.app), Replicas: 1,
		Labels: map[string]string{labelWorker: w.Name},
	}
}

// stageCounts returns the new service's replica count at each stage.
func stageCounts(replicas int, stages []int) []int {
	var out []int
	for _, pct := range stages {
		n := int(math.Ceil(float64(replicas) * float64(pct) / 100))
		if n < 1 {
			n = 1
		}
		if n > replicas {
			n = replicas
		}
		if len(out) == 0 || n > out[len(out)-1] {
			out = append(out, n)
		}
	}
	if len(out) == 0 || out[len(out)-1] != replicas {
		out = append(out, replicas)
	}
	return out
}

func (r *run) stages() []int {
	if r.env.Kind == spacepods.EnvPod || r.app.Kind == spacepods.KindWorker || r.rel.Replicas <= 1 && r.old == nil {
		return []int{r.rel.Replicas}
	}
	return stageCounts(r.rel.Replicas, r.app.Stages())
}

// Step 4: the new service (at its first stage's size), its workers, and
// its routing group (still only the old targets).
func (r *run) createService(ctx context.Context) error {
	e, d := r.e, r.d
	if r.rel.Replicas == 0 {
		return e.setStep(ctx, d, "create_service", "skipped", "0 replicas wanted")
	}
	var err error
	if r.early != nil {
		err = r.joinEarly() // started alongside the migration (pods)
	} else {
		err = r.createServices(ctx)
	}
	if err != nil {
		return err
	}
	if r.app.Kind == spacepods.KindWeb {
		if err := r.traffic().prepare(ctx); err != nil {
			return err
		}
	}
	return e.setStep(ctx, d, "create_service", "done", fmt.Sprintf("service %s with %d replicas, %d workers; route %s", ServiceName(d.App, r.rel.Number, ""), r.stages()[0], len(r.rel.Workers), e.URL(d.Env, d.App)))
}

// createServices starts the new web service at its first stage's size and
// its workers, side by side: each container start costs Docker a good part
// of a second.
func (r *run) createServices(ctx context.Context) error {
	r.created = true
	specs := []runtime.ServiceSpec{r.webSpec(r.stages()[0])}
	for _, w := range r.rel.Workers {
		specs = append(specs, r.workerSpec(w))
	}
	r.createdAt = time.Now()
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i := range specs {
		wg.Go(func() { errs[i] = r.e.driver().CreateService(ctx, specs[i]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startEarly starts the new services while the migration runs, when
// Options.OverlapPodMigrations is set (off by default: pods then follow the
// script's order exactly, as master environments do). Only in pods: nothing routes to them before the migration has passed (and a
// failed migration discards them), but in a master environment new code
// must not run at all against a schema it does not expect yet.
func (r *run) startEarly(ctx context.Context) {
	if !r.e.opts().OverlapPodMigrations || r.env.Kind != spacepods.EnvPod || r.rel.Replicas == 0 || r.early != nil {
		return
	}
	ch := make(chan error, 1)
	r.early = ch
	go func() { ch <- r.createServices(ctx) }()
}

// joinEarly waits for services started early and returns their error.
func (r *run) joinEarly() error {
	if r.early == nil {
		return nil
	}
	err := <-r.early
	r.early = nil
	return err
}

// Step 5: staged rollout.
func (r *run) rollout(ctx context.Context) error {
	e, d := r.e, r.d
	name := ServiceName(d.App, r.rel.Number, "")
	stages := r.stages()
	total := r.rel.Replicas
	oldName := ""
	if r.old != nil {
		oldName = ServiceName(d.App, r.old.Number, "")
	}
	// Old replicas a stage took out of the router stop while the next
	// stage's new replicas start (they serve nothing meanwhile): -1 = none.
	pendingOld := -1
	scaleOld := func(n int) error {
		err := e.driver().ScaleService(ctx, d.Env, oldName, n)
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return nil
		}
		return err
	}
	for i, n := range stages {
		oldN := total - n
		if r.old == nil {
			oldN = 0
		}
		e.hook(ctx, d, fmt.Sprintf("rollout:stage%d", i+1))
		if err := ctx.Err(); err != nil {
			return err
		}
		e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d: new %d, old %d of %d replicas", i+1, len(stages), n, oldN, total))
		start := time.Now()
		waitFrom := start
		if i == 0 && !r.createdAt.IsZero() {
			waitFrom = r.createdAt // stage 1's replicas started with the service
		}
		if i > 0 {
			var oldErr error
			var wg sync.WaitGroup
			if pendingOld >= 0 {
				wg.Go(func() { oldErr = scaleOld(pendingOld) })
			}
			err := e.driver().ScaleService(ctx, d.Env, name, n)
			wg.Wait()
			pendingOld = -1
			if err := errors.Join(err, oldErr); err != nil {
				return err
			}
		}
		newAddrs, err := r.waitReady(ctx, name, n)
		if err != nil {
			return err
		}
		e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d: %d new replicas running and healthy after %s", i+1, len(stages), n, time.Since(waitFrom).Round(time.Millisecond)))
		if r.app.Kind == spacepods.KindWeb {
			tr := r.traffic()
			if err := tr.admit(ctx, newAddrs, n); err != nil {
				return err
			}
			e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d: new replicas take traffic after %s", i+1, len(stages), time.Since(start).Round(time.Millisecond)))
			if err := tr.bake(ctx, n); err != nil {
				return err
			}
			if err := tr.retire(ctx, oldN); err != nil {
				return err
			}
		}
		if r.old != nil {
			pendingOld = oldN
		}
		e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d done in %s", i+1, len(stages), time.Since(start).Round(time.Millisecond)))
	}
	if pendingOld >= 0 {
		if err := scaleOld(pendingOld); err != nil {
			return err
		}
	}
	// Workers of the new release run already; wait until they run.
	for _, w := range r.rel.Workers {
		if _, err := r.waitRunning(ctx, ServiceName(d.App, r.rel.Number, w.Name), 1); err != nil {
			return err
		}
	}
	// The new release is live: record it first, so that a crash from here
	// on completes rather than rolls back.
	e.hook(ctx, d, "rollout:record")
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.Store.PutEnvApp(ctx, spacepods.EnvApp{Env: d.Env, App: d.App, Build: r.rel.Build, Release: r.rel.Number, Status: "healthy", URL: r.url()}); err != nil {
		return stored(err)
	}
	e.hook(ctx, d, "rollout:remove_old")
	r.removeOld(ctx)
	if err := ctx.Err(); err != nil {
		return err // stopped midway: the next start finishes the removal
	}
	return e.setStep(ctx, d, "rollout", "done", fmt.Sprintf("%d stages; %d replicas of release %d serve", len(stages), total, r.rel.Number))
}

func (r *run) url() string {
	if r.app.Kind != spacepods.KindWeb {
		return ""
	}
	return r.e.URL(r.d.Env, r.d.App)
}

// removeOld deletes every service of the app that is not the new release.
func (r *run) removeOld(ctx context.Context) {
	svcs, err := r.e.servicesOf(ctx, r.d.Env, r.d.App)
	if err != nil {
		r.e.event(ctx, r.d, "warn", "list services to remove the old release: "+err.Error())
		return
	}
	var wg sync.WaitGroup
	for _, s := range svcs {
		if s.Release != r.rel.Number {
			wg.Go(func() {
				if err := r.e.driver().DeleteService(ctx, r.d.Env, s.Name); err != nil {
					r.e.event(ctx, r.d, "warn", "delete old service "+s.Name+": "+err.Error())
				}
			})
		}
	}
	wg.Wait()
}

// waitReady waits until n replicas of a service are running and healthy
// and returns their addresses (web) — or fails with their errors and logs.
func (r *run) waitReady(ctx context.Context, name string, n int) ([]string, error) {
	e, d := r.e, r.d
	start := time.Now()
	deadline := start.Add(e.opts().HealthTimeout)
	pause := e.backoff()
	for {
		st, err := e.Driver.ServiceStatus(ctx, d.Env, name)
		if err != nil {
			return nil, err
		}
		var addrs []string
		var looping []string
		for _, rep := range st.Replicas {
			if rep.Running && (rep.Healthy || r.app.Kind != spacepods.KindWeb) {
				addrs = append(addrs, rep.Addr)
				r.sawHealthy(rep.ID)
			} else if why := r.crashLoop(rep); why != "" {
				looping = append(looping, fmt.Sprintf("%s (%s)", rep.ID, why))
			}
		}
		if len(addrs) >= n {
			return addrs[:n], nil
		}
		if len(looping) > 0 {
			return nil, fail(r.failureOutput(ctx, name, st), "new replica %s is crash-looping, found after %s", strings.Join(looping, ", "), time.Since(start).Round(time.Millisecond))
		}
		if time.Now().After(deadline) {
			return nil, fail(r.failureOutput(ctx, name, st), "%d of %d new replicas became healthy within %s", len(addrs), n, e.opts().HealthTimeout)
		}
		if err := pause(ctx); err != nil {
			return nil, err
		}
	}
}

// sawHealthy remembers that a replica was healthy (or, for a worker,
// running) at some look of this deploy.
func (r *run) sawHealthy(id string) {
	if r.healthy == nil {
		r.healthy = map[string]bool{}
	}
	r.healthy[id] = true
}

// crashLoop says why a replica that is not healthy now counts as
// crash-looping ("" if it does not): its process ended CrashLoop times and
// this deploy never saw it healthy, or it was restarted CrashRestarts
// times. Both count exits, not time, so a loaded host that restarts a
// crashing replica slowly still fails the stage on the crash rather than
// at the health timeout.
func (r *run) crashLoop(rep runtime.Replica) string {
	o := r.e.opts()
	switch {
	case o.CrashLoop > 0 && rep.Crashes >= o.CrashLoop && !r.healthy[rep.ID]:
		return fmt.Sprintf("its process ended %d times and it was never healthy", rep.Crashes)
	case o.CrashRestarts > 0 && rep.Restarts >= o.CrashRestarts:
		return fmt.Sprintf("restarted %d times", rep.Restarts)
	}
	return ""
}

func (r *run) waitRunning(ctx context.Context, name string, n int) ([]string, error) {
	saved := r.app.Kind
	r.app.Kind = spacepods.KindWorker
	defer func() { r.app.Kind = saved }()
	return r.waitReady(ctx, name, n)
}

// failureOutput is what a user needs to see why replicas failed: each
// replica's error (exit, health response) and the last log lines.
func (r *run) failureOutput(ctx context.Context, name string, st runtime.ServiceStatus) string {
	var b strings.Builder
	for _, rep := range st.Replicas {
		if rep.Error != "" {
			fmt.Fprintf(&b, "replica %s: %s\n", rep.ID, rep.Error)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if rc, err := r.e.Driver.Logs(lctx, r.d.Env, name, runtime.LogOptions{Tail: 20}); err == nil {
		logs, _ := io.ReadAll(io.LimitReader(rc, 32<<10))
		rc.Close()
		if len(logs) > 0 {
			b.WriteString("last log lines:\n")
			b.Write(logs)
		}
	}
	return b.String()
}

// rollback restores the old release's count and routing and discards the
// new service, and records how the deploy ended. An error means the store
// did not take it: the deploy is then left to recoverDeploy.
func (r *run) rollback(ctx context.Context) error {
	e, d := r.e, r.d
	ctx = context.WithoutCancel(ctx)
	err := r.restore(ctx)
	if isPersist(err) {
		return e.interrupt(d, err)
	}
	d.EndedAt = e.now()
	level, msg := "warn", ""
	if err != nil {
		d.Status = spacepods.DeployFailed
		d.Error += "; rollback failed too: " + err.Error()
		level, msg = "error", "rollback failed: "+err.Error()
	} else {
		d.Status = spacepods.DeployRolledBack
		what := "nothing was live before; the new service is removed"
		if r.old != nil {
			what = fmt.Sprintf("release %d (build %d) keeps serving", r.old.Number, r.old.Build)
		}
		msg = "rolled back: " + what
	}
	if err := e.save(ctx, d); err != nil {
		return e.interrupt(d, err)
	}
	e.event(ctx, d, level, msg)
	return nil
}

// restore brings (env, app) back to release r.old (nil: nothing) and
// removes every other service of the app. Used by failed deploys and by
// recovery after a crash. Traffic moves back only once the old replicas
// are healthy, and the new ones are drained before they stop, so that a
// rollback drops no request. Running it again after it failed midway is
// safe.
func (r *run) restore(ctx context.Context) error {
	e, d, old, app := r.e, r.d, r.old, r.app
	var errs []error
	// The old release's workers are found by labels: one made by an
	// older version of Spacepods may have another name.
	before, err := e.servicesOf(ctx, d.Env, d.App)
	if err != nil {
		errs = append(errs, err)
	}
	keep := map[string]bool{}
	if old != nil {
		name := ServiceName(d.App, old.Number, "")
		keep[name] = true
		if _, err := r.ensureService(ctx, *old, "", old.Replicas, before); err != nil {
			errs = append(errs, fmt.Errorf("restore %s to %d replicas: %w", name, old.Replicas, err))
		}
		for _, w := range old.Workers {
			wname, err := r.ensureService(ctx, *old, w.Name, 1, before)
			keep[wname] = true
			if err != nil {
				errs = append(errs, fmt.Errorf("restore worker %s: %w", w.Name, err))
			}
		}
		if app.Kind == spacepods.KindWeb && old.Replicas > 0 {
			// Traffic moves back once the old replicas are healthy
			// (bounded wait).
			healthy, werr := r.waitReady(ctx, name, old.Replicas)
			if err := r.traffic().restore(ctx, healthy, werr); err != nil {
				errs = append(errs, err)
			}
		}
	} else if app.Kind == spacepods.KindWeb {
		if err := r.traffic().restore(ctx, nil, nil); err != nil {
			errs = append(errs, err)
		}
	}
	svcs, err := e.servicesOf(ctx, d.Env, d.App)
	if err != nil {
		errs = append(errs, err)
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for _, s := range svcs {
		if keep[s.Name] {
			continue
		}
		if err := e.driver().DeleteService(ctx, d.Env, s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	ea := spacepods.EnvApp{Env: d.Env, App: d.App, Build: d.Build, Status: "failed", Reason: d.Error}
	if old != nil {
		ea = spacepods.EnvApp{Env: d.Env, App: d.App, Build: old.Build, Release: old.Number, Status: "healthy", URL: r.url()}
	}
	if err := e.Store.PutEnvApp(ctx, ea); err != nil {
		errs = append(errs, stored(err))
	}
	return errors.Join(errs...)
}

// labelWorker names the worker process of a worker service.
const labelWorker = "spacepods.worker"

// ensureService scales the web process (worker "") or a worker of release
// rel to replicas, creating it again from the release if it is gone, and
// returns its name. existing are the app's services (a worker is found by
// its release and worker labels, whatever its name).
func (r *run) ensureService(ctx context.Context, rel spacepods.Release, worker string, replicas int, existing []runtime.ServiceStatus) (string, error) {
	saved := r.rel
	r.rel = rel
	defer func() { r.rel = saved }()
	spec := r.webSpec(replicas)
	for _, w := range rel.Workers {
		if worker != "" && w.Name == worker {
			spec = r.workerSpec(w)
		}
	}
	if worker != "" {
		for _, s := range existing {
			if s.Release == rel.Number && s.Role == runtime.RoleWorker && s.Labels[labelWorker] == worker {
				spec.Name = s.Name
			}
		}
	}
	err := r.e.driver().ScaleService(ctx, spec.Environment, spec.Name, spec.Replicas)
	if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return spec.Name, err
	}
	r.e.event(ctx, r.d, "warn", fmt.Sprintf("service %s was gone: created again from release %d", spec.Name, spec.Release))
	return spec.Name, r.e.driver().CreateService(ctx, spec)
}

// recoverDeploy ends a deploy left running: by a control plane that died,
// or by this one when the store did not take the deploy's progress
// (interrupt). It completes the deploy if its release was already recorded
// live, otherwise rolls it back to what the store says is live (whatever
// the deploy had recorded of it). Its environment being gone or going, it
// is cancelled: the destroy removes everything. An error means the store
// failed: nothing was recorded, and recovering again later is safe.
func (e *Engine) recoverDeploy(ctx context.Context, d spacepods.Deploy) error {
	e.mu.Lock()
	u, interrupted := e.unsaved[d.ID]
	e.mu.Unlock()
	forget := func() {
		e.mu.Lock()
		delete(e.unsaved, d.ID)
		e.mu.Unlock()
	}
	r := &run{e: e, d: &d}
	if err := r.load(ctx); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil
		case isGone(err):
			if err := e.cancelDeploy(ctx, &d, spacepods.ErrorMessage(err)); err != nil {
				return err
			}
			forget()
			return nil
		case isPersist(err):
			return err
		}
		d.Status, d.EndedAt = spacepods.DeployFailed, e.now()
		d.Error = "the deploy stopped midway, and recovering it failed: " + spacepods.ErrorMessage(err)
		if err := e.save(ctx, &d); err != nil {
			return err
		}
		e.event(ctx, &d, "error", d.Error)
		forget()
		return nil
	}
	after := "a control-plane restart"
	if interrupted {
		after = "the store answered again"
	}
	if r.old != nil && d.Release > 0 && r.old.Number == d.Release {
		// The new release was recorded live: finish by removing the old.
		r.rel = *r.old
		r.removeOld(ctx)
		d.Status, d.EndedAt = spacepods.DeployCompleted, e.now()
		if err := e.setStep(ctx, &d, "rollout", "done", "completed after "+after); err != nil {
			return err
		}
		e.event(ctx, &d, "info", "completed after "+after)
		forget()
		return nil
	}
	step := d.Step
	if interrupted && u.d.Step != "" {
		step = u.d.Step // the step whose start the store did not take
	}
	if step == "" {
		step = "start"
	}
	switch {
	case interrupted && u.d.Error != "":
		// It had failed on its own; the store failed while it rolled back.
		d.Error, d.Output = u.d.Error+"; the rollback was recorded after the store answered again", u.d.Output
	case interrupted:
		d.Error = fmt.Sprintf("the deploy stopped during step %s because the store did not take its progress (%s); rolled back once the store answered again", step, u.err)
	default:
		d.Error = fmt.Sprintf("the control plane stopped during step %s; rolled back on restart", step)
	}
	if step != "start" {
		e.markStep(&d, step, "failed", "")
		d.Step = step
	}
	e.event(ctx, &d, "warn", fmt.Sprintf("recovering deploy %d, stopped during step %s: rolling back", d.ID, step))
	err := r.restore(ctx)
	if isPersist(err) {
		return err
	}
	d.EndedAt = e.now()
	d.Status = spacepods.DeployRolledBack
	if err != nil {
		d.Status = spacepods.DeployFailed
		d.Error += "; rollback failed: " + err.Error()
	}
	if err := e.save(ctx, &d); err != nil {
		return err
	}
	e.event(ctx, &d, "warn", d.Error)
	forget()
	return nil
}
