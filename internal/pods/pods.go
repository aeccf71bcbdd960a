// Package pods manages environments: personal and CI pods (plan, create,
// update by wipe-and-redeploy, destroy, TTL reaper) and master
// environments, plus snapshots and the leak audit. Apps are deployed
// through the deploy engine, the same script master deploys use.
package pods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Router is what pods need of the edge router.
type Router interface {
	SetEnvironment(ctx context.Context, env, subnet string) error
	RemoveEnvironment(ctx context.Context, env string) error
	DeleteGroup(ctx context.Context, env, app string) error
	Groups(ctx context.Context) ([]router.GroupStatus, error)
	Environments(ctx context.Context) ([]string, error)
}

// RouteRemover keeps routes outside the runtime and the edge router (the
// alb mover implements it).
type RouteRemover interface {
	// DestroyEnvironment removes every route of env.
	DestroyEnvironment(ctx context.Context, env string) error
	// Routes returns the routed app hosts, host → environment.
	Routes(ctx context.Context) (map[string]string, error)
}

// noRouter is the edge router's place when there is none (the runtime
// routes app hosts itself): it holds no environment and no group.
type noRouter struct{}

func (noRouter) SetEnvironment(context.Context, string, string) error { return nil }
func (noRouter) RemoveEnvironment(context.Context, string) error      { return nil }
func (noRouter) DeleteGroup(context.Context, string, string) error    { return nil }
func (noRouter) Groups(context.Context) ([]router.GroupStatus, error) { return nil, nil }
func (noRouter) Environments(context.Context) ([]string, error)       { return nil, nil }

// setRouterEnvironment declares env at the edge router with its
// containers' subnet (when the runtime has one), so that they may call the
// environment's apps through the router's internal listener.
func (s *Service) setRouterEnvironment(ctx context.Context, env string) error {
	subnet := ""
	if sn, ok := s.Driver.(runtime.Subnetter); ok {
		var err error
		if subnet, err = sn.Subnet(ctx, env); err != nil {
			return err
		}
	}
	return s.router().SetEnvironment(ctx, env, subnet)
}

func (s *Service) router() Router {
	if s.Router == nil {
		return noRouter{}
	}
	return s.Router
}

// Service runs pod and environment operations. Long operations run in the
// background; their progress is recorded as events.
type Service struct {
	Store   *store.Store
	Catalog *catalog.Service
	Engine  *deploy.Engine
	Driver  runtime.Driver
	Router  Router // nil when the runtime routes app hosts itself (Engine.Ingress)
	// Routes, when set, keeps routes outside the runtime and the edge
	// router (an ALB's rules, target groups and records: Engine.Weighted);
	// destroying an environment removes its routes there.
	Routes     RouteRemover
	Databases  *databases.Manager
	DefaultTTL time.Duration // default 24h
	MaxTTL     time.Duration // default 30 days
	// PodQuota is how many pods one user (token) may have at once
	// (--pod-quota); 0 = no limit. Admins have none.
	PodQuota int
	Logger   *slog.Logger
	// Notifier is told when a pod is ready, failed or about to expire;
	// nil: nobody is.
	Notifier spacepods.Notifier
	// ExpiryWarning is how long before a pod expires its owner is told
	// (by the reaper, so within one reap interval); default 1 hour.
	ExpiryWarning time.Duration
	// Dedicated, when set, keeps databases on instances of their own (RDS
	// instances: --databases rds-instance): snapshots, destroy and audits
	// cover them too.
	Dedicated Dedicated
	// IdleTimeout is how long a pod's web apps may go without a request
	// before they sleep, for pods that set none (--idle-timeout; 0: those
	// never sleep). See sleep.go and StartSleeper.
	IdleTimeout time.Duration
	// WakeHealthTimeout bounds a woken app's start (default 90s).
	WakeHealthTimeout time.Duration
	sleep             sleepState

	quotaMu sync.Mutex // one quota check and create at a time, so two creates cannot both take the last slot

	mu      sync.Mutex
	base    context.Context
	running map[string]context.CancelFunc // env → cancel of its running operation
	done    map[string]chan struct{}
	wg      sync.WaitGroup
}

func (s *Service) ttls() (time.Duration, time.Duration) {
	def, max := s.DefaultTTL, s.MaxTTL
	if def == 0 {
		def = 24 * time.Hour
	}
	if max == 0 {
		max = 30 * 24 * time.Hour
	}
	return def, max
}

