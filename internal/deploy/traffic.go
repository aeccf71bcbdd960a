package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// traffic moves a web app's requests from its old release to the new one
// during a rollout. Three kinds exist: Spacepods' own edge router
// (routerTraffic: target groups with weights, health checks, error counts
// and draining), the runtime's own routing (ingressTraffic: a Kubernetes
// Ingress in front of the Service every release answers to, where a pod
// takes requests once the API says it is Ready), and a weighted router
// outside the runtime (weightedTraffic: an ALB, see weighted.go).
type traffic interface {
	// prepare routes the app to the old release only (nothing, if there
	// is none yet): the new replicas, starting, take no request yet.
	prepare(ctx context.Context) error
	// admit sends requests to n healthy new replicas (addrs: their
	// addresses) next to every old one, and returns once they take them.
	admit(ctx context.Context, addrs []string, n int) error
	// bake holds a stage on a master environment and fails it if the n
	// new replicas misbehave meanwhile.
	bake(ctx context.Context, n int) error
	// retire keeps only oldN old replicas routed and drains the others,
	// which stop next.
	retire(ctx context.Context, oldN int) error
	// restore routes the whole old release again after a failure (or
	// removes the route when there is no old release). healthy are the old
	// replicas that are healthy; werr says why the others are not.
	restore(ctx context.Context, healthy []string, werr error) error
}

// traffic returns the run's traffic mover, made on first use (it keeps the
// new targets between a stage's admit and retire).
func (r *run) traffic() traffic {
	if r.tr != nil {
		return r.tr
	}
	if r.e.Weighted != nil {
		r.tr = &weightedTraffic{r: r, w: r.e.Weighted, oldN: -1}
	} else if r.e.Ingress != nil {
		r.tr = &ingressTraffic{r: r, ing: r.e.Ingress}
	} else {
		t := &routerTraffic{r: r}
		t.services, _ = r.e.Driver.(runtime.ServiceAddresser)
		r.tr = t
	}
	return r.tr
}

// routerTraffic routes through Spacepods' edge router. Its targets are the
// replicas (Docker: each published port, weight 1, so that replica counts
// carry the split), or, when the driver is a ServiceAddresser (Kubernetes),
// one target per release: the release's Service, weighted by its replicas.
type routerTraffic struct {
	r        *run
	services runtime.ServiceAddresser // nil: replica targets
	newT     []router.TargetSpec      // the new release's targets, from admit on
	oldW     int                      // services: the old release's weight, once oldSet
	oldSet   bool
}

func (t *routerTraffic) prepare(ctx context.Context) error {
	return t.set(ctx, nil, t.old(ctx, -1))
}

func (t *routerTraffic) admit(ctx context.Context, addrs []string, n int) error {
	r := t.r
	if t.services == nil {
		t.newT = weightOne(addrs)
	} else {
		a, err := t.services.ServiceAddr(ctx, r.d.Env, ServiceName(r.d.App, r.rel.Number, ""))
		if err != nil {
			return err
		}
		t.newT = []router.TargetSpec{{Addr: a, Weight: n}}
	}
	// New targets join next to the old; the router sends them traffic
	// only once its own health check passes.
	if err := t.set(ctx, t.newT, t.old(ctx, -1)); err != nil {
		return err
	}
	return r.waitRouted(ctx, addrsOfTargets(t.newT))
}

func (t *routerTraffic) bake(ctx context.Context, _ int) error {
	return t.r.bake(ctx, addrsOfTargets(t.newT))
}

// retire takes the surplus old targets out of the group (they drain) before
// their replicas stop. On services the old target's weight drops instead.
func (t *routerTraffic) retire(ctx context.Context, oldN int) error {
	keep := t.old(ctx, oldN)
	if err := t.set(ctx, t.newT, keep); err != nil {
		return err
	}
	t.r.waitDrained(ctx, addrsOfTargets(append(append([]router.TargetSpec{}, t.newT...), keep...)))
	return nil
}

