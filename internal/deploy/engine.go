// Package deploy is the deploy engine: the seed's five-step deploy script
// made durable. Pods and master environments both go through it, so they
// stay in parity:
//
//  1. clear stale services of (environment, app) left by a failed deploy;
//  2. register a release (an immutable, numbered task definition);
//  3. run the migration command as a one-off task;
//  4. create the new service and its routing;
//  5. roll out in stages (scale new up, old down), then delete the old.
//
// Every step is persisted before and after it runs. On any failure the old
// service's count is restored, the new one discarded and the deploy marked
// rolled back, keeping the failing output. A control plane killed mid-deploy
// rolls that deploy back on its next start, finding containers by labels.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Store is what the engine keeps in the store: *store.Store, or in tests a
// wrapper that fails where told. The store is the truth about every deploy:
// a deploy whose progress cannot be written stops where it is and is
// recovered once the store answers again (see recoverDeploy).
type Store interface {
	GetEnvironment(ctx context.Context, name string) (spacepods.Environment, error)
	GetEnvApp(ctx context.Context, env, app string) (spacepods.EnvApp, error)
	PutEnvApp(ctx context.Context, a spacepods.EnvApp) error
	AddRelease(ctx context.Context, r spacepods.Release) (spacepods.Release, error)
	GetRelease(ctx context.Context, env, app string, number int) (spacepods.Release, error)
	CreateDeploy(ctx context.Context, d spacepods.Deploy) (spacepods.Deploy, error)
	SaveDeploy(ctx context.Context, d spacepods.Deploy) error
	GetDeploy(ctx context.Context, id int64) (spacepods.Deploy, error)
	ListDeploys(ctx context.Context, env, app string, limit int) ([]spacepods.Deploy, error)
	UnfinishedDeploys(ctx context.Context) ([]spacepods.Deploy, error)
	AddEvent(ctx context.Context, ev spacepods.Event) (spacepods.Event, error)
	Events(ctx context.Context, env string, deploy, after int64, limit int) ([]spacepods.Event, error)
	ProtectedSnapshot(ctx context.Context, name string) (store.ProtectedSnapshot, bool, error)
}

var _ Store = (*store.Store)(nil)

// Router is what the engine needs of the edge router.
type Router interface {
	SetGroup(ctx context.Context, env, app string, g router.GroupSpec) error
	DeleteGroup(ctx context.Context, env, app string) error
	Stats(ctx context.Context, env, app string) (router.GroupStatus, error)
}

// Options tune the rollout.
type Options struct {
	HealthTimeout time.Duration // per stage: new replicas must be healthy by then (default 90s)
	// CrashLoop fails a stage at once, rather than at HealthTimeout, when a
	// new replica that was never seen healthy has crashed this many times
	// (runtime.Replica.Crashes; default 2; negative: never). It counts
	// exits, not time, so it holds however slowly a loaded host restarts
	// the replica.
	CrashLoop int
	// CrashRestarts fails a stage at once when a new replica has been
	// restarted this many times, healthy in between or not (default 5;
	// negative: never).
	CrashRestarts  int
	Bake           time.Duration // per stage on master environments: watch the router's error rate (default 3s)
	ErrorThreshold float64       // failed share of the new targets' requests that fails a stage (default 0.05)
	Poll           time.Duration // default 200ms
	TaskTimeout    time.Duration // migrations whose manifest names no migrate_timeout (default 10m)
	// TaskProgress is how often a running migration reports its elapsed
	// time and latest output line as a deploy event (default 5s).
	TaskProgress time.Duration
	// StoreRetry is the first pause before the engine looks at a queue
	// again after the store failed; it doubles with each failure in a row,
	// up to 32 times itself (default 1s).
	StoreRetry time.Duration
	// PauseAt and PauseFor hold a step open after it starts: fault
	// injection for crash tests (SPACEPODS_TEST_DEPLOY_PAUSE=step=duration).
	PauseAt  string
	PauseFor time.Duration
	// OverlapPodMigrations starts a pod's new services while its migration
	// runs (nothing is routed before the migration passes). Faster pod
	// spin-up, but it departs from the script's order; off by default.
	OverlapPodMigrations bool
}