// ParseTTL parses a TTL ("" = default) and checks its bounds.
func (s *Service) ParseTTL(v string) (time.Duration, error) {
	def, max := s.ttls()
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "ttl %q is not a duration: write e.g. 8h or 90m", v)
	}
	if d > max {
		return 0, spacepods.Errorf(spacepods.EINVALID, "ttl %s is over the limit of %s: ask for less and extend later with `spacepods pod extend`", d, max)
	}
	return d, nil
}

// Start resumes after a restart: operations cut short are marked failed
// (creates, updates) or finished (destroys), and the TTL reaper runs every
// reapEvery until ctx ends.
func (s *Service) Start(ctx context.Context, reapEvery time.Duration) error {
	s.mu.Lock()
	s.base = ctx
	s.running, s.done = map[string]context.CancelFunc{}, map[string]chan struct{}{}
	s.mu.Unlock()
	envs, err := s.Store.ListEnvironments(ctx, "")
	if err != nil {
		return err
	}
	for _, e := range envs {
		switch e.Status {
		case spacepods.StatusCreating, spacepods.StatusUpdating:
			reason := "the control plane restarted during " + strings.TrimSuffix(e.Status, "ing") + "e: run `spacepods pod update " + e.Name + "` to redeploy, or destroy it"
			if err := s.Store.SetEnvironmentStatus(ctx, e.Name, spacepods.StatusFailed, reason); err != nil {
				return fmt.Errorf("mark %s failed after a restart: %w", e.Name, err)
			}
		case spacepods.StatusDestroying:
			s.background(e.Name, func(ctx context.Context) { s.destroy(ctx, e.Name) })
		case spacepods.StatusReady, spacepods.StatusFailed:
			// The router learns (again) the subnets whose containers may
			// call the environment's apps: after a router restart without
			// its snapshot, or an upgrade from a version without them.
			if err := s.setRouterEnvironment(ctx, e.Name); err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
				s.Logger.Warn("declare the environment at the edge router", "env", e.Name, "err", err)
			}
		}
	}
	if reapEvery > 0 {
		s.every(ctx, reapEvery, func(ctx context.Context) { s.Reap(ctx) })
	}
	return nil
}

// every runs f every d in the background until ctx ends; Wait waits for it.
func (s *Service) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// Wait blocks until background operations have stopped.
func (s *Service) Wait() { s.wg.Wait() }

// background runs op for env, replacing (cancelling) any op running for it.
func (s *Service) background(env string, op func(ctx context.Context)) {
	s.mu.Lock()
	if cancel, ok := s.running[env]; ok {
		cancel()
		done := s.done[env]
		s.mu.Unlock()
		<-done
		s.mu.Lock()
	}
	ctx, cancel := context.WithCancel(s.base)
	done := make(chan struct{})
	s.running[env], s.done[env] = cancel, done
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer cancel()
		op(ctx)
		s.mu.Lock()
		if s.done[env] == done {
			delete(s.running, env)
			delete(s.done, env)
		}
		s.mu.Unlock()
	}()
}

func (s *Service) event(ctx context.Context, env, app, level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.Logger.Info(msg, "env", env, "app", app)
	// A lost progress line must not fail the work it describes: log it.
	if _, err := s.Store.AddEvent(context.WithoutCancel(ctx), spacepods.Event{Env: env, App: app, Level: level, Message: msg}); err != nil {
		s.Logger.Error("record event", "env", env, "app", app, "err", err)
	}
}