func (t *routerTraffic) restore(ctx context.Context, healthy []string, werr error) error {
	r := t.r
	if r.old == nil {
		return r.e.router().SetGroup(ctx, r.d.Env, r.d.App, router.GroupSpec{HealthPath: r.app.Health})
	}
	// Route them all, even if some are still starting: the router admits
	// each once healthy.
	name := ServiceName(r.d.App, r.old.Number, "")
	var all []router.TargetSpec
	if t.services != nil {
		a, err := t.services.ServiceAddr(ctx, r.d.Env, name)
		if err != nil {
			return err
		}
		all = []router.TargetSpec{{Addr: a, Weight: max(r.old.Replicas, 1)}}
		if werr == nil {
			healthy = []string{a}
		}
	} else {
		all = weightOne(healthy)
		if st, err := r.e.Driver.ServiceStatus(ctx, r.d.Env, name); err == nil {
			all = weightOne(addrsOf(st.Replicas, -1))
		}
	}
	if err := t.set(ctx, nil, all); err != nil {
		return err
	}
	if werr == nil {
		if err := r.waitRouted(ctx, healthy); err != nil {
			r.e.event(ctx, r.d, "warn", "rollback: "+err.Error())
		}
	} else {
		r.e.event(ctx, r.d, "warn", "rollback: the old replicas are not all healthy: "+spacepods.ErrorMessage(werr))
	}
	r.waitDrained(ctx, addrsOfTargets(all))
	return nil
}

// old returns the old release's targets that keep n of its replicas (n < 0:
// all of them). Replicas: the first n in the driver's order (it scales
// down from the end, so these are the ones a scale to n keeps), without
// those that have no address (restarting). Services: its Service, weighted
// n, or nothing at weight 0.
func (t *routerTraffic) old(ctx context.Context, n int) []router.TargetSpec {
	r := t.r
	if r.old == nil {
		return nil
	}
	name := ServiceName(r.d.App, r.old.Number, "")
	if t.services == nil {
		st, err := r.e.Driver.ServiceStatus(ctx, r.d.Env, name)
		if err != nil {
			return nil
		}
		return weightOne(addrsOf(st.Replicas, n))
	}
	if n < 0 {
		if !t.oldSet {
			st, err := r.e.Driver.ServiceStatus(ctx, r.d.Env, name)
			if err != nil {
				return nil
			}
			t.oldW, t.oldSet = st.Desired, true
		}
		n = t.oldW
	} else {
		t.oldW, t.oldSet = n, true
	}
	if n == 0 {
		return nil
	}
	a, err := t.services.ServiceAddr(ctx, r.d.Env, name)
	if err != nil {
		return nil
	}
	return []router.TargetSpec{{Addr: a, Weight: n}}
}

// set makes the app's target group old + new; targets left out drain.
func (t *routerTraffic) set(ctx context.Context, newT, oldT []router.TargetSpec) error {
	g := router.GroupSpec{HealthPath: t.r.app.Health}
	g.Targets = append(append(g.Targets, oldT...), newT...)
	return t.r.e.router().SetGroup(ctx, t.r.d.Env, t.r.d.App, g)
}

func weightOne(addrs []string) []router.TargetSpec {
	out := make([]router.TargetSpec, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, router.TargetSpec{Addr: a, Weight: 1})
	}
	return out
}

func addrsOfTargets(ts []router.TargetSpec) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Addr)
	}
	return out
}

// addrsOf returns the addresses of the first n replicas (n < 0: all).
func addrsOf(reps []runtime.Replica, n int) []string {
	if n >= 0 && n < len(reps) {
		reps = reps[:n]
	}
	var out []string
	for _, rep := range reps {
		if rep.Addr != "" {
			out = append(out, rep.Addr)
		}
	}
	return out
}

// The router's side of a stage: its health checks, error counts and
// in-flight requests.

// waitRouted waits until the router's own health check passes for addrs.
func (r *run) waitRouted(ctx context.Context, addrs []string) error {
	e, d := r.e, r.d
	deadline := time.Now().Add(e.opts().HealthTimeout)
	pause := e.backoff()
	for {
		st, err := e.Router.Stats(ctx, d.Env, d.App)
		if err != nil {
			return err
		}
		ok := 0
		var last string
		for _, a := range addrs {
			if t, found := st.Target(a); found && t.Healthy && t.State == router.StateHealthy {
				ok++
			} else if found {
				last = t.LastError
			}
		}
		if ok == len(addrs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fail(last, "the router's health check did not pass for %d of %d new targets within %s", len(addrs)-ok, len(addrs), e.opts().HealthTimeout)
		}
		if err := pause(ctx); err != nil {
			return err
		}
	}
}