// Engine runs deploys.
type Engine struct {
	Store   Store
	Catalog *catalog.Service
	Driver  runtime.Driver
	Router  Router // the edge router, unless Ingress routes
	// Ingress, when set, routes app hosts through the runtime itself (a
	// Kubernetes Ingress per app host) instead of the edge router.
	Ingress runtime.Ingresser
	// Weighted, when set, routes app hosts through a router outside the
	// runtime that splits requests by weight between releases (an ALB),
	// instead of the edge router or Ingress.
	Weighted WeightedRouter
	// Databases makes the apps' databases (see EnsureDatabase); nil: an
	// app with a database fails to deploy (EUNAVAILABLE).
	Databases Databases
	// Config adds the apps' custom vars and secret references to releases
	// and resolves secrets at container start; nil: standard and manifest
	// vars only.
	Config *config.Service
	// Images pins each new release's image (digest or image ID) and makes
	// sure a release's image is on the runtime before it runs, pulling it
	// with progress in the deploy's events; nil: releases run their build's
	// image by tag.
	Images     Images
	Domain     string // host names are <app>.<env>.<Domain>
	RouterPort string // port of app URLs shown to users, e.g. "8080" ("" or "80": none)
	// InternalRouter, when set (Docker, with the edge router), is the
	// host:port of the router's internal listener. Apps then call their web
	// dependencies at http://<dep>.<env>.<domain>:<port>, a name their
	// containers resolve to that host (ServiceSpec.Hosts), so those calls
	// go only to healthy, admitted replicas, as users' requests do, rather
	// than to every running replica a network alias names.
	InternalRouter string
	Scheme         string // of app URLs: "http" (default) or "https" (TLS at the ingress)
	Options        Options
	Logger         *slog.Logger
	// Notifier is told when a deploy starts and ends; nil: nobody is.
	Notifier spacepods.Notifier
	// Now is the clock of deploy records; nil: time.Now in UTC.
	Now func() time.Time

	mu         sync.Mutex
	workers    map[string]*worker // env/app key → its running worker
	dirty      map[string]bool    // kicked while running: look again before exiting
	cancelling map[string]int     // env → CancelEnv calls in progress: start no worker
	unsaved    map[int64]unsaved  // deploys whose progress this process could not record
	ended      chan struct{}      // closed when a deploy of this process ends (see endSignal)
	wg         sync.WaitGroup
	base       context.Context

	stepHook func(ctx context.Context, d *spacepods.Deploy, step string) // tests: called as each step (and stage) starts
}

// worker runs the queue of one (environment, app).
type worker struct {
	env    string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// cancelled is the cause of a worker's context cancelled by CancelEnv.
type cancelled struct{ reason string }

func (c *cancelled) Error() string { return "cancelled: " + c.reason }

func (e *Engine) opts() Options {
	o := e.Options
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 90 * time.Second
	}
	if o.CrashLoop == 0 {
		o.CrashLoop = 2
	}
	if o.CrashRestarts == 0 {
		o.CrashRestarts = 5
	}
	if o.Bake == 0 {
		o.Bake = 3 * time.Second // negative: no bake
	}
	if o.ErrorThreshold == 0 {
		o.ErrorThreshold = 0.05
	}
	if o.Poll == 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.TaskTimeout == 0 {
		o.TaskTimeout = spacepods.DefaultTaskTimeout
	}
	if o.TaskProgress == 0 {
		o.TaskProgress = 5 * time.Second
	}
	if o.StoreRetry == 0 {
		o.StoreRetry = time.Second
	}
	return o
}

// storePause waits before the engine looks at the store again after its
// attempt-th failure in a row (0-based): StoreRetry, doubling up to 32
// times that. It returns false if ctx ends first.
func (e *Engine) storePause(ctx context.Context, attempt int) bool {
	d := e.opts().StoreRetry << min(attempt, 5)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Request asks for a deploy.
type Request struct {
	Env      string
	App      string
	Build    int // 0 with Rollback: the build of that release
	Rollback int // redeploy this earlier release (same artifact and config)
	// ConfirmVersion is an admin's confirmation of the changes the plan of
	// this deploy shows: the manifest version the plan was of (needed in a
	// protected environment when the manifest changes what runs: see Plan).
	ConfirmVersion int
}

// Start resumes what a previous process left: running deploys are rolled
// back (or completed when the new release was already live), then queued
// ones run in order. Both happen in the background, one worker per
// (environment, app). ctx bounds all background work.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	e.base = ctx
	e.workers, e.dirty, e.cancelling = map[string]*worker{}, map[string]bool{}, map[string]int{}
	if e.unsaved == nil {
		e.unsaved = map[int64]unsaved{}
	}
	e.mu.Unlock()
	ds, err := e.Store.UnfinishedDeploys(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		e.kick(d.Env, d.App)
	}
	return nil
}