// Plan resolves what a pod create would make, without making anything.
func (s *Service) Plan(ctx context.Context, req spacepods.CreatePodRequest) (spacepods.PodPlan, error) {
	if err := spacepods.ValidateEnvName(req.Name); err != nil {
		return spacepods.PodPlan{}, err
	}
	if len(req.Apps) == 0 {
		return spacepods.PodPlan{}, spacepods.Errorf(spacepods.EINVALID, "a pod needs at least one app: pass --app NAME (see `spacepods app list`)")
	}
	ttl, err := s.ParseTTL(req.TTL)
	if err != nil {
		return spacepods.PodPlan{}, err
	}
	order, err := s.Catalog.Closure(ctx, req.Apps)
	if err != nil {
		return spacepods.PodPlan{}, err
	}
	inClosure := map[string]bool{}
	for _, a := range order {
		inClosure[a] = true
	}
	for a := range req.Builds {
		if !inClosure[a] {
			return spacepods.PodPlan{}, spacepods.Errorf(spacepods.EINVALID, "--build %s=%d names an app that is not in this pod (it has %s)", a, req.Builds[a], strings.Join(order, ", "))
		}
	}
	asked := map[string]bool{}
	for _, a := range req.Apps {
		asked[a] = true
	}
	p := spacepods.PodPlan{Pod: req.Name, ExpiresAt: s.Store.Now().Add(ttl)}
	for _, name := range order {
		app, err := s.Catalog.Get(ctx, name)
		if err != nil {
			return spacepods.PodPlan{}, err
		}
		var b spacepods.Build
		if n, ok := req.Builds[name]; ok {
			b, err = s.Catalog.Build(ctx, name, n)
		} else {
			b, err = s.Catalog.LatestBuild(ctx, name, spacepods.DefaultBranch)
		}
		if err != nil {
			return spacepods.PodPlan{}, err
		}
		pa := spacepods.PodPlanApp{App: name, Build: b.Number, Image: b.Image, Branch: b.Branch, Database: "-", Asked: asked[name]}
		if app.Database != nil {
			pa.Database = "empty"
			switch {
			case app.Database.Seed != "":
				pa.Database = "seed " + app.Database.Seed
			case app.Database.Snapshot != "":
				pa.Database = "snapshot " + app.Database.Snapshot
			}
		}
		if app.Kind == spacepods.KindWeb {
			pa.URL = s.Engine.URL(req.Name, name)
		}
		p.Apps = append(p.Apps, pa)
	}
	return p, nil
}

// Create plans and starts creating a pod; it returns at once with the plan
// and the pod (status creating). ECONFLICT if the name is taken.
func (s *Service) Create(ctx context.Context, req spacepods.CreatePodRequest) (spacepods.PodPlan, spacepods.Environment, error) {
	p, err := s.Plan(ctx, req)
	if err != nil {
		return p, spacepods.Environment{}, err
	}
	if _, err := ParseIdleTimeout(req.IdleTimeout); err != nil {
		return p, spacepods.Environment{}, err
	}
	builds := map[string]int{}
	for _, a := range p.Apps {
		builds[a.App] = a.Build
	}
	exp := p.ExpiresAt
	s.quotaMu.Lock()
	err = s.checkQuota(ctx, req.Name)
	var env spacepods.Environment
	if err == nil {
		env, err = s.Store.CreateEnvironment(ctx, spacepods.Environment{
			Name: req.Name, Kind: spacepods.EnvPod, Owner: spacepods.ActorName(ctx), Status: spacepods.StatusCreating,
			Apps: req.Apps, Builds: builds, ExpiresAt: &exp, PRURL: req.PRURL, NoSecrets: req.NoSecrets,
		})
	}
	s.quotaMu.Unlock()
	if err == nil {
		err = s.recordSleepSettings(ctx, req)
	}
	if err != nil {
		return p, env, err
	}
	actor := spacepods.ActorFrom(ctx)
	s.background(env.Name, func(ctx context.Context) {
		s.deployAll(spacepods.WithActor(ctx, actor), env.Name, p, "create")
	})
	return p, env, nil
}

// checkQuota refuses a new pod (named name) to a caller who has PodQuota
// pods already, naming them and how to free one. Admins are exempt; pods
// being destroyed do not count.
func (s *Service) checkQuota(ctx context.Context, name string) error {
	actor := spacepods.ActorFrom(ctx)
	if s.PodQuota <= 0 || actor == nil || spacepods.RoleAtLeast(actor.Role, spacepods.RoleAdmin) {
		return nil
	}
	all, err := s.Store.ListEnvironments(ctx, spacepods.EnvPod)
	if err != nil {
		return err
	}
	var mine []string
	for _, e := range all {
		if e.Owner == actor.Name && e.Status != spacepods.StatusDestroying && e.Name != name {
			mine = append(mine, fmt.Sprintf("%s (%s)", e.Name, e.Status))
		}
	}
	if len(mine) < s.PodQuota {
		return nil
	}
	return spacepods.Errorf(spacepods.EFORBIDDEN, "%s has %d pods, the most one user may have (--pod-quota %d): %s. Free one with `spacepods pod destroy NAME` (or wait for one to expire), or ask an admin to create it or to raise the quota",
		actor.Name, len(mine), s.PodQuota, strings.Join(mine, ", "))
}

