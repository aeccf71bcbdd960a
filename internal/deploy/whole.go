package deploy

import (
	"context"
	"time"

	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
)

// wholeTimeout bounds a change that runs to its end after its deploy was
// cancelled.
const wholeTimeout = 2 * time.Minute

// whole returns a context for one change of the runtime or the router that
// must not be cut off midway: a request already sent when its deploy is
// cancelled (by a destroy, a pod's wipe, a stopping control plane) would
// still land at Docker or the router, behind the back of the destroy or
// recovery that follows. The deploy stops right after the change instead.
func whole(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), wholeTimeout)
}

// wholeDriver runs the driver's changes whole; reads and tasks (which
// clean up after themselves) keep the caller's context.
type wholeDriver struct{ runtime.Driver }

func (w wholeDriver) CreateService(ctx context.Context, spec runtime.ServiceSpec) error {
	ctx, cancel := whole(ctx)
	defer cancel()
	return w.Driver.CreateService(ctx, spec)
}

func (w wholeDriver) ScaleService(ctx context.Context, env, name string, replicas int) error {
	ctx, cancel := whole(ctx)
	defer cancel()
	return w.Driver.ScaleService(ctx, env, name, replicas)
}

func (w wholeDriver) DeleteService(ctx context.Context, env, name string) error {
	ctx, cancel := whole(ctx)
	defer cancel()
	return w.Driver.DeleteService(ctx, env, name)
}

// wholeRouter runs route changes whole.
type wholeRouter struct{ Router }

func (w wholeRouter) SetGroup(ctx context.Context, env, app string, g router.GroupSpec) error {
	ctx, cancel := whole(ctx)
	defer cancel()
	return w.Router.SetGroup(ctx, env, app, g)
}

func (e *Engine) driver() wholeDriver { return wholeDriver{e.Driver} }
func (e *Engine) router() wholeRouter { return wholeRouter{e.Router} }
