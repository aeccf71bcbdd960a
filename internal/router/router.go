// Package router is the Spacepods edge router: a host-based reverse proxy
// (the ALB + Route 53 of the original Spacepods) that runs as its own process.
//
// A request for <app>.<environment>.<domain> goes to that app's target group:
// weighted, health-checked targets picked by smooth weighted round robin. A
// target takes traffic only after its health check passes; a removed target
// drains (no new requests, in-flight ones finish) before it is dropped; a
// replaced target set is gated on health, so that removed targets keep
// serving until a new one is healthy. The route table lives in memory behind
// one RWMutex, is written to a JSON snapshot on every change and reloaded on
// start. The control plane changes it through a small local HTTP API (see
// ControlHandler and Client).
package router

import (
	"cmp"
	"context"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Defaults of Options.
const (
	DefaultDomain         = "localhost"
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = time.Second
	DefaultUnhealthyAfter = 2
	DefaultDrainTimeout   = 30 * time.Second
	DefaultWakeTimeout    = 2 * time.Minute
)

// Options configure a Router. Zero values take the defaults above.
type Options struct {
	Domain         string        // hosts are <app>.<environment>.<Domain>
	HealthInterval time.Duration // time between health checks of a target
	HealthTimeout  time.Duration // one health check's limit
	UnhealthyAfter int           // consecutive failed checks that make a target unhealthy
	DrainTimeout   time.Duration // how long a removed target may finish in-flight requests
	WakeTimeout    time.Duration // how long a request to an asleep app is held for its wake
	SnapshotPath   string        // where the route table is persisted; empty: not persisted
	Logger         *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Domain == "" {
		o.Domain = DefaultDomain
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.UnhealthyAfter <= 0 {
		o.UnhealthyAfter = DefaultUnhealthyAfter
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.WakeTimeout <= 0 {
		o.WakeTimeout = DefaultWakeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

var _ http.Handler = (*Router)(nil)

// Router is the edge reverse proxy. It is an http.Handler; ControlHandler
// serves its control API. All methods are safe for concurrent use.
type Router struct {
	opts     Options
	log      *slog.Logger
	proxyLog *log.Logger
	checker  *http.Client
	buffers  *bufferPool

	ctx    context.Context // ends on Close: stops checkers, drains, requests
	cancel context.CancelFunc
	wg     sync.WaitGroup // health checkers and drains

	mu      sync.RWMutex
	groups  map[groupKey]*group
	envs    map[string]bool         // environments declared with SetEnvironment
	nets    map[string]netip.Prefix // their containers' subnets (InternalHandler)
	closed  bool
	version uint64 // bumped on every change of the route table

	snapMu      sync.Mutex
	snapVersion uint64 // last version written

	wakes wakeQueue // requests held for asleep apps (sleep.go)
}

// New returns a Router, reloading the route table from opts.SnapshotPath if
// it exists. Restored targets start unhealthy and are checked at once.
func New(opts Options) (*Router, error) {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		opts:     opts,
		log:      opts.Logger,
		proxyLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
		checker:  newHealthClient(opts.HealthTimeout),
		buffers:  newBufferPool(),
		ctx:      ctx,
		cancel:   cancel,
		groups:   make(map[groupKey]*group),
		envs:     make(map[string]bool),
		nets:     make(map[string]netip.Prefix),
	}
	r.wakes.init()
	if opts.SnapshotPath != "" {
		if err := r.restore(); err != nil {
			cancel()
			return nil, err
		}
	}
	return r, nil
}

// Domain returns the domain hosts are served under.
func (r *Router) Domain() string { return r.opts.Domain }

// Host returns the host name of an app in an environment.
func (r *Router) Host(env, app string) string { return app + "." + env + "." + r.opts.Domain }

// ServeHTTP routes a request by its Host to the app's target group, or
// answers with a page that says what is missing.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	env, app, ok := parseHost(req.Host, r.opts.Domain)
	if !ok {
		writePage(w, req, pageUnknownHost(req.Host, r.opts.Domain))
		return
	}
	r.mu.RLock()
	g := r.groups[groupKey{env, app}]
	if g == nil {
		known := r.envs[env]
		apps := r.appsLocked(env)
		r.mu.RUnlock()
		if !known && len(apps) == 0 {
			writePage(w, req, pageNoEnvironment(env, app))
		} else {
			writePage(w, req, pageNoApp(env, app, apps))
		}
		return
	}
	g.touch()
	asleep := g.asleep
	r.mu.RUnlock()
	if asleep {
		r.serveAsleep(g, w, req)
		return
	}
	g.proxy.ServeHTTP(w, req)
}

// appsLocked lists the apps routed in env. Caller holds r.mu.
func (r *Router) appsLocked(env string) []string {
	var apps []string
	for k := range r.groups {
		if k.env == env {
			apps = append(apps, k.app)
		}
	}
	slices.Sort(apps)
	return apps
}

// SetGroup replaces the target set of app in env, creating the group if
// needed. Targets already present keep their health and counters; new ones
// start unhealthy until their first check passes (at once if the health path
// is empty); removed ones drain. If none of the new weighted targets is
// healthy yet, removed healthy targets stay on standby and keep serving until
// one is. Returns EINVALID for a bad name or spec, EUNAVAILABLE after Close.
func (r *Router) SetGroup(env, app string, spec GroupSpec) error {
	if err := validateNames(env, app); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errClosed()
	}
	r.setGroupLocked(env, app, spec)
	snap := r.changedLocked()
	r.mu.Unlock()
	r.log.Info("target group set", "env", env, "app", app, "health_path", spec.HealthPath, "targets", spec.Targets)
	return r.persist(snap)
}

func (r *Router) setGroupLocked(env, app string, spec GroupSpec) {
	key := groupKey{env, app}
	g := r.groups[key]
	if g == nil {
		g = &group{env: env, app: app, tracked: time.Now()}
		g.proxy = r.newGroupProxy(g)
		r.groups[key] = g
	}
	g.healthPath = spec.HealthPath
	g.asleep = spec.Asleep

	old := make(map[string]*target, len(g.live)+len(g.standby)+len(g.draining))
	for _, ts := range [][]*target{g.draining, g.standby, g.live} { // live wins on duplicates
		for _, t := range ts {
			old[t.addr] = t
		}
	}
	live := make([]*target, 0, len(spec.Targets))
	for _, ts := range spec.Targets {
		t := old[ts.Addr]
		if t != nil {
			delete(old, ts.Addr)
			if t.member != memberLive {
				r.log.Info("target back in service", "env", env, "app", app, "target", t.addr)
			}
			g.standby = removeTarget(g.standby, t)
			g.draining = removeTarget(g.draining, t)
			t.member = memberLive
			t.drainGen++ // a drain in progress gives up
		} else {
			t = newTarget(r.ctx, ts.Addr, 0)
			if spec.HealthPath == "" {
				t.observe(true, r.opts.UnhealthyAfter)
			}
			r.wg.Add(1)
			go r.check(g, t)
		}
		t.weight = ts.Weight
		live = append(live, t)
	}
	g.live = live

	// Targets left in old were removed. Gate on health: keep the healthy ones
	// serving while the new set routes traffic but has no healthy target.
	gate := g.hasWeightedLive() && !g.hasEligibleLive()
	for _, t := range old {
		switch {
		case t.member == memberDraining:
			// keeps draining
		case gate && t.healthy.Load() && t.weight > 0:
			if t.member != memberStandby {
				t.member = memberStandby
				g.standby = append(g.standby, t)
				r.log.Info("target on standby until a new target is healthy", "env", env, "app", app, "target", t.addr)
			}
		default:
			g.standby = removeTarget(g.standby, t)
			r.drainLocked(g, t)
		}
	}
}

// settleLocked ends the standby of removed targets once a live target can
// take traffic. Caller holds r.mu for writing.
func (r *Router) settleLocked(g *group) {
	if len(g.standby) == 0 || !g.hasEligibleLive() {
		return
	}
	for _, t := range g.standby {
		r.drainLocked(g, t)
	}
	g.standby = nil
}

// drainLocked stops new requests to t and drops it once its in-flight
// requests finish or the drain timeout passes. Caller holds r.mu for writing.
func (r *Router) drainLocked(g *group, t *target) {
	t.member = memberDraining
	t.drainGen++
	g.draining = append(g.draining, t)
	r.log.Info("target draining", "env", g.env, "app", g.app, "target", t.addr, "in_flight", t.inflight.Load())
	r.wg.Add(1)
	go r.drain(g, t, t.drainGen)
}

func (r *Router) drain(g *group, t *target, gen int) {
	defer r.wg.Done()
	deadline := time.Now().Add(r.opts.DrainTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for t.inflight.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-t.ctx.Done(): // the router is closing
			t.drop(true)
			return
		}
	}
	r.mu.Lock()
	if t.member != memberDraining || t.drainGen != gen {
		r.mu.Unlock()
		return // put back in service meanwhile
	}
	g.draining = removeTarget(g.draining, t)
	r.mu.Unlock()
	cut := t.inflight.Load()
	t.drop(cut > 0)
	if cut > 0 {
		r.log.Warn("target dropped after drain timeout, requests cut", "env", g.env, "app", g.app, "target", t.addr, "cut", cut, "drain_timeout", r.opts.DrainTimeout)
	} else {
		r.log.Info("target drained and dropped", "env", g.env, "app", g.app, "target", t.addr)
	}
}

// DeleteGroup removes app from env; its targets drain. Returns ENOTFOUND if
// there is no such group.
func (r *Router) DeleteGroup(env, app string) error {
	r.mu.Lock()
	g := r.groups[groupKey{env, app}]
	if g == nil {
		r.mu.Unlock()
		return spacepods.Errorf(spacepods.ENOTFOUND, "no target group for app %s in environment %s", app, env)
	}
	r.deleteGroupLocked(g)
	snap := r.changedLocked()
	r.mu.Unlock()
	r.log.Info("target group deleted", "env", env, "app", app)
	return r.persist(snap)
}

func (r *Router) deleteGroupLocked(g *group) {
	delete(r.groups, groupKey{g.env, g.app})
	for _, t := range append(g.live, g.standby...) {
		r.drainLocked(g, t)
	}
	g.live, g.standby = nil, nil
}

// SetEnvironment declares that env exists, so that a request for an app it
// lacks gets "no app named x" rather than "no environment", and records the
// subnet of its containers ("" = none), from which InternalHandler admits
// calls to env's apps. Idempotent. Returns EINVALID for a bad name or subnet.
func (r *Router) SetEnvironment(env, subnet string) error {
	if err := spacepods.ValidateName("environment", env); err != nil {
		return err
	}
	p, hasNet, err := parseSubnet(subnet)
	if err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "subnet %q of environment %s: %v", subnet, env, err)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errClosed()
	}
	if r.envs[env] && r.nets[env] == p {
		r.mu.Unlock()
		return nil
	}
	r.envs[env] = true
	if hasNet {
		r.nets[env] = p
	} else {
		delete(r.nets, env)
	}
	snap := r.changedLocked()
	r.mu.Unlock()
	r.log.Info("environment set", "env", env, "subnet", subnet)
	return r.persist(snap)
}