// Wait blocks until every background deploy has stopped (after the
// context given to Start ends).
func (e *Engine) Wait() { e.wg.Wait() }

// Deploy validates and queues a deploy that a user asks for: to a master
// environment only. A pod takes no direct deploy (EINVALID): its builds
// change through the pods service (pod update), which keeps its plan.
func (e *Engine) Deploy(ctx context.Context, req Request) (spacepods.Deploy, error) {
	return e.submit(ctx, req, false)
}

// Submit validates and queues a deploy to any environment, pods included:
// the pods service's way in, and that of the redeploys of what already runs
// (Rollback, Promote, a config apply). It runs in order after earlier
// deploys of the same (environment, app).
func (e *Engine) Submit(ctx context.Context, req Request) (spacepods.Deploy, error) {
	return e.submit(ctx, req, true)
}

func (e *Engine) submit(ctx context.Context, req Request, toPod bool) (spacepods.Deploy, error) {
	env, err := e.Store.GetEnvironment(ctx, req.Env)
	if err != nil {
		return spacepods.Deploy{}, err
	}
	if env.Kind == spacepods.EnvPod && !toPod {
		return spacepods.Deploy{}, spacepods.Errorf(spacepods.EINVALID, "%s is a pod: pods take no direct deploys; change its builds with `spacepods pod update %s --build %s=%d` (or Update on the pod's page)", env.Name, env.Name, req.App, req.Build)
	}
	if env.Status == spacepods.StatusDestroying {
		return spacepods.Deploy{}, spacepods.Errorf(spacepods.ECONFLICT, "%s is being destroyed: nothing can be deployed to it", env.Name)
	}
	if env.Protected && !spacepods.ActorIsAdmin(ctx) {
		return spacepods.Deploy{}, spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: only admins may deploy there", env.Name)
	}
	if _, err := e.Catalog.Get(ctx, req.App); err != nil {
		return spacepods.Deploy{}, err
	}
	if req.Rollback > 0 {
		rel, err := e.Store.GetRelease(ctx, req.Env, req.App, req.Rollback)
		if err != nil {
			return spacepods.Deploy{}, err
		}
		req.Build = rel.Build
	}
	if _, err := e.Catalog.Build(ctx, req.App, req.Build); err != nil {
		return spacepods.Deploy{}, err
	}
	d := spacepods.Deploy{Env: req.Env, App: req.App, Build: req.Build, Rollback: req.Rollback > 0, Release: req.Rollback, Steps: newSteps()}
	if err := e.checkConfirmation(ctx, env, req, &d); err != nil {
		return spacepods.Deploy{}, err
	}
	d, err = e.Store.CreateDeploy(ctx, d)
	if err != nil {
		return d, err
	}
	e.event(ctx, &d, "info", fmt.Sprintf("queued: deploy build %d of %s to %s", d.Build, d.App, d.Env))
	e.kick(d.Env, d.App)
	return d, nil
}

func newSteps() []spacepods.DeployStep {
	steps := make([]spacepods.DeployStep, len(spacepods.DeploySteps))
	for i, n := range spacepods.DeploySteps {
		steps[i] = spacepods.DeployStep{Name: n, Status: "pending"}
	}
	return steps
}

