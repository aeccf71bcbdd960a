package deploy

import (
	"context"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// WeightedRouter is what the engine needs of a router outside the runtime
// that splits an app's requests between releases by weight, each release
// a target group of its replicas' addresses: an ALB listener rule's
// weighted forward (internal/aws/alb implements it).
type WeightedRouter interface {
	// SetTargets makes the release's target group hold exactly addrs,
	// health-checked on healthPath ("" = the router's default).
	SetTargets(ctx context.Context, env, app string, release int, addrs []string, healthPath string) error
	// SetWeights routes the app's host to these releases (release →
	// weight), making the host's route on first use.
	SetWeights(ctx context.Context, env, app string, weights map[int]int) error
	// DropRelease removes a release's target group, which the route no
	// longer names. A missing one is not an error.
	DropRelease(ctx context.Context, env, app string, release int) error
	// Unroute removes the app's route and every target group of it.
	Unroute(ctx context.Context, env, app string) error
	// WaitHealthy waits until the router's own health check passes for
	// addrs in the release's target group, polling every interval until
	// ctx ends (EUNAVAILABLE then, naming the targets and why).
	WaitHealthy(ctx context.Context, env, app string, release int, addrs []string, interval time.Duration) error
}

// weightedTraffic moves requests with a WeightedRouter: the old and the
// new release each have a target group of their replicas, and the route's
// weights are their replica counts, so that the split follows the stages.
// A stage admits by registering the new replicas and raising the new
// weight, retires by lowering the old one and deregistering the surplus
// old replicas (the load balancer drains them), and a rollback routes the
// old release alone again.
type weightedTraffic struct {
	r    *run
	w    WeightedRouter
	newN int
	oldN int // the old release's routed replicas; -1 until known
}

func (t *weightedTraffic) oldRelease() int {
	if t.r.old == nil {
		return 0
	}
	return t.r.old.Number
}

// oldAddrs returns the addresses of the first n replicas of the old
// release (n < 0: all), as routerTraffic does.
func (t *weightedTraffic) oldAddrs(ctx context.Context, n int) []string {
	r := t.r
	st, err := r.e.Driver.ServiceStatus(ctx, r.d.Env, ServiceName(r.d.App, r.old.Number, ""))
	if err != nil {
		return nil
	}
	if t.oldN < 0 {
		t.oldN = st.Desired
	}
	return addrsOf(st.Replicas, n)
}

func (t *weightedTraffic) weights() map[int]int {
	w := map[int]int{}
	if t.r.old != nil && t.oldN > 0 {
		w[t.oldRelease()] = t.oldN
	}
	if t.newN > 0 {
		w[t.r.rel.Number] = t.newN
	}
	return w
}

func (t *weightedTraffic) set(ctx context.Context) error {
	ctx, cancel := whole(ctx)
	defer cancel()
	w := t.weights()
	if len(w) == 0 {
		return nil // nothing to route yet
	}
	return t.w.SetWeights(ctx, t.r.d.Env, t.r.d.App, w)
}

func (t *weightedTraffic) prepare(ctx context.Context) error {
	r := t.r
	t.oldN = -1
	if r.old == nil {
		return nil
	}
	addrs := t.oldAddrs(ctx, -1)
	if err := t.w.SetTargets(ctx, r.d.Env, r.d.App, r.old.Number, addrs, r.app.Health); err != nil {
		return err
	}
	return t.set(ctx)
}

// admit registers the new replicas, waits until the load balancer's own
// health check passes for them (within the health timeout), then raises
// the new release's weight.
func (t *weightedTraffic) admit(ctx context.Context, addrs []string, n int) error {
	r := t.r
	if err := t.w.SetTargets(ctx, r.d.Env, r.d.App, r.rel.Number, addrs, r.app.Health); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, r.e.opts().HealthTimeout)
	err := t.w.WaitHealthy(wctx, r.d.Env, r.d.App, r.rel.Number, addrs, r.e.opts().Poll)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail(spacepods.ErrorMessage(err), "the load balancer's health check did not pass for the new targets within %s", r.e.opts().HealthTimeout)
	}
	t.newN = n
	return t.set(ctx)
}

// bake watches the new replicas' health as the runtime reports it: the
// load balancer's error counts are in CloudWatch metrics, which Spacepods
// does not read.
func (t *weightedTraffic) bake(ctx context.Context, n int) error { return t.r.bakeReady(ctx, n) }

func (t *weightedTraffic) retire(ctx context.Context, oldN int) error {
	r := t.r
	if r.old == nil {
		return nil
	}
	keep := t.oldAddrs(ctx, oldN)
	t.oldN = oldN
	if err := t.set(ctx); err != nil {
		return err
	}
	if oldN == 0 {
		return t.w.DropRelease(ctx, r.d.Env, r.d.App, r.old.Number)
	}
	return t.w.SetTargets(ctx, r.d.Env, r.d.App, r.old.Number, keep, r.app.Health)
}

func (t *weightedTraffic) restore(ctx context.Context, healthy []string, werr error) error {
	r := t.r
	ctx, cancel := whole(ctx)
	defer cancel()
	if r.old == nil || r.old.Replicas == 0 {
		return t.w.Unroute(ctx, r.d.Env, r.d.App)
	}
	addrs := healthy
	if st, err := r.e.Driver.ServiceStatus(ctx, r.d.Env, ServiceName(r.d.App, r.old.Number, "")); err == nil {
		addrs = addrsOf(st.Replicas, -1)
	}
	if err := t.w.SetTargets(ctx, r.d.Env, r.d.App, r.old.Number, addrs, r.app.Health); err != nil {
		return err
	}
	if err := t.w.SetWeights(ctx, r.d.Env, r.d.App, map[int]int{r.old.Number: max(r.old.Replicas, 1)}); err != nil {
		return err
	}
	if werr != nil {
		r.e.event(ctx, r.d, "warn", "rollback: the old replicas are not all healthy: "+spacepods.ErrorMessage(werr))
	}
	return t.w.DropRelease(ctx, r.d.Env, r.d.App, r.rel.Number)
}