// RemoveEnvironment forgets env and deletes all of its groups (their targets
// drain). Returns ENOTFOUND if env is neither declared nor has groups.
func (r *Router) RemoveEnvironment(env string) error {
	r.mu.Lock()
	found := r.envs[env]
	delete(r.envs, env)
	delete(r.nets, env)
	for k, g := range r.groups {
		if k.env == env {
			r.deleteGroupLocked(g)
			found = true
		}
	}
	if !found {
		r.mu.Unlock()
		return spacepods.Errorf(spacepods.ENOTFOUND, "no environment named %s", env)
	}
	snap := r.changedLocked()
	r.mu.Unlock()
	r.log.Info("environment removed", "env", env)
	return r.persist(snap)
}

// Environments lists the declared environments and those that have groups.
func (r *Router) Environments() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	set := make(map[string]bool, len(r.envs))
	for e := range r.envs {
		set[e] = true
	}
	for k := range r.groups {
		set[k.env] = true
	}
	envs := make([]string, 0, len(set))
	for e := range set {
		envs = append(envs, e)
	}
	slices.Sort(envs)
	return envs
}

// Groups returns every group with per-target health and counters, sorted by
// environment and app.
func (r *Router) Groups() []GroupStatus {
	r.mu.RLock()
	out := make([]GroupStatus, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, r.statusLocked(g))
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b GroupStatus) int {
		return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.App, b.App))
	})
	return out
}