// backoff returns the pause between two looks at something the deploy waits
// for (replicas turning healthy, the router's checks): 25 ms at first,
// doubling up to Options.Poll, so that what is quick is seen at once and
// what is slow is not asked about too often. It returns ctx's error if ctx
// ends first.
func (e *Engine) backoff() func(ctx context.Context) error {
	next, limit := 25*time.Millisecond, e.opts().Poll
	return func(ctx context.Context) error {
		d := min(next, limit)
		next *= 2
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
}

// WaitDeploy waits until the deploy has ended or ctx is done. It looks
// again as soon as a deploy run by this process ends, and every Poll for
// one another process runs.
func (e *Engine) WaitDeploy(ctx context.Context, id int64) (spacepods.Deploy, error) {
	for {
		ended := e.endSignal() // before the read: an end saved after it wakes us
		d, err := e.Store.GetDeploy(ctx, id)
		if err != nil || d.Done() {
			return d, err
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-ended:
		case <-time.After(e.opts().Poll):
		}
	}
}

// kick makes sure a worker runs the queue of (env, app).
func (e *Engine) kick(env, app string) {
	key := env + "/" + app
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.base == nil {
		return // not started: Start picks queued deploys up
	}
	if e.workers[key] != nil || e.cancelling[env] > 0 {
		e.dirty[key] = true
		return
	}
	e.startWorkerLocked(env, app, key)
}

func (e *Engine) startWorkerLocked(env, app, key string) {
	ctx, cancel := context.WithCancelCause(e.base)
	w := &worker{env: env, cancel: cancel, done: make(chan struct{})}
	e.workers[key] = w
	e.wg.Add(1)
	go e.work(ctx, w, env, app, key)
}

// work runs the deploys of one (env, app), oldest first, one at a time: a
// deploy a previous process left running (or that this one could not
// record) is recovered first. When the store fails, the queue stays where
// it is and the worker looks again after a pause (storePause), so that
// store trouble never strands a queued deploy.
func (e *Engine) work(ctx context.Context, w *worker, env, app, key string) {
	defer e.wg.Done()
	defer close(w.done)
	defer w.cancel(nil)
	failures := 0 // store failures in a row
	var lastRecovered int64
	for {
		e.mu.Lock()
		e.dirty[key] = false
		e.mu.Unlock()
		d, ok, err := e.next(ctx, env, app)
		switch {
		case err != nil:
			e.Logger.Error("list queued deploys; trying again", "env", env, "app", app, "err", err, "failures", failures+1)
		case ok && d.Status == spacepods.DeployRunning && d.ID == lastRecovered:
			// Recovery said it recorded an end, yet the deploy still
			// runs: do not spin on it.
			err = fmt.Errorf("deploy %d still running after its recovery", d.ID)
			e.Logger.Error("deploy still running after its recovery; trying again", "deploy", d.ID, "env", env, "app", app)
		case ok && d.Status == spacepods.DeployRunning:
			if err = e.recoverDeploy(ctx, d); err == nil {
				lastRecovered = d.ID
			}
		case ok:
			lastRecovered = 0
			err = e.execute(ctx, &d)
		}
		if err != nil && ctx.Err() == nil {
			if e.storePause(ctx, failures) {
				failures++
				continue
			}
		} else if err == nil {
			failures = 0
		}
		if ok && ctx.Err() == nil {
			continue
		}
		e.mu.Lock()
		if e.dirty[key] && ctx.Err() == nil {
			e.mu.Unlock()
			continue
		}
		delete(e.workers, key)
		// Kicked after CancelEnv stopped this worker: a new one takes over,
		// now or (while CancelEnv still runs) when it ends.
		restart := e.dirty[key] && e.base.Err() == nil && e.cancelling[env] == 0
		if !e.dirty[key] || e.cancelling[env] == 0 {
			delete(e.dirty, key)
		}
		if restart {
			e.startWorkerLocked(env, app, key)
		}
		e.mu.Unlock()
		return
	}
}

// next returns the oldest unfinished deploy of (env, app): a running one
// (left by a previous process, or stopped by store trouble) or the first
// queued. ok is false when there is none; err says the store failed.
func (e *Engine) next(ctx context.Context, env, app string) (d spacepods.Deploy, ok bool, err error) {
	if ctx.Err() != nil {
		return d, false, nil
	}
	ds, err := e.Store.UnfinishedDeploys(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return d, false, nil
		}
		return d, false, err
	}
	for _, d := range ds {
		if d.Env == env && d.App == app {
			return d, true, nil
		}
	}
	return d, false, nil
}

