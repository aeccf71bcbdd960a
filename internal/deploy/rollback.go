package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

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
	e.notify(ctx, d)
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
		e.notify(ctx, &d)
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
		e.notify(ctx, &d)
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
		d.Error = fmt.Sprintf("the control plane stopped during step %s", step) + restartSuffix
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
	e.notify(ctx, &d)
	forget()
	return nil
}

// restartSuffix ends the error of a deploy rolled back on restart.
const restartSuffix = "; rolled back on restart"

// StoppedByRestart reports whether d was rolled back only because the
// control plane stopped while it ran (not because it failed): whoever
// asked for it may ask again.
func StoppedByRestart(d spacepods.Deploy) bool {
	return d.Status == spacepods.DeployRolledBack && strings.HasSuffix(d.Error, restartSuffix)
}
