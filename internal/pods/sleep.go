package pods

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Sleep when idle, wake on the first request.
//
// A pod's web app that has had no request through the edge router (users'
// requests and its fellow apps' calls through the internal listener alike)
// for the pod's idle timeout sleeps: the sleeper records it asleep, sets its
// router group asleep (no targets: they drain) and suspends its services
// (runtime.Suspender: Docker stops the containers and keeps them;
// Kubernetes scales to zero). Databases and config stay. Worker-only apps,
// masters and keep-awake pods never sleep.
//
// The router holds a request to an asleep app and asks for a wake, which
// the control plane long-polls (router.Client.WaitWakes). The wake resumes
// the app and every asleep app it depends on, waits until their replicas
// are healthy, routes them awake in the manifest's start order (dependencies
// first), waits for the router's own health check, and releases the held
// requests (FinishWake): forwarded, or answered with a page that names the
// app and the reason. One wake per environment runs at a time; concurrent
// first requests share the router's one wake request.
//
// The state lives in the store (app_sleep), so a restarted control plane
// keeps asleep apps asleep and picks up the wakes still pending at the
// router.

// SleepRouter is what sleeping and waking need of the edge router
// (*router.Client has it).
type SleepRouter interface {
	SetGroup(ctx context.Context, env, app string, g router.GroupSpec) error
	Stats(ctx context.Context, env, app string) (router.GroupStatus, error)
	WaitHealthy(ctx context.Context, env, app string, addrs ...string) error
	Activity(ctx context.Context) ([]router.Activity, error)
	WaitWakes(ctx context.Context, after uint64, wait time.Duration) ([]router.WakeRequest, error)
	FinishWake(ctx context.Context, env, app, errMsg string) error
}

var _ SleepRouter = (*router.Client)(nil)

// Defaults of sleeping and waking.
const (
	// DefaultIdleTimeout is the server's --idle-timeout.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultWakeHealthTimeout bounds how long a woken app may take to be
	// healthy again.
	DefaultWakeHealthTimeout = 90 * time.Second
	wakePoll                 = 25 * time.Second // one long poll of the router's wake requests
)

// sleepState is the sleeper's memory; the store holds what must survive.
type sleepState struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex // env → held while one of its apps sleeps or wakes
	// awake is when the sleeper last saw each app (env/app) awake with no
	// record of a request: the idle clock of an app the router has seen no
	// request for since it (or the control plane) started.
	awake map[string]time.Time
}

func (st *sleepState) lock(env string) func() {
	st.mu.Lock()
	if st.locks == nil {
		st.locks = map[string]*sync.Mutex{}
	}
	m := st.locks[env]
	if m == nil {
		m = &sync.Mutex{}
		st.locks[env] = m
	}
	st.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// awakeSince returns when app was first seen awake (now, the first time).
func (st *sleepState) awakeSince(key string, now time.Time) time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.awake == nil {
		st.awake = map[string]time.Time{}
	}
	t, ok := st.awake[key]
	if !ok {
		st.awake[key] = now
		return now
	}
	return t
}

func (st *sleepState) setAwake(key string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.awake == nil {
		st.awake = map[string]time.Time{}
	}
	st.awake[key] = now
}

// sleepParts returns the router and driver abilities sleep needs, or an
// error that says why this control plane cannot put apps to sleep.
func (s *Service) sleepParts() (SleepRouter, runtime.Suspender, error) {
	r, ok := s.Router.(SleepRouter)
	if !ok || s.Router == nil {
		return nil, nil, spacepods.Errorf(spacepods.EINVALID, "apps sleep only behind Spacepods' edge router, and this server routes app hosts another way")
	}
	sus, ok := s.Driver.(runtime.Suspender)
	if !ok {
		return nil, nil, spacepods.Errorf(spacepods.EINVALID, "the %s runtime cannot put apps to sleep", s.Driver.Name())
	}
	return r, sus, nil
}

// idleTimeout returns the timeout in force for a pod (0: it never sleeps).
func (s *Service) idleTimeout(set spacepods.SleepSettings) time.Duration {
	if set.KeepAwake {
		return 0
	}
	if set.IdleTimeout > 0 {
		return set.IdleTimeout
	}
	return max(s.IdleTimeout, 0)
}