// deployAll sets up the environment's scope and deploys every planned app
// at once (dependency URLs are known up front; apps start in parallel).
func (s *Service) deployAll(ctx context.Context, env string, p spacepods.PodPlan, op string) {
	start := time.Now()
	fail := func(reason string) {
		if ctx.Err() != nil {
			return // replaced by a destroy or another update
		}
		s.event(ctx, env, "", "error", "%s failed: %s", op, reason)
		s.setStatus(ctx, env, spacepods.StatusFailed, reason)
		s.notifyPod(ctx, env, spacepods.NoticePodFailed, op, p, reason)
	}
	// Databases do not need the network: the engine makes them while it
	// is made. The deploys' own calls then find them (or wait on their
	// lock, and report any error, a refused snapshot clone say).
	var dbs sync.WaitGroup
	defer dbs.Wait()
	for _, a := range p.Apps {
		if a.Database != "-" {
			dbs.Go(func() {
				t0 := time.Now()
				if app, err := s.Catalog.Get(ctx, a.App); err == nil && app.Database != nil {
					if _, err := s.Engine.EnsureDatabase(ctx, env, app); err == nil {
						s.event(ctx, env, app.Name, "info", "database ready in %s (%s)", time.Since(t0).Round(time.Millisecond), a.Database)
					}
				}
			})
		}
	}
	// The network and the router's environment are made whole even if a
	// destroy cancels this create meanwhile: a request cut off midway could
	// still land after the destroy has looked.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := s.Driver.EnsureEnvironment(wctx, runtime.EnvSpec{Name: env}); err != nil {
		fail("runtime: " + spacepods.ErrorMessage(err))
		return
	}
	if err := s.setRouterEnvironment(wctx, env); err != nil {
		fail("router: " + spacepods.ErrorMessage(err))
		return
	}
	if ctx.Err() != nil {
		return
	}
	s.event(ctx, env, "", "info", "network and routes ready (%s)", time.Since(start).Round(time.Millisecond))
	for _, a := range p.Apps {
		if err := s.Store.PutEnvApp(ctx, spacepods.EnvApp{Env: env, App: a.App, Build: a.Build, Status: "pending", URL: a.URL}); err != nil {
			fail("record " + a.App + ": " + spacepods.ErrorMessage(err))
			return
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(p.Apps))
	for i, a := range p.Apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.Engine.Submit(ctx, deploy.Request{Env: env, App: a.App, Build: a.Build})
			if err == nil {
				s.event(ctx, env, a.App, "info", "deploying build %d (deploy %d)", a.Build, d.ID)
				d, err = s.Engine.WaitDeploy(ctx, d.ID)
			}
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("%s: %s", a.App, spacepods.ErrorMessage(err))
			case d.Status != spacepods.DeployCompleted:
				errs[i] = fmt.Errorf("%s: %s (see `spacepods deploy show %d`)", a.App, d.Error, d.ID)
			default:
				s.event(ctx, env, a.App, "info", "healthy and routable at %s", a.URL)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	if err := errors.Join(errs...); err != nil {
		fail(strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	// The event first: whoever sees the status sees the line that explains it.
	s.event(ctx, env, "", "info", "%s done in %s: every app is healthy and routable", op, time.Since(start).Round(time.Millisecond))
	s.setStatus(ctx, env, spacepods.StatusReady, "")
	s.notifyPod(ctx, env, spacepods.NoticePodReady, op, p, "")
}

// setStatus records the end of a create or update, unless a destroy has
// taken the environment over meanwhile.
func (s *Service) setStatus(ctx context.Context, env, status, reason string) {
	ctx = context.WithoutCancel(ctx)
	if e, err := s.Store.GetEnvironment(ctx, env); err != nil || e.Status == spacepods.StatusDestroying {
		return
	}
	if err := s.Store.SetEnvironmentStatus(ctx, env, status, reason); err != nil {
		s.Logger.Error("set environment status", "env", env, "status", status, "err", err)
	}
}

// Update wipes a pod's running apps and redeploys them (new builds where
// given, the latest of main for apps not pinned).
func (s *Service) Update(ctx context.Context, name string, builds map[string]int) (spacepods.PodPlan, error) {
	env, err := s.Store.GetEnvironment(ctx, name)
	if err != nil {
		return spacepods.PodPlan{}, err
	}
	if env.Kind != spacepods.EnvPod {
		return spacepods.PodPlan{}, spacepods.Errorf(spacepods.EINVALID, "%s is a master environment: deploy to it with `spacepods deploy APP --env %s`", name, name)
	}
	if env.Status == spacepods.StatusDestroying {
		return spacepods.PodPlan{}, spacepods.Errorf(spacepods.ECONFLICT, "pod %s is being destroyed", name)
	}
	p, err := s.Plan(ctx, spacepods.CreatePodRequest{Name: name, Apps: env.Apps, Builds: builds, TTL: "1s"})
	if err != nil {
		return p, err
	}
	p.ExpiresAt = *env.ExpiresAt
	pinned := map[string]int{}
	for _, a := range p.Apps {
		pinned[a.App] = a.Build
	}
	// Audited before anything changes: an update that cannot be audited
	// does not happen.
	if err := s.Store.AddAudit(ctx, "pod.update", name, ""); err != nil {
		return p, err
	}
	if err := s.Store.UpdateEnvironmentSpec(ctx, name, env.Apps, pinned); err != nil {
		return p, err
	}
	if err := s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusUpdating, ""); err != nil {
		return p, err
	}
	actor := spacepods.ActorFrom(ctx)
	s.background(name, func(ctx context.Context) {
		ctx = spacepods.WithActor(ctx, actor)
		s.event(ctx, name, "", "info", "update: wiping running apps")
		if err := s.wipe(ctx, name); err != nil {
			if ctx.Err() == nil {
				s.setStatus(ctx, name, spacepods.StatusFailed, "wipe: "+spacepods.ErrorMessage(err))
			}
			return
		}
		s.deployAll(ctx, name, p, "update")
	})
	return p, nil
}

// wipe stops the deploys of env, removes every service of env and forgets
// what was live (databases stay).
func (s *Service) wipe(ctx context.Context, env string) error {
	if err := s.cancelDeploys(ctx, env, "pod "+env+" is being updated (wiped and redeployed)"); err != nil {
		return err
	}
	svcs, err := s.Driver.ListServices(ctx, env)
	if err != nil {
		return err
	}
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Go(func() { errs[i] = s.Driver.DeleteService(ctx, env, svc.Name) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.Store.DeleteEnvApps(ctx, env)
}

// Destroy starts destroying a pod (or a master environment).
func (s *Service) Destroy(ctx context.Context, name string) error {
	env, err := s.Store.GetEnvironment(ctx, name)
	if err != nil {
		return err
	}
	if env.Kind == spacepods.EnvMaster && !spacepods.ActorIsAdmin(ctx) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "only admins may destroy the master environment %s", name)
	}
	// Audited before anything changes: a destroy that cannot be audited
	// does not happen.
	if err := s.Store.AddAudit(ctx, env.Kind+".destroy", name, ""); err != nil {
		return err
	}
	if err := s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusDestroying, ""); err != nil {
		return err
	}
	s.background(name, func(ctx context.Context) { s.destroy(ctx, name) })
	return nil
}

