package deploy

import (
	"context"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// LiveSpecs returns what the engine runs for the live release of app in
// env: its web (or worker) service at replicas replicas, and its migration
// task (nil when the app declares none). Benchmarks use them to time each
// piece of a deploy alone, with the very specs a deploy runs.
// ENOTFOUND if app has no live release in env.
func (e *Engine) LiveSpecs(ctx context.Context, env, app string, replicas int) (runtime.ServiceSpec, *runtime.TaskSpec, error) {
	ea, err := e.Store.GetEnvApp(ctx, env, app)
	if err != nil {
		return runtime.ServiceSpec{}, nil, err
	}
	if ea.Release == 0 {
		return runtime.ServiceSpec{}, nil, spacepods.Errorf(spacepods.ENOTFOUND, "%s has no live release in %s", app, env)
	}
	r := &run{e: e, d: &spacepods.Deploy{Env: env, App: app}}
	if r.app, err = e.Catalog.Get(ctx, app); err != nil {
		return runtime.ServiceSpec{}, nil, err
	}
	if r.rel, err = e.Store.GetRelease(ctx, env, app, ea.Release); err != nil {
		return runtime.ServiceSpec{}, nil, err
	}
	var task *runtime.TaskSpec
	if len(r.rel.Migrate) > 0 {
		t := r.migrateSpec(e.opts().TaskTimeout)
		task = &t
	}
	return r.webSpec(replicas), task, nil
}