// CancelEnv stops every deploy of env, for a destroy or a pod's wipe: the
// running one stops where it is, without a rollback (the caller removes
// everything of env), and it and the queued ones end as cancelled with
// reason. It returns once no deploy of env runs.
func (e *Engine) CancelEnv(ctx context.Context, env, reason string) error {
	e.mu.Lock()
	if e.base == nil {
		e.mu.Unlock()
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the deploy engine is not running")
	}
	e.cancelling[env]++
	var running []*worker
	for _, w := range e.workers {
		if w.env == env {
			w.cancel(&cancelled{reason: reason})
			running = append(running, w)
		}
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.cancelling[env]--
		if e.cancelling[env] == 0 {
			delete(e.cancelling, env)
			// Deploys submitted meanwhile were held back (kick marked
			// their queues dirty): run them now. This needs no store, so
			// store trouble here strands none of them.
			for key, dirty := range e.dirty {
				if a, b, _ := strings.Cut(key, "/"); dirty && a == env && e.workers[key] == nil && e.base.Err() == nil {
					e.startWorkerLocked(a, b, key)
				}
			}
		}
		e.mu.Unlock()
		// And any other deploy of env the store holds.
		if ds, err := e.Store.UnfinishedDeploys(context.WithoutCancel(ctx)); err == nil {
			for _, d := range ds {
				if d.Env == env {
					e.kick(d.Env, d.App)
				}
			}
		}
	}()
	for _, w := range running {
		select {
		case <-w.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ds, err := e.Store.UnfinishedDeploys(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if d.Env == env {
			errs = append(errs, e.cancelDeploy(ctx, &d, reason))
		}
	}
	return errors.Join(errs...)
}

// cancelDeploy ends a deploy as cancelled. An error means the store did not
// record it; the deploy is then still unfinished, and the next look at its
// queue cancels it again (its environment being gone or going).
func (e *Engine) cancelDeploy(ctx context.Context, d *spacepods.Deploy, reason string) error {
	if d.Step != "" && d.Status == spacepods.DeployRunning {
		e.markStep(d, d.Step, "failed", "cancelled")
	}
	d.Status, d.EndedAt, d.Error = spacepods.DeployCancelled, e.now(), "cancelled: "+reason
	if err := e.save(ctx, d); err != nil {
		return err
	}
	e.event(ctx, d, "warn", d.Error)
	return nil
}

// event records a progress line of a deploy (and logs it).
func (e *Engine) event(ctx context.Context, d *spacepods.Deploy, level, msg string) {
	e.record(ctx, spacepods.Event{Env: d.Env, App: d.App, Deploy: d.ID, Level: level, Message: msg})
}

// record logs and stores one event (a failure to store it is only logged:
// events are progress lines, not state).
func (e *Engine) record(ctx context.Context, ev spacepods.Event) {
	e.Logger.Info(ev.Line(), "deploy", ev.Deploy, "env", ev.Env, "app", ev.App)
	if _, err := e.Store.AddEvent(context.WithoutCancel(ctx), ev); err != nil {
		e.Logger.Error("record event", "err", err)
	}
}

// URL is the address users open for app in env, through the router (or
// the ingress controller).
func (e *Engine) URL(env, app string) string {
	host := fmt.Sprintf("%s.%s.%s", app, env, e.Domain)
	if e.RouterPort != "" && e.RouterPort != "80" {
		host += ":" + e.RouterPort
	}
	scheme := e.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + host
}

// DependencyURL is the URL at which the apps of env reach the web app dep
// ("" if dep is not a web app).
func (e *Engine) DependencyURL(env string, dep spacepods.App) string {
	u := config.DependencyURL(dep)
	if u == "" || e.InternalRouter == "" {
		return u
	}
	_, port, _ := net.SplitHostPort(e.InternalRouter)
	return fmt.Sprintf("http://%s.%s.%s:%s", dep.Name, env, e.Domain, port)
}

// TaskEndpoints are what a task that calls the apps of env needs (a test
// suite, say): <APP>_URL for each web app of apps, the same URLs the apps
// themselves get for their dependencies, and the host names those URLs
// resolve to in its container (runtime.TaskSpec.Hosts).
func (e *Engine) TaskEndpoints(env string, apps []spacepods.App) (vars, hosts map[string]string) {
	vars = map[string]string{}
	for _, a := range apps {
		if u := e.DependencyURL(env, a); u != "" {
			vars[spacepods.EnvVarName(a.Name)+"_URL"] = u
		}
	}
	if e.InternalRouter == "" {
		return vars, nil
	}
	ip, _, _ := net.SplitHostPort(e.InternalRouter)
	hosts = map[string]string{}
	for _, a := range apps {
		if a.Kind == spacepods.KindWeb {
			hosts[a.Name+"."+env+"."+e.Domain] = ip
		}
	}
	return vars, hosts
}

// dependencyHosts are the Hosts of app's containers in env: its
// dependencies' host names at the router's internal listener.
func (e *Engine) dependencyHosts(env string, app spacepods.App) map[string]string {
	if e.InternalRouter == "" || len(app.Dependencies) == 0 {
		return nil
	}
	ip, _, _ := net.SplitHostPort(e.InternalRouter)
	hosts := make(map[string]string, len(app.Dependencies))
	for _, dep := range app.Dependencies {
		hosts[dep+"."+env+"."+e.Domain] = ip
	}
	return hosts
}

// ServiceName is the runtime name of app's release (and worker process):
// runtime.ServiceName.
func ServiceName(app string, release int, worker string) string {
	return runtime.ServiceName(app, release, worker)
}
