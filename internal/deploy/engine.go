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
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Router is what the engine needs of the edge router.
type Router interface {
	SetGroup(ctx context.Context, env, app string, g router.GroupSpec) error
	DeleteGroup(ctx context.Context, env, app string) error
	Stats(ctx context.Context, env, app string) (router.GroupStatus, error)
}

// Options tune the rollout.
type Options struct {
	HealthTimeout  time.Duration // per stage: new replicas must be healthy by then (default 90s)
	Bake           time.Duration // per stage on master environments: watch the router's error rate (default 3s)
	ErrorThreshold float64       // failed share of the new targets' requests that fails a stage (default 0.05)
	Poll           time.Duration // default 200ms
	TaskTimeout    time.Duration // migrations (default 10m)
}

// Engine runs deploys.
type Engine struct {
	Store   *store.Store
	Catalog *catalog.Service
	Driver  runtime.Driver
	Router  Router
	// DatabaseURL returns the DATABASE_URL containers of env use for app
	// ("" when the app has no database).
	DatabaseURL func(ctx context.Context, env string, app spacepods.App) (string, error)
	Domain      string // host names are <app>.<env>.<Domain>
	RouterPort  string // for URLs shown to users, e.g. "8080"
	Options     Options
	Logger      *slog.Logger

	mu      sync.Mutex
	workers map[string]bool // env/app keys with a running worker
	dirty   map[string]bool // kicked while running: look again before exiting
	wg      sync.WaitGroup
	base    context.Context
}

func (e *Engine) opts() Options {
	o := e.Options
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 90 * time.Second
	}
	if o.ErrorThreshold == 0 {
		o.ErrorThreshold = 0.05
	}
	if o.Poll == 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.TaskTimeout == 0 {
		o.TaskTimeout = 10 * time.Minute
	}
	return o
}

// Request asks for a deploy.
type Request struct {
	Env      string
	App      string
	Build    int // 0 with Rollback: the build of that release
	Rollback int // redeploy this earlier release (same artifact and config)
}

// Start resumes what a previous process left: running deploys are rolled
// back (or completed when the new release was already live), queued ones
// run in order. ctx bounds all background work.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	e.base = ctx
	e.workers, e.dirty = map[string]bool{}, map[string]bool{}
	e.mu.Unlock()
	ds, err := e.Store.UnfinishedDeploys(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Status == spacepods.DeployRunning {
			e.recoverDeploy(ctx, d)
		}
	}
	for _, d := range ds {
		e.kick(d.Env, d.App)
	}
	return nil
}

// Wait blocks until every background deploy has stopped (after the
// context given to Start ends).
func (e *Engine) Wait() { e.wg.Wait() }

// Submit validates and queues a deploy; it runs in order after earlier
// deploys of the same (environment, app).
func (e *Engine) Submit(ctx context.Context, req Request) (spacepods.Deploy, error) {
	env, err := e.Store.GetEnvironment(ctx, req.Env)
	if err != nil {
		return spacepods.Deploy{}, err
	}
	if env.Protected && !spacepods.RoleAtLeast(roleOf(ctx), spacepods.RoleAdmin) {
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
	d, err := e.Store.CreateDeploy(ctx, spacepods.Deploy{Env: req.Env, App: req.App, Build: req.Build, Rollback: req.Rollback > 0, Release: req.Rollback, Steps: newSteps()})
	if err != nil {
		return d, err
	}
	e.event(ctx, &d, "info", fmt.Sprintf("queued: deploy build %d of %s to %s", d.Build, d.App, d.Env))
	e.kick(d.Env, d.App)
	return d, nil
}

func roleOf(ctx context.Context) string {
	if t := spacepods.ActorFrom(ctx); t != nil {
		return t.Role
	}
	return spacepods.RoleAdmin // the system itself (reaper, CD)
}

func newSteps() []spacepods.DeployStep {
	steps := make([]spacepods.DeployStep, len(spacepods.DeploySteps))
	for i, n := range spacepods.DeploySteps {
		steps[i] = spacepods.DeployStep{Name: n, Status: "pending"}
	}
	return steps
}

// WaitDeploy polls until the deploy has ended or ctx is done.
func (e *Engine) WaitDeploy(ctx context.Context, id int64) (spacepods.Deploy, error) {
	for {
		d, err := e.Store.GetDeploy(ctx, id)
		if err != nil || d.Done() {
			return d, err
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
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
	if e.workers[key] {
		e.dirty[key] = true
		return
	}
	e.workers[key] = true
	e.wg.Add(1)
	go e.work(env, app, key)
}

// work runs queued deploys of one (env, app), oldest first, one at a time.
func (e *Engine) work(env, app, key string) {
	defer e.wg.Done()
	ctx := e.base
	for {
		e.mu.Lock()
		e.dirty[key] = false
		e.mu.Unlock()
		d, ok := e.nextQueued(ctx, env, app)
		if ok {
			e.execute(ctx, &d)
			continue
		}
		e.mu.Lock()
		if !e.dirty[key] || ctx.Err() != nil {
			delete(e.workers, key)
			delete(e.dirty, key)
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
	}
}

func (e *Engine) nextQueued(ctx context.Context, env, app string) (spacepods.Deploy, bool) {
	if ctx.Err() != nil {
		return spacepods.Deploy{}, false
	}
	ds, err := e.Store.UnfinishedDeploys(ctx)
	if err != nil {
		e.Logger.Error("list queued deploys", "err", err)
		return spacepods.Deploy{}, false
	}
	for _, d := range ds {
		if d.Env == env && d.App == app && d.Status == spacepods.DeployQueued {
			return d, true
		}
	}
	return spacepods.Deploy{}, false
}

// event records a progress line of a deploy (and logs it).
func (e *Engine) event(ctx context.Context, d *spacepods.Deploy, level, msg string) {
	e.Logger.Info(msg, "deploy", d.ID, "env", d.Env, "app", d.App)
	if _, err := e.Store.AddEvent(context.WithoutCancel(ctx), spacepods.Event{Env: d.Env, App: d.App, Deploy: d.ID, Level: level, Message: msg}); err != nil {
		e.Logger.Error("record event", "err", err)
	}
}

// URL is the address users open for app in env, through the router.
func (e *Engine) URL(env, app string) string {
	host := fmt.Sprintf("%s.%s.%s", app, env, e.Domain)
	if e.RouterPort != "" && e.RouterPort != "80" {
		host += ":" + e.RouterPort
	}
	return "http://" + host
}

// ServiceName is the runtime name of app's release (and worker process).
func ServiceName(app string, release int, worker string) string {
	if worker != "" {
		return fmt.Sprintf("%s-%s-r%d", app, worker, release)
	}
	return fmt.Sprintf("%s-r%d", app, release)
}