// destroy removes routes, containers, network and databases, then marks
// the environment destroyed. Every part is idempotent, so a destroy cut
// short by a crash is finished on the next start.
func (s *Service) destroy(ctx context.Context, name string) {
	start := time.Now()
	// The create or update this destroy replaced may have written its end
	// status after Destroy set destroying.
	if err := s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusDestroying, ""); err != nil {
		// The destroy goes on (every part is idempotent); its end status is
		// written below, and a restart finishes a destroy left half-way.
		s.Logger.Error("set environment status", "env", name, "status", spacepods.StatusDestroying, "err", err)
	}
	// Deploys still running would otherwise make containers, routes and
	// databases again behind the destroy's back.
	if err := s.cancelDeploys(ctx, name, "environment "+name+" is being destroyed"); err != nil {
		if ctx.Err() == nil {
			s.destroyFailed(ctx, name, err)
		}
		return
	}
	if err := s.destroyParts(ctx, name); err != nil {
		if ctx.Err() != nil {
			return // replaced by another destroy
		}
		s.destroyFailed(ctx, name, err)
		s.event(ctx, name, "", "error", "destroy failed: %v", err)
		return
	}
	if err := s.Store.DeleteEnvApps(ctx, name); err != nil {
		s.destroyFailed(ctx, name, fmt.Errorf("forget its apps: %w", err))
		return
	}
	if err := s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusDestroyed, ""); err != nil {
		// Nothing to return to (a background job): the environment stays
		// destroying, and the next start finishes the destroy again.
		s.Logger.Error("set environment status", "env", name, "status", spacepods.StatusDestroyed, "err", err)
		return
	}
	s.event(ctx, name, "", "info", "destroyed in %s", time.Since(start).Round(time.Millisecond))
}

