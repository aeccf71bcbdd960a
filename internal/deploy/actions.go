package deploy

import (
	"context"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Rollback queues a redeploy of the release that was live before the
// current one in env (same artifact and config), through the same script.
func (e *Engine) Rollback(ctx context.Context, env, app string) (spacepods.Deploy, error) {
	ea, err := e.Store.GetEnvApp(ctx, env, app)
	if err != nil {
		return spacepods.Deploy{}, err
	}
	ds, err := e.Store.ListDeploys(ctx, env, app, 1000)
	if err != nil {
		return spacepods.Deploy{}, err
	}
	for _, d := range ds { // newest first
		if d.Status == spacepods.DeployCompleted && d.Release > 0 && d.Release != ea.Release {
			return e.Submit(ctx, Request{Env: env, App: app, Rollback: d.Release})
		}
	}
	return spacepods.Deploy{}, spacepods.Errorf(spacepods.ENOTFOUND, "%s has no earlier release of %s to roll back to: see `spacepods deploy list --env %s --app %s`", env, app, env, app)
}

// Promote queues a deploy to env `to` of exactly the build running in
// `from`; confirmVersion is an admin's confirmation of its manifest changes
// (see Request.ConfirmVersion).
func (e *Engine) Promote(ctx context.Context, app, from, to string, confirmVersion int) (spacepods.Deploy, error) {
	if from == to {
		return spacepods.Deploy{}, spacepods.Errorf(spacepods.EINVALID, "promote needs two different environments")
	}
	ea, err := e.Store.GetEnvApp(ctx, from, app)
	if err != nil {
		return spacepods.Deploy{}, err
	}
	if ea.Release == 0 {
		return spacepods.Deploy{}, spacepods.Errorf(spacepods.ECONFLICT, "%s runs no release of %s yet: deploy it there first", from, app)
	}
	return e.Submit(ctx, Request{Env: to, App: app, Build: ea.Build, ConfirmVersion: confirmVersion})
}

// Get returns a deploy.
func (e *Engine) Get(ctx context.Context, id int64) (spacepods.Deploy, error) {
	return e.Store.GetDeploy(ctx, id)
}

// List lists deploys newest first.
func (e *Engine) List(ctx context.Context, env, app string, limit int) ([]spacepods.Deploy, error) {
	return e.Store.ListDeploys(ctx, env, app, limit)
}

// Events returns a deploy's progress lines after an event ID.
func (e *Engine) Events(ctx context.Context, id, after int64) ([]spacepods.Event, error) {
	d, err := e.Store.GetDeploy(ctx, id)
	if err != nil {
		return nil, err
	}
	evs, err := e.Store.Events(ctx, d.Env, d.ID, after, 1000)
	return spacepods.RedactEvents(ctx, evs), err
}
