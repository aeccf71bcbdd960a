package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	// preparing is closed once the new services' containers, made (not
	// started) alongside the migration, are there (see prepareEarly).
	preparing chan struct{}
	// createdAt is when the new service was asked for: stage 1's wait for
	// healthy replicas counts from here.
	createdAt time.Time
	tr        traffic         // made on first use: see (*run).traffic
	healthy   map[string]bool // replica IDs seen healthy (see crashLoop)
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
		e.notify(ctx, d)
		return nil
	}
	d.Status, d.StartedAt = spacepods.DeployRunning, e.now()
	if err := e.save(ctx, d); err != nil {
		return err // still queued: it runs once the store answers
	}
	e.notify(ctx, d)
	err := r.steps(ctx)
	_ = r.joinEarly() // nothing may be created behind the rollback's back
	r.joinPrepared()
	if err == nil {
		d.Status, d.EndedAt = spacepods.DeployCompleted, e.now()
		if err := e.save(ctx, d); err != nil {
			return e.interrupt(d, err)
		}
		e.event(ctx, d, "info", fmt.Sprintf("completed: %s runs build %d (release %d) in %s", d.App, d.Build, d.Release, d.Env))
		e.notify(ctx, d)
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