// destroyFailed marks a destroy failed with what to do. A background job
// has no caller to return to, so a failed write is logged.
func (s *Service) destroyFailed(ctx context.Context, name string, err error) {
	reason := "destroy: " + spacepods.ErrorMessage(err) + " (run `spacepods pod destroy " + name + "` again)"
	if err := s.Store.SetEnvironmentStatus(context.WithoutCancel(ctx), name, spacepods.StatusFailed, reason); err != nil {
		s.Logger.Error("set environment status", "env", name, "status", spacepods.StatusFailed, "err", err)
	}
}

// cancelDeploys stops every deploy of env and waits until none runs.
func (s *Service) cancelDeploys(ctx context.Context, env, reason string) error {
	if s.Engine == nil {
		return nil
	}
	return s.Engine.CancelEnv(ctx, env, reason)
}

// destroyParts removes an environment's routes, runtime scope (containers,
// network) and databases, then checks that nothing is left, retrying a few
// times: a Docker or router call cut short by the cancelled deploys may
// still land just after the first pass. Each part is idempotent.
func (s *Service) destroyParts(ctx context.Context, name string) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
			}
			s.Logger.Warn("destroy: retrying", "env", name, "attempt", attempt+1, "err", err)
		}
		if err = s.removeParts(ctx, name); err != nil {
			continue
		}
		if err = s.leftovers(ctx, name); err == nil {
			return nil
		}
	}
	return err
}

func (s *Service) removeParts(ctx context.Context, name string) error {
	var errs []error
	notFoundOK := func(err error) error {
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return nil
		}
		return err
	}
	if groups, err := s.router().Groups(ctx); err == nil {
		for _, g := range groups {
			if g.Environment == name {
				errs = append(errs, notFoundOK(s.router().DeleteGroup(ctx, name, g.App)))
			}
		}
	} else {
		errs = append(errs, err)
	}
	errs = append(errs, notFoundOK(s.router().RemoveEnvironment(ctx, name)))
	if s.Routes != nil {
		errs = append(errs, s.Routes.DestroyEnvironment(ctx, name))
	}
	errs = append(errs, s.Driver.DestroyEnvironment(ctx, name))
	if s.Databases != nil {
		errs = append(errs, s.Databases.DropEnvironment(ctx, name))
	}
	if s.Dedicated != nil {
		errs = append(errs, s.Dedicated.DestroyEnvironment(ctx, name))
	}
	return errors.Join(errs...)
}