// ParseIdleTimeout parses a pod's --idle-timeout ("" = the server's).
func ParseIdleTimeout(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "idle timeout %q is not a duration: write e.g. 30m or 2h (or pass --keep-awake for a pod that never sleeps)", v)
	}
	if d < time.Second {
		return 0, spacepods.Errorf(spacepods.EINVALID, "idle timeout %s is under a second: write e.g. 30m", d)
	}
	return d, nil
}

// recordSleepSettings stores a new pod's sleep settings (called by Create).
func (s *Service) recordSleepSettings(ctx context.Context, req spacepods.CreatePodRequest) error {
	d, err := ParseIdleTimeout(req.IdleTimeout)
	if err != nil {
		return err
	}
	return s.Store.SetPodSleep(ctx, req.Name, spacepods.SleepSettings{IdleTimeout: d, KeepAwake: req.KeepAwake})
}

// sleepable returns the apps of env that may sleep: web apps with a live
// release (worker-only apps never sleep), in start order.
func (s *Service) sleepable(ctx context.Context, env string) ([]spacepods.EnvApp, error) {
	apps, err := s.Store.EnvApps(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []spacepods.EnvApp
	for _, ea := range apps {
		app, err := s.Catalog.Get(ctx, ea.App)
		if err != nil {
			return nil, err
		}
		if app.Kind == spacepods.KindWeb && ea.Release > 0 {
			out = append(out, ea)
		}
	}
	return out, nil
}

// asleep returns env's apps recorded asleep for their live release.
func (s *Service) asleep(ctx context.Context, env string) (map[string]spacepods.AppSleep, error) {
	states, err := s.Store.SleepStates(ctx, env)
	if err != nil {
		return nil, err
	}
	if st := states[env]; st != nil {
		return st.Asleep, nil
	}
	return map[string]spacepods.AppSleep{}, nil
}

// servicesOf returns the services of app's release in env (web and
// worker processes).
func (s *Service) servicesOf(ctx context.Context, env, app string, release int) ([]runtime.ServiceStatus, error) {
	all, err := s.Driver.ListServices(ctx, env)
	if err != nil {
		return nil, err
	}
	var out []runtime.ServiceStatus
	for _, svc := range all {
		if svc.App == app && svc.Release == release {
			out = append(out, svc)
		}
	}
	return out, nil
}

// sleepablePod returns env if it is a pod whose apps may sleep now.
func (s *Service) sleepablePod(ctx context.Context, name string) (spacepods.Environment, error) {
	env, err := s.Store.GetEnvironment(ctx, name)
	if err != nil {
		return env, err
	}
	if env.Kind != spacepods.EnvPod {
		return env, spacepods.Errorf(spacepods.EINVALID, "%s is a master environment: masters never sleep", name)
	}
	if env.Status != spacepods.StatusReady && env.Status != spacepods.StatusFailed {
		return env, spacepods.Errorf(spacepods.ECONFLICT, "pod %s is %s: wait until it is ready (see `spacepods pod show %s`)", name, env.Status, name)
	}
	return env, nil
}

// Sleep puts a pod's web apps to sleep now (app "" = every one of them),
// whatever their idle time and the pod's keep-awake flag: `pod sleep`.
// EINVALID for a master, a worker-only app, or a server that cannot put
// apps to sleep.
func (s *Service) Sleep(ctx context.Context, name, app string) (spacepods.EnvironmentView, error) {
	if _, _, err := s.sleepParts(); err != nil {
		return spacepods.EnvironmentView{}, err
	}
	if _, err := s.sleepablePod(ctx, name); err != nil {
		return spacepods.EnvironmentView{}, err
	}
	apps, err := s.sleepable(ctx, name)
	if err != nil {
		return spacepods.EnvironmentView{}, err
	}
	if app != "" {
		i := slices.IndexFunc(apps, func(a spacepods.EnvApp) bool { return a.App == app })
		if i < 0 {
			return spacepods.EnvironmentView{}, spacepods.Errorf(spacepods.EINVALID, "%s has no web app %s that could sleep (worker-only apps never do): see `spacepods pod show %s`", name, app, name)
		}
		apps = apps[i : i+1]
	}
	if len(apps) == 0 {
		return spacepods.EnvironmentView{}, spacepods.Errorf(spacepods.EINVALID, "pod %s has no web app that could sleep (worker-only apps never do)", name)
	}
	reason := "put to sleep by " + spacepods.ActorName(ctx)
	for _, ea := range slices.Backward(apps) { // dependents first
		if err := s.sleepApp(ctx, name, ea.App, reason); err != nil {
			return spacepods.EnvironmentView{}, err
		}
	}
	return s.Show(ctx, name)
}

// Wake wakes a pod's asleep apps now: `pod wake`.
func (s *Service) Wake(ctx context.Context, name string) (spacepods.EnvironmentView, error) {
	if _, _, err := s.sleepParts(); err != nil {
		return spacepods.EnvironmentView{}, err
	}
	if _, err := s.sleepablePod(ctx, name); err != nil {
		return spacepods.EnvironmentView{}, err
	}
	asleep, err := s.asleep(ctx, name)
	if err != nil {
		return spacepods.EnvironmentView{}, err
	}
	var apps []string
	for a := range asleep {
		apps = append(apps, a)
	}
	if err := s.wake(ctx, name, apps, "woken by "+spacepods.ActorName(ctx), time.Now()); err != nil {
		return spacepods.EnvironmentView{}, err
	}
	return s.Show(ctx, name)
}

// sleepApp puts one app to sleep: recorded first, so that a crash midway
// leaves it asleep and wakeable (waking is idempotent); then its route is
// made asleep (its targets drain), then its services are suspended.
func (s *Service) sleepApp(ctx context.Context, env, app, reason string) error {
	rt, sus, err := s.sleepParts()
	if err != nil {
		return err
	}
	defer s.sleep.lock(env)()
	ea, err := s.Store.GetEnvApp(ctx, env, app)
	if err != nil {
		return err
	}
	if ea.Status != "healthy" {
		return spacepods.Errorf(spacepods.ECONFLICT, "%s in %s is %s: it sleeps once it is deployed and healthy (see `spacepods pod show %s`)", app, env, ea.Status, env)
	}
	if recs, err := s.asleep(ctx, env); err != nil {
		return err
	} else if _, ok := recs[app]; ok {
		return nil
	}
	a, err := s.Catalog.Get(ctx, app)
	if err != nil {
		return err
	}
	svcs, err := s.servicesOf(ctx, env, app, ea.Release)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := s.Store.MarkAsleep(ctx, spacepods.AppSleep{Env: env, App: app, Release: ea.Release, Since: s.Store.Now(), Reason: reason}); err != nil {
		return err
	}
	if err := rt.SetGroup(ctx, env, app, router.GroupSpec{HealthPath: a.Health, Asleep: true}); err != nil {
		return s.sleepFailed(ctx, env, app, fmt.Errorf("router: %w", err))
	}
	s.waitIdle(ctx, rt, env, app)
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Go(func() { errs[i] = sus.SuspendService(ctx, env, svc.Name) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return s.sleepFailed(ctx, env, app, err)
	}
	s.event(ctx, env, app, "info", "sleeping: %s (%d services stopped in %s; a request to %s wakes it)",
		reason, len(svcs), time.Since(start).Round(time.Millisecond), hostOf(s.Engine, env, app))
	return nil
}

// sleepFailed undoes a sleep that could not be completed: the app is
// woken again (its route restored), and the error is told.
func (s *Service) sleepFailed(ctx context.Context, env, app string, cause error) error {
	s.event(ctx, env, app, "error", "sleep failed: %s: waking it again", spacepods.ErrorMessage(cause))
	if err := s.wakeLocked(ctx, env, []string{app}, "woken after a failed sleep", time.Now()); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// waitIdle waits (at most 10 s) until the app has no request in flight at
// the router: its drained targets finish what they serve before they stop.
func (s *Service) waitIdle(ctx context.Context, rt SleepRouter, env, app string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := rt.Stats(ctx, env, app)
		if err != nil || st.InFlight == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func hostOf(e *deploy.Engine, env, app string) string {
	if e == nil {
		return app + "." + env
	}
	u := e.URL(env, app)
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	return u
}

// wake wakes apps of env and the asleep apps they depend on.
func (s *Service) wake(ctx context.Context, env string, apps []string, cause string, since time.Time) error {
	defer s.sleep.lock(env)()
	return s.wakeLocked(ctx, env, apps, cause, since)
}

// wakeLocked wakes apps and their asleep dependencies: it resumes their
// services together (as pod create starts them), waits until they are
// healthy, routes them awake in start order (dependencies first), waits for
// the router's health check, and records them awake. since is when the
// wake was asked for (the first held request came). Caller holds the
// environment's sleep lock.
func (s *Service) wakeLocked(ctx context.Context, env string, apps []string, cause string, since time.Time) error {
	rt, sus, err := s.sleepParts()
	if err != nil {
		return err
	}
	asleep, err := s.asleep(ctx, env)
	if err != nil {
		return err
	}
	var order []string
	if len(apps) > 0 {
		if order, err = s.Catalog.Closure(ctx, apps); err != nil {
			return err
		}
	}
	// The apps asked for are woken even when not recorded asleep: a route
	// left asleep by a crash is made awake again.
	var todo []string
	for _, a := range order {
		if _, ok := asleep[a]; ok || slices.Contains(apps, a) {
			todo = append(todo, a)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	type part struct {
		app     spacepods.App
		release int
		svcs    []runtime.ServiceStatus
		web     []runtime.ServiceStatus // what requests need
		workers []runtime.ServiceStatus // its worker processes: started once requests flow
	}
	parts := make([]part, 0, len(todo))
	for _, name := range todo {
		ea, err := s.Store.GetEnvApp(ctx, env, name)
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			continue // a dependency outside the pod
		} else if err != nil {
			return err
		}
		a, err := s.Catalog.Get(ctx, name)
		if err != nil {
			return err
		}
		svcs, err := s.servicesOf(ctx, env, name, ea.Release)
		if err != nil {
			return err
		}
		if len(svcs) == 0 {
			return spacepods.Errorf(spacepods.ENOTFOUND, "%s has no services of its release %d left on the runtime (removed while it slept?): redeploy it with `spacepods pod update %s`", name, ea.Release, env)
		}
		p := part{app: a, release: ea.Release, svcs: svcs}
		for _, svc := range svcs {
			if svc.Role == runtime.RoleWeb {
				p.web = append(p.web, svc)
			} else {
				p.workers = append(p.workers, svc)
			}
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return spacepods.Errorf(spacepods.ENOTFOUND, "environment %s has no app %s", env, strings.Join(apps, ", "))
	}
	start := time.Now()
	web := make([][]runtime.ServiceStatus, len(parts))
	for i, p := range parts {
		web[i] = p.web
	}
	started, healthy, err := s.resumeAll(ctx, env, sus, start, web)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	// Routed in start order (dependencies first); the router's own first
	// health checks, which run at once, are then awaited together.
	routed := time.Now()
	waits := make([]func() error, 0, len(parts))
	for _, p := range parts {
		if p.app.Kind != spacepods.KindWeb {
			continue
		}
		var targets []router.TargetSpec
		for _, svc := range p.svcs {
			if svc.Role != runtime.RoleWeb {
				continue
			}
			ts, err := deploy.Targets(ctx, s.Driver, env, svc.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", p.app.Name, err)
			}
			targets = append(targets, ts...)
		}
		if err := rt.SetGroup(ctx, env, p.app.Name, router.GroupSpec{HealthPath: p.app.Health, Targets: targets}); err != nil {
			return fmt.Errorf("%s: router: %w", p.app.Name, err)
		}
		waits = append(waits, func() error { return s.waitRouted(ctx, rt, env, p.app.Name, targets) })
	}
	errs := make([]error, len(waits))
	for i, w := range waits {
		wg.Go(func() { errs[i] = w() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Requests held for any of them go on before anything is recorded:
	// a crash in between leaves an awake app recorded asleep, which the
	// next start puts back to sleep, and nothing worse.
	for _, p := range parts {
		if p.app.Kind == spacepods.KindWeb {
			if err := rt.FinishWake(ctx, env, p.app.Name, ""); err != nil {
				s.Logger.Warn("release the requests held for a woken app", "env", env, "app", p.app.Name, "err", err)
			}
		}
	}
	took := time.Since(since).Round(time.Millisecond)
	routing := time.Since(routed).Round(time.Millisecond)
	for i, p := range parts {
		if err := s.Store.MarkAwake(ctx, env, p.app.Name); err != nil {
			return err
		}
		s.sleep.setAwake(env+"/"+p.app.Name, time.Now())
		if _, ok := asleep[p.app.Name]; ok {
			s.event(ctx, env, p.app.Name, "info", "%s in %s (containers started in %s, healthy in %s; routed in %s)",
				cause, took, started[i].Round(time.Millisecond), healthy[i].Round(time.Millisecond), routing)
		}
	}
	workers := make([][]runtime.ServiceStatus, len(parts))
	for i, p := range parts {
		workers[i] = p.workers
	}
	if _, _, err := s.resumeAll(ctx, env, sus, time.Now(), workers); err != nil {
		// Requests are served already: the wake stands, and says what is missing.
		s.event(ctx, env, "", "error", "woken, but a worker process did not start: %s", spacepods.ErrorMessage(err))
	}
	return nil
}

// waitRouted waits until the router's health check passes for every target
// of a woken app. It polls more often than router.Client.WaitHealthy: the
// router checks new targets at once, and the held requests wait on this.
func (s *Service) waitRouted(ctx context.Context, rt SleepRouter, env, app string, targets []router.TargetSpec) error {
	addrs := make([]string, len(targets))
	for i, t := range targets {
		addrs[i] = t.Addr
	}
	deadline := time.Now().Add(s.wakeHealthTimeout())
	for pause := 5 * time.Millisecond; ; pause = min(pause*2, 100*time.Millisecond) {
		st, err := rt.Stats(ctx, env, app)
		if err == nil && st.AllHealthy(addrs...) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			// The client's wait says which targets fail and why.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			if err := rt.WaitHealthy(wctx, env, app, addrs...); err != nil {
				return fmt.Errorf("%s: %s", app, spacepods.ErrorMessage(err))
			}
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// resumeAll starts groups[i] (the services of one app) all at once and
// waits until they are healthy; started and healthy are each group's times
// since start.
func (s *Service) resumeAll(ctx context.Context, env string, sus runtime.Suspender, start time.Time, groups [][]runtime.ServiceStatus) (started, healthy []time.Duration, err error) {
	started, healthy = make([]time.Duration, len(groups)), make([]time.Duration, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, svcs := range groups {
		if len(svcs) == 0 {
			continue
		}
		wg.Go(func() {
			serrs := make([]error, len(svcs))
			var swg sync.WaitGroup
			for j, svc := range svcs {
				swg.Go(func() { serrs[j] = sus.ResumeService(ctx, env, svc.Name) })
			}
			swg.Wait()
			for j, err := range serrs {
				if err != nil {
					errs[i] = fmt.Errorf("%s: start %s: %s", svcs[j].App, svcs[j].Name, spacepods.ErrorMessage(err))
					return
				}
			}
			started[i] = time.Since(start)
			errs[i] = s.waitServicesHealthy(ctx, env, svcs[0].App, svcs)
			healthy[i] = time.Since(start)
		})
	}
	wg.Wait()
	return started, healthy, errors.Join(errs...)
}

func (s *Service) wakeHealthTimeout() time.Duration {
	if s.WakeHealthTimeout > 0 {
		return s.WakeHealthTimeout
	}
	return DefaultWakeHealthTimeout
}

// waitServicesHealthy waits until every replica of svcs runs and (web
// services) passes its health check, failing at once on a crash.
func (s *Service) waitServicesHealthy(ctx context.Context, env, app string, svcs []runtime.ServiceStatus) error {
	ctx, cancel := context.WithTimeout(ctx, s.wakeHealthTimeout())
	defer cancel()
	var last runtime.ServiceStatus
	for _, svc := range svcs {
		for pause := 10 * time.Millisecond; ; pause = min(pause*2, 50*time.Millisecond) {
			st, err := s.Driver.ServiceStatus(ctx, env, svc.Name)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("%s: %s", app, spacepods.ErrorMessage(err))
			}
			last = st
			n := st.Running
			if st.Role == runtime.RoleWeb {
				n = st.Healthy
			}
			if st.Desired > 0 && n >= st.Desired {
				break
			}
			for _, r := range st.Replicas {
				if r.Crashes > 0 && !r.Running {
					return fmt.Errorf("%s: %s exited after it was woken: %s", app, r.ID, r.Error)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
				continue
			}
			break
		}
		if ctx.Err() != nil {
			why := ""
			for _, r := range last.Replicas {
				if r.Error != "" {
					why = ": " + r.Error
				}
			}
			return fmt.Errorf("%s: %s not healthy within %s of its start%s", app, svc.Name, s.wakeHealthTimeout(), why)
		}
	}
	return nil
}

// StartSleeper runs the sleeper until ctx ends: every `every` it puts apps
// idle for their pod's timeout to sleep, and it long-polls the router's wake
// requests. First it makes sure every app recorded asleep is asleep at the
// router (a router restarted without its snapshot) and on the runtime.
// EINVALID when the server cannot put apps to sleep.
func (s *Service) StartSleeper(ctx context.Context, every time.Duration) error {
	rt, sus, err := s.sleepParts()
	if err != nil {
		return err
	}
	if every <= 0 {
		every = 30 * time.Second
	}
	recs, err := s.Store.AsleepApps(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range recs {
		s.reconcileAsleep(ctx, rt, sus, r)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pollWakes(ctx, rt)
	}()
	s.every(ctx, every, func(ctx context.Context) { s.SleepIdle(ctx) })
	return nil
}

// reconcileAsleep makes an app recorded asleep asleep at the router and on
// the runtime again, if it is not.
func (s *Service) reconcileAsleep(ctx context.Context, rt SleepRouter, sus runtime.Suspender, r spacepods.AppSleep) {
	asleep, err := s.asleep(ctx, r.Env)
	if _, ok := asleep[r.App]; err != nil || !ok {
		return // a stale record of an older release
	}
	if st, err := rt.Stats(ctx, r.Env, r.App); err == nil && st.Asleep {
		return
	}
	a, err := s.Catalog.Get(ctx, r.App)
	if err != nil {
		return
	}
	if err := rt.SetGroup(ctx, r.Env, r.App, router.GroupSpec{HealthPath: a.Health, Asleep: true}); err != nil {
		s.Logger.Warn("make an asleep app asleep at the router again", "env", r.Env, "app", r.App, "err", err)
		return
	}
	svcs, err := s.servicesOf(ctx, r.Env, r.App, r.Release)
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if err := sus.SuspendService(ctx, r.Env, svc.Name); err != nil {
			s.Logger.Warn("suspend an asleep app's service again", "env", r.Env, "service", svc.Name, "err", err)
		}
	}
}

// pollWakes long-polls the router's wake requests and wakes each app.
func (s *Service) pollWakes(ctx context.Context, rt SleepRouter) {
	var after uint64
	for ctx.Err() == nil {
		ws, err := rt.WaitWakes(ctx, after, wakePoll)
		if err != nil {
			if ctx.Err() == nil {
				s.Logger.Warn("poll the edge router's wake requests", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		for _, w := range ws {
			after = max(after, w.Seq)
			s.wg.Go(func() { s.wakeForRequest(ctx, rt, w) })
		}
	}
}

// wakeForRequest wakes the app a held request is for, and releases the
// held requests with the wake's error when it fails.
func (s *Service) wakeForRequest(ctx context.Context, rt SleepRouter, w router.WakeRequest) {
	var err error
	switch env, gerr := s.Store.GetEnvironment(ctx, w.Environment); {
	case gerr != nil:
		err = gerr
	case env.Status == spacepods.StatusCreating || env.Status == spacepods.StatusUpdating || env.Status == spacepods.StatusDestroying:
		err = spacepods.Errorf(spacepods.ECONFLICT, "pod %s is %s: try again once it is ready", w.Environment, env.Status)
	default:
		err = s.wake(ctx, w.Environment, []string{w.App}, "woken by a request to "+w.Host, w.Since)
	}
	if err == nil {
		return
	}
	if ctx.Err() != nil {
		return // the control plane is stopping: the router keeps the wake pending for the next one
	}
	msg := spacepods.ErrorMessage(err)
	s.event(ctx, w.Environment, w.App, "error", "wake failed (a request to %s is answered with an error page): %s", w.Host, msg)
	if err := rt.FinishWake(context.WithoutCancel(ctx), w.Environment, w.App, msg); err != nil {
		s.Logger.Warn("answer the requests held for an app that could not be woken", "env", w.Environment, "app", w.App, "err", err)
	}
}

// SleepIdle puts to sleep every app of a ready pod that has had no request
// through the router for the pod's idle timeout, and returns them
// ("env/app").
func (s *Service) SleepIdle(ctx context.Context) []string {
	rt, _, err := s.sleepParts()
	if err != nil {
		return nil
	}
	acts, err := rt.Activity(ctx)
	if err != nil {
		s.Logger.Warn("sleeper: read the router's activity", "err", err)
		return nil
	}
	last := map[string]time.Time{}
	for _, a := range acts {
		t := a.Since
		if a.LastRequest != nil {
			t = latest(t, *a.LastRequest)
		}
		last[a.Environment+"/"+a.App] = t
	}
	envs, err := s.Store.ListEnvironments(ctx, spacepods.EnvPod)
	if err != nil {
		s.Logger.Warn("sleeper: list pods", "err", err)
		return nil
	}
	now := time.Now()
	var slept []string
	for _, e := range envs {
		if e.Status != spacepods.StatusReady {
			continue
		}
		set, err := s.Store.PodSleep(ctx, e.Name)
		if err != nil {
			continue
		}
		timeout := s.idleTimeout(set)
		if timeout <= 0 {
			continue
		}
		apps, err := s.sleepable(ctx, e.Name)
		if err != nil {
			continue
		}
		asleep, err := s.asleep(ctx, e.Name)
		if err != nil {
			continue
		}
		for _, ea := range slices.Backward(apps) { // dependents first
			if _, ok := asleep[ea.App]; ok || ea.Status != "healthy" {
				continue
			}
			key := e.Name + "/" + ea.App
			seen := s.sleep.awakeSince(key, now)
			idleFrom := latest(last[key], seen, ea.UpdatedAt)
			if now.Sub(idleFrom) < timeout {
				continue
			}
			if err := s.sleepApp(ctx, e.Name, ea.App, "idle "+timeout.String()); err != nil {
				s.Logger.Warn("sleeper: put an idle app to sleep", "env", e.Name, "app", ea.App, "err", err)
				continue
			}
			slept = append(slept, key)
		}
	}
	return slept
}

// sleepView fills what pod list and pod show say of a pod's sleep from
// its state in the store (nil: nothing recorded).
func (s *Service) sleepView(env *spacepods.Environment, apps []spacepods.EnvApp, st *store.SleepState) {
	if env.Kind != spacepods.EnvPod {
		return
	}
	if st == nil {
		st = &store.SleepState{}
	}
	v := &spacepods.PodSleep{State: spacepods.SleepAwake, KeepAwake: st.Settings.KeepAwake, IdleTimeout: "off"}
	if d := s.idleTimeout(st.Settings); d > 0 {
		v.IdleTimeout = d.String()
	}
	for name, r := range st.Asleep {
		v.Asleep = append(v.Asleep, name)
		if r.Since.After(v.Since) {
			v.Since = r.Since
		}
	}
	slices.Sort(v.Asleep)
	switch {
	case len(v.Asleep) == 0:
	case len(v.Asleep) >= st.WebApps:
		v.State = spacepods.SleepAsleep
	default:
		v.State = spacepods.SleepPartly
	}
	env.Sleep = v
	for i := range apps {
		if r, ok := st.Asleep[apps[i].App]; ok {
			since := r.Since
			apps[i].AsleepSince = &since
		}
	}
}

// showSleep fills the sleep of one pod whose apps are read (pod show), in
// one query: live pages look at it on every change.
func (s *Service) showSleep(ctx context.Context, env *spacepods.Environment, apps []spacepods.EnvApp) {
	set, recs, err := s.Store.PodSleepRecord(ctx, env.Name)
	if err != nil {
		s.Logger.Warn("read the pod's sleep state", "env", env.Name, "err", err)
		return
	}
	s.sleepView(env, apps, store.SleepStateOf(set, recs, apps))
}

// sleepViews fills the sleep of every pod of envs, in a few queries.
func (s *Service) sleepViews(ctx context.Context, envs []spacepods.Environment, env string) {
	states, err := s.Store.SleepStates(ctx, env)
	if err != nil {
		s.Logger.Warn("read the pods' sleep state", "err", err)
		return
	}
	for i := range envs {
		s.sleepView(&envs[i], nil, states[envs[i].Name])
	}
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