// bake holds the stage while watching the new targets' error rate at the
// router (master environments only).
func (r *run) bake(ctx context.Context, addrs []string) error {
	e, d := r.e, r.d
	if r.env.Kind == spacepods.EnvPod || e.opts().Bake <= 0 {
		return nil
	}
	// Without the counters from before, the bake cannot tell new errors
	// from old ones: fail the stage as a failed read after it does.
	before, err := e.Router.Stats(ctx, d.Env, d.App)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(e.opts().Bake):
	}
	after, err := e.Router.Stats(ctx, d.Env, d.App)
	if err != nil {
		return err
	}
	var reqs, errs uint64
	for _, a := range addrs {
		t1, _ := after.Target(a)
		t0, _ := before.Target(a)
		reqs += t1.Requests - t0.Requests
		errs += (t1.Responses5xx + t1.TransportErrors) - (t0.Responses5xx + t0.TransportErrors)
	}
	if reqs >= 5 && float64(errs)/float64(reqs) > e.opts().ErrorThreshold {
		return fail("", "the new targets failed %d of %d requests during the %s bake (threshold %.0f%%)", errs, reqs, e.opts().Bake, e.opts().ErrorThreshold*100)
	}
	e.event(ctx, d, "info", fmt.Sprintf("bake %s: new targets served %d requests, %d failed", e.opts().Bake, reqs, errs))
	return nil
}

// waitDrained waits (up to 15s) until the targets other than keep have no
// requests in flight at the router.
func (r *run) waitDrained(ctx context.Context, keep []string) {
	want := map[string]bool{}
	for _, a := range keep {
		want[a] = true
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		st, err := r.e.Router.Stats(ctx, r.d.Env, r.d.App)
		if err != nil {
			return
		}
		busy := false
		for _, t := range st.Targets {
			if !want[t.Addr] && t.InFlight > 0 {
				busy = true
			}
		}
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.e.opts().Poll):
		}
	}
}

// ingressTraffic routes through the runtime (runtime.Ingresser): the app's
// host goes to one Service. Before the first stage that is the old
// release's own Service; from the first admitted stage on it is the app's
// alias, which the pods of both releases answer to, so requests split by
// ready replicas, which is what the stages scale. The cluster takes a pod
// out of the Service once it is not Ready or is terminating, so retiring
// old replicas is their scale-down.
type ingressTraffic struct {
	r   *run
	ing runtime.Ingresser
}

func (t *ingressTraffic) prepare(ctx context.Context) error {
	r := t.r
	target := r.d.App // no old release: the new one alone answers to the alias
	if r.old != nil && r.old.Replicas > 0 {
		target = ServiceName(r.d.App, r.old.Number, "")
	}
	return t.route(ctx, target)
}

func (t *ingressTraffic) admit(ctx context.Context, _ []string, _ int) error {
	return t.route(ctx, t.r.d.App)
}

// bake watches the new replicas' readiness, as the API reports it, for the
// bake time: a replica that stops being Ready (or restarts) fails the stage.
// The ingress controller's error counts are not read: they are not in the
// Kubernetes API.
func (t *ingressTraffic) bake(ctx context.Context, n int) error { return t.r.bakeReady(ctx, n) }

// bakeReady holds the stage for the bake time (master environments) and
// fails it if fewer than n new replicas stay healthy as the runtime
// reports them.
func (r *run) bakeReady(ctx context.Context, n int) error {
	e := r.e
	if r.env.Kind == spacepods.EnvPod || e.opts().Bake <= 0 {
		return nil
	}
	name := ServiceName(r.d.App, r.rel.Number, "")
	deadline := time.Now().Add(e.opts().Bake)
	for {
		st, err := e.Driver.ServiceStatus(ctx, r.d.Env, name)
		if err != nil {
			return err
		}
		if st.Healthy < n {
			return fail(r.failureOutput(ctx, name, st), "%d of %d new replicas stopped being ready during the %s bake", n-st.Healthy, n, e.opts().Bake)
		}
		if time.Now().After(deadline) {
			e.event(ctx, r.d, "info", fmt.Sprintf("bake %s: %d new replicas stayed ready", e.opts().Bake, n))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.opts().Poll):
		}
	}
}

func (t *ingressTraffic) retire(context.Context, int) error { return nil }

func (t *ingressTraffic) restore(ctx context.Context, _ []string, werr error) error {
	r := t.r
	if r.old == nil || r.old.Replicas == 0 {
		ctx, cancel := whole(ctx)
		defer cancel()
		return t.ing.Unroute(ctx, r.d.Env, r.d.App)
	}
	if werr != nil {
		r.e.event(ctx, r.d, "warn", "rollback: the old replicas are not all ready: "+spacepods.ErrorMessage(werr))
	}
	return t.route(ctx, ServiceName(r.d.App, r.old.Number, ""))
}

func (t *ingressTraffic) route(ctx context.Context, target string) error {
	ctx, cancel := whole(ctx)
	defer cancel()
	_, err := t.ing.Route(ctx, t.r.d.Env, t.r.d.App, target)
	return err
}