// Stats returns the status of one group. Returns ENOTFOUND if there is none.
func (r *Router) Stats(env, app string) (GroupStatus, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	g := r.groups[groupKey{env, app}]
	if g == nil {
		return GroupStatus{}, spacepods.Errorf(spacepods.ENOTFOUND, "no target group for app %s in environment %s", app, env)
	}
	return r.statusLocked(g), nil
}

func (r *Router) statusLocked(g *group) GroupStatus {
	s := GroupStatus{
		Environment:     g.env,
		App:             g.app,
		Host:            r.Host(g.env, g.app),
		HealthPath:      g.healthPath,
		Targets:         make([]TargetStatus, 0, len(g.live)+len(g.standby)+len(g.draining)),
		Requests:        g.requests.Load(),
		Responses5xx:    g.responses5xx.Load(),
		TransportErrors: g.transportErrors.Load(),
		InFlight:        g.inflight.Load(),
		RouterErrors:    g.routerErrors.Load(),
		Asleep:          g.asleep,
		LastRequest:     g.lastRequestTime(),
	}
	add := func(t *target, state string) {
		s.Targets = append(s.Targets, TargetStatus{
			Addr:            t.addr,
			Weight:          t.weight,
			State:           state,
			Healthy:         t.healthy.Load(),
			Requests:        t.requests.Load(),
			Responses5xx:    t.responses5xx.Load(),
			TransportErrors: t.transportErrors.Load(),
			InFlight:        t.inflight.Load(),
			LastError:       t.lastError(),
		})
	}
	for _, t := range g.live {
		if t.healthy.Load() {
			add(t, StateHealthy)
			if t.weight > 0 {
				s.HealthyTargets++
			}
		} else {
			add(t, StateUnhealthy)
		}
	}
	for _, t := range g.standby {
		add(t, StateStandby)
	}
	for _, t := range g.draining {
		add(t, StateDraining)
	}
	return s
}

// Close stops health checks, cuts requests still running and waits for the
// router's goroutines. Serve no more requests through r after Close.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	for _, g := range r.groups {
		for _, ts := range [][]*target{g.live, g.standby, g.draining} {
			for _, t := range ts {
				t.drop(true)
			}
		}
	}
	r.mu.Unlock()
	return nil
}

// WaitChecked waits until every target has had its first health verdict, or
// ctx ends: restored targets get a chance to be healthy before traffic comes.
func (r *Router) WaitChecked(ctx context.Context) error {
	r.mu.RLock()
	var chans []chan struct{}
	for _, g := range r.groups {
		for _, t := range g.live {
			chans = append(chans, t.checked)
		}
	}
	r.mu.RUnlock()
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func errClosed() error {
	return spacepods.Errorf(spacepods.EUNAVAILABLE, "the router is shutting down")
}