// leftovers reports what of env is still on the runtime, the router or
// PostgreSQL.
func (s *Service) leftovers(ctx context.Context, name string) error {
	var left []string
	svcs, err := s.Driver.ListServices(ctx, name)
	if err != nil {
		return err
	}
	for _, svc := range svcs {
		left = append(left, "service "+svc.Name)
	}
	envs, err := s.Driver.ListEnvironments(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(envs, name) {
		left = append(left, "runtime scope (network)")
	}
	groups, err := s.router().Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Environment == name {
			left = append(left, "route "+g.Host)
		}
	}
	renvs, err := s.router().Environments(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(renvs, name) {
		left = append(left, "router environment")
	}
	if s.Databases != nil {
		dbs, err := s.Databases.List(ctx)
		if err != nil {
			return err
		}
		for _, db := range dbs {
			if db.Env == name {
				left = append(left, "database "+db.Name)
			}
		}
	}
	more, err := s.dedicatedLeftovers(ctx, name)
	if err != nil {
		return err
	}
	left = append(left, more...)
	if len(left) > 0 {
		return spacepods.Errorf(spacepods.ECONFLICT, "still there after removal: %s", strings.Join(left, ", "))
	}
	return nil
}

// Extend sets a pod's expiry to now + ttl.
func (s *Service) Extend(ctx context.Context, name, ttl string) (spacepods.Environment, error) {
	env, err := s.Store.GetEnvironment(ctx, name)
	if err != nil {
		return env, err
	}
	if env.Kind != spacepods.EnvPod {
		return env, spacepods.Errorf(spacepods.EINVALID, "%s is a master environment: it does not expire", name)
	}
	if ttl == "" {
		return env, spacepods.Errorf(spacepods.EINVALID, "say how long from now: --ttl 8h")
	}
	d, err := s.ParseTTL(ttl)
	if err != nil {
		return env, err
	}
	exp := s.Store.Now().Add(d)
	if err := s.Store.ExtendEnvironment(ctx, name, exp); err != nil {
		return env, err
	}
	env.ExpiresAt = &exp
	return env, nil
}

// Show returns a pod or environment with its apps.
func (s *Service) Show(ctx context.Context, name string) (spacepods.EnvironmentView, error) {
	env, err := s.Store.GetEnvironment(ctx, name)
	if err != nil {
		return spacepods.EnvironmentView{}, err
	}
	apps, err := s.Store.EnvApps(ctx, name)
	if err == nil && env.Kind == spacepods.EnvPod {
		s.showSleep(ctx, &env, apps)
	}
	return spacepods.EnvironmentView{Environment: env, AppStatus: apps}, err
}

// List lists live environments of a kind ("" = all).
func (s *Service) List(ctx context.Context, kind string) ([]spacepods.Environment, error) {
	envs, err := s.Store.ListEnvironments(ctx, kind)
	if err == nil && kind != spacepods.EnvMaster {
		s.sleepViews(ctx, envs, "")
	}
	return envs, err
}

// Events returns progress lines of an environment after an event ID.
func (s *Service) Events(ctx context.Context, name string, after int64) ([]spacepods.Event, error) {
	evs, err := s.Store.Events(ctx, name, 0, after, 1000)
	return spacepods.RedactEvents(ctx, evs), err
}

// Logs streams an app's logs in an environment (its live release).
func (s *Service) Logs(ctx context.Context, env, app string, opts runtime.LogOptions) (io.ReadCloser, error) {
	e, err := s.Store.GetEnvironment(ctx, env)
	if err != nil {
		return nil, err
	}
	if e.Protected && !spacepods.ActorIsAdmin(ctx) {
		// Logs carry what apps print: connection strings, tokens, data.
		return nil, spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: only admins read its logs (they may carry its secrets and data); ask an admin", env)
	}
	ea, err := s.Store.GetEnvApp(ctx, env, app)
	if err != nil {
		return nil, err
	}
	release := ea.Release
	if release == 0 { // not live yet: the newest release being deployed
		svcs, err := s.Driver.ListServices(ctx, env)
		if err != nil {
			return nil, err
		}
		for _, svc := range svcs {
			if svc.App == app && svc.Name == deploy.ServiceName(app, svc.Release, "") && svc.Release > release {
				release = svc.Release
			}
		}
		if release == 0 {
			return nil, spacepods.Errorf(spacepods.ENOTFOUND, "%s has no running release of %s yet: see `spacepods pod show %s`", env, app, env)
		}
	}
	return s.Driver.Logs(ctx, env, deploy.ServiceName(app, release, ""), opts)
}

// Reap destroys pods whose TTL has passed.
func (s *Service) Reap(ctx context.Context) []string {
	expired, err := s.Store.ExpiredPods(ctx, s.Store.Now())
	if err != nil {
		s.Logger.Error("reaper: list expired pods", "err", err)
		return nil
	}
	s.warnExpiring(ctx)
	var names []string
	sys := spacepods.WithActor(ctx, &spacepods.Token{Name: "reaper", Role: spacepods.RoleAdmin})
	for _, e := range expired {
		s.event(ctx, e.Name, "", "info", "expired at %s: destroying", e.ExpiresAt.Format(time.RFC3339))
		if err := s.Destroy(sys, e.Name); err == nil {
			names = append(names, e.Name)
		}
	}
	return names
}
