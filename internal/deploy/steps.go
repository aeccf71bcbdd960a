package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Step 1: anything of this app that is not the live release is stale.
func (r *run) clearStale(ctx context.Context) error {
	svcs, err := r.e.servicesOf(ctx, r.d.Env, r.d.App)
	if err != nil {
		return err
	}
	n := 0
	for _, s := range svcs {
		if r.old != nil && s.Release == r.old.Number {
			// An earlier deploy may have died with the live release
			// scaled down: give it its full count back first.
			if s.Name == ServiceName(r.d.App, r.old.Number, "") && s.Desired < r.old.Replicas {
				if err := r.e.driver().ScaleService(ctx, r.d.Env, s.Name, r.old.Replicas); err != nil {
					return err
				}
				r.e.event(ctx, r.d, "warn", fmt.Sprintf("live service %s had %d of %d replicas (an earlier deploy stopped midway): scaled back up", s.Name, s.Desired, r.old.Replicas))
			}
			continue
		}
		if err := r.e.driver().DeleteService(ctx, r.d.Env, s.Name); err != nil {
			return err
		}
		n++
		r.e.event(ctx, r.d, "warn", fmt.Sprintf("removed stale service %s (release %d) left by an earlier deploy", s.Name, s.Release))
	}
	return r.e.setStep(ctx, r.d, "clear_stale", "done", fmt.Sprintf("%d stale services removed", n))
}

// Step 2: an immutable release from build + config (or a copy of an
// earlier release for a rollback).
func (r *run) register(ctx context.Context) error {
	e, d := r.e, r.d
	var rel spacepods.Release
	digest := "" // the build's recorded image digest
	if d.Rollback && d.Release > 0 {
		prev, err := e.Store.GetRelease(ctx, d.Env, d.App, d.Release)
		if err != nil {
			return stored(err)
		}
		rel = prev
		e.event(ctx, d, "info", fmt.Sprintf("rollback: reusing release %d (build %d) as is", prev.Number, prev.Build))
	} else {
		if err := r.checkConfirmed(ctx); err != nil {
			return err
		}
		build, err := e.Catalog.Build(ctx, d.App, d.Build)
		if err != nil {
			return stored(err)
		}
		digest = build.Digest
		deps := map[string]string{}
		for _, dep := range r.app.Dependencies {
			da, err := e.Catalog.Get(ctx, dep)
			if err != nil {
				return stored(err)
			}
			deps[dep] = e.DependencyURL(d.Env, da)
		}
		dbURL := ""
		if r.app.Database != nil {
			start := time.Now()
			if dbURL, err = e.EnsureDatabase(ctx, d.Env, r.app); err != nil {
				return err
			}
			e.event(ctx, d, "info", fmt.Sprintf("database ready in %s", time.Since(start).Round(time.Millisecond)))
		}
		replicas := r.app.Replicas(d.Env)
		if r.env.Kind == spacepods.EnvPod {
			replicas = 1
		}
		vars := config.Compose(config.Inputs{Env: d.Env, App: r.app, Build: build, DatabaseURL: dbURL, Deps: deps})
		var refs map[string]string
		if e.Config != nil {
			custom, err := e.Config.CustomFor(ctx, d.App, d.Env, r.env.Kind)
			if err != nil {
				return stored(err)
			}
			if r.env.NoSecrets {
				// A fork's pull request pod: its code is not trusted.
				custom = custom.WithoutSecrets()
			}
			vars, refs = config.Merge(vars, r.app, custom)
		}
		rel = spacepods.Release{
			Build: build.Number, Image: build.Image, GitSHA: build.GitSHA, Vars: vars, SecretRefs: refs,
			Command: r.app.Command, Migrate: r.app.Migrate, Replicas: replicas, Workers: r.app.Workers,
			AppVersion: r.app.Version,
			Args:       r.app.Args, MigrateTimeout: r.app.MigrateTimeout,
		}
	}
	rel.Env, rel.App = d.Env, d.App
	if err := r.pinImage(ctx, &rel, digest); err != nil {
		return err
	}
	rel, err := e.Store.AddRelease(ctx, rel)
	if err != nil {
		return stored(err)
	}
	r.rel = rel
	d.Release = rel.Number
	image := rel.Image
	if rel.PinnedImage != "" && rel.PinnedImage != rel.Image {
		image += " (pinned: " + rel.PinnedImage + ")"
	}
	return e.setStep(ctx, d, "register_release", "done", fmt.Sprintf("release %d: build %d, image %s, %d replicas", rel.Number, rel.Build, image, rel.Replicas))
}

// pinImage fixes the image a new release runs (a rollback keeps its
// release's) and makes sure it is on the runtime, so that a later push of
// the same tag changes neither this release nor a rollback to it.
func (r *run) pinImage(ctx context.Context, rel *spacepods.Release, digest string) error {
	e, d := r.e, r.d
	if e.Images == nil {
		return nil
	}
	progress := func(line string) { e.event(ctx, d, "info", line) }
	if rel.PinnedImage == "" && !(d.Rollback && d.Release > 0) {
		pinned, err := e.Images.Pin(ctx, rel.Image, digest, func(line string) { e.event(ctx, d, "warn", line) })
		if err != nil {
			return err
		}
		if pinned != rel.Image {
			rel.PinnedImage = pinned
		}
	}
	return e.Images.Ready(ctx, rel.RunImage(), progress)
}

// Step 3: migrations as a one-off task; a non-zero exit aborts before any
// traffic moves.
func (r *run) migrate(ctx context.Context) error {
	e, d := r.e, r.d
	if len(r.rel.Migrate) == 0 {
		return e.setStep(ctx, d, "migrate", "skipped", "the app declares no migrate command")
	}
	timeout := e.opts().TaskTimeout
	if r.rel.MigrateTimeout != "" {
		t, err := spacepods.TaskTimeout(r.rel.MigrateTimeout)
		if err != nil {
			return spacepods.Errorf(spacepods.EINVALID, "release %d: migrate_timeout %v", r.rel.Number, err)
		}
		timeout = t
	}
	r.startEarly(ctx)
	r.prepareEarly(ctx)
	cmd := strings.Join(r.rel.Migrate, " ")
	start := time.Now()
	out := &taskOutput{}
	stop := r.reportProgress(ctx, "migrate", out, start)
	task := r.migrateSpec(timeout)
	task.Output = out
	res, err := e.Driver.RunTask(ctx, task)
	stop()
	took := time.Since(start).Round(time.Second)
	switch {
	case err != nil && ctx.Err() == nil && time.Since(start) >= timeout:
		return fail(res.LogTail, "migration %q was still running after its timeout of %s and was killed; no traffic was moved (its output is kept on this deploy): make it end sooner, or raise migrate_timeout in the app's manifest", cmd, timeout)
	case err != nil:
		return fail(res.LogTail, "migration task: %s", spacepods.ErrorMessage(err))
	case res.ExitCode != 0:
		return fail(res.LogTail, "migration %q exited with code %d after %s; no traffic was moved (its output is kept on this deploy)", cmd, res.ExitCode, took)
	}
	return e.setStep(ctx, d, "migrate", "done", fmt.Sprintf("exit 0 after %s", took))
}

// migrateSpec is the release's migration task.
func (r *run) migrateSpec(timeout time.Duration) runtime.TaskSpec {
	return runtime.TaskSpec{
		Name: fmt.Sprintf("%s-migrate-r%d", r.d.App, r.rel.Number), Environment: r.d.Env, App: r.d.App, Release: r.rel.Number,
		Image: r.rel.RunImage(), Command: r.rel.Migrate, Env: r.rel.Vars, Secrets: r.rel.SecretRefs, Hosts: r.e.dependencyHosts(r.d.Env, r.app), Timeout: timeout,
	}
}

func (r *run) webSpec(replicas int) runtime.ServiceSpec {
	role := runtime.RoleWeb
	if r.app.Kind == spacepods.KindWorker {
		role = runtime.RoleWorker
	}
	return runtime.ServiceSpec{
		Name: ServiceName(r.d.App, r.rel.Number, ""), Environment: r.d.Env, App: r.d.App, Release: r.rel.Number, Role: role,
		Image: r.rel.RunImage(), Command: r.rel.Command, Args: r.rel.Args, Env: r.rel.Vars, Secrets: r.rel.SecretRefs, Port: r.app.Port, Aliases: []string{r.d.App},
		Hosts: r.e.dependencyHosts(r.d.Env, r.app), Health: runtime.HealthCheck{Path: r.app.Health}, Replicas: replicas,
	}
}

func (r *run) workerSpec(w spacepods.Worker) runtime.ServiceSpec {
	return runtime.ServiceSpec{
		Name: ServiceName(r.d.App, r.rel.Number, w.Name), Environment: r.d.Env, App: r.d.App, Release: r.rel.Number, Role: runtime.RoleWorker,
		Image: r.rel.RunImage(), Command: w.Command, Args: w.Args, Env: r.rel.Vars, Secrets: r.rel.SecretRefs, Hosts: r.e.dependencyHosts(r.d.Env, r.app), Replicas: 1,
		Labels: map[string]string{labelWorker: w.Name},
	}
}

// Step 4: the new service (at its first stage's size), its workers, and
// its routing group (still only the old targets).
func (r *run) createService(ctx context.Context) error {
	e, d := r.e, r.d
	if r.rel.Replicas == 0 {
		return e.setStep(ctx, d, "create_service", "skipped", "0 replicas wanted")
	}
	var err error
	r.joinPrepared()
	if r.early != nil {
		err = r.joinEarly() // started alongside the migration (pods)
	} else {
		err = r.createServices(ctx)
	}
	if err != nil {
		return err
	}
	if r.app.Kind == spacepods.KindWeb {
		if err := r.traffic().prepare(ctx); err != nil {
			return err
		}
	}
	return e.setStep(ctx, d, "create_service", "done", fmt.Sprintf("service %s with %d replicas, %d workers; route %s", ServiceName(d.App, r.rel.Number, ""), r.stages()[0], len(r.rel.Workers), e.URL(d.Env, d.App)))
}

// newSpecs are the new release's web service at its first stage's size
// and its workers.
func (r *run) newSpecs() []runtime.ServiceSpec {
	specs := []runtime.ServiceSpec{r.webSpec(r.stages()[0])}
	for _, w := range r.rel.Workers {
		specs = append(specs, r.workerSpec(w))
	}
	return specs
}

// createServices starts the new web service at its first stage's size and
// its workers, side by side: each container start costs Docker a good part
// of a second.
func (r *run) createServices(ctx context.Context) error {
	r.created = true
	specs := r.newSpecs()
	r.createdAt = time.Now()
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i := range specs {
		wg.Go(func() { errs[i] = r.e.driver().CreateService(ctx, specs[i]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startEarly starts the new services while the migration runs, when
// Options.OverlapPodMigrations is set (off by default: pods then follow the
// script's order exactly, as master environments do). Only in pods: nothing routes to them before the migration has passed (and a
// failed migration discards them), but in a master environment new code
// must not run at all against a schema it does not expect yet.
func (r *run) startEarly(ctx context.Context) {
	if !r.e.opts().OverlapPodMigrations || r.env.Kind != spacepods.EnvPod || r.rel.Replicas == 0 || r.early != nil {
		return
	}
	ch := make(chan error, 1)
	r.early = ch
	go func() { ch <- r.createServices(ctx) }()
}

// prepareEarly makes the new services' containers, not started, while the
// migration runs, on a driver that can (runtime.Preparer): create_service
// then only starts them. Nothing of the new release runs before the
// migration has passed; a failed migration's rollback removes them (it
// finds services by labels). A failure here is left for create_service to
// meet and report.
func (r *run) prepareEarly(ctx context.Context) {
	p, ok := r.e.Driver.(runtime.Preparer)
	if !ok || r.rel.Replicas == 0 || r.early != nil || r.preparing != nil {
		return
	}
	specs := r.newSpecs()
	done := make(chan struct{})
	r.preparing = done
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, spec := range specs {
			wg.Go(func() {
				ctx, cancel := whole(ctx)
				defer cancel()
				if err := p.PrepareService(ctx, spec); err != nil {
					r.e.Logger.Debug("prepare a service during the migration", "env", spec.Environment, "service", spec.Name, "err", err)
				}
			})
		}
		wg.Wait()
	}()
}

// joinPrepared waits for prepareEarly's containers.
func (r *run) joinPrepared() {
	if r.preparing != nil {
		<-r.preparing
		r.preparing = nil
	}
}

// joinEarly waits for services started early and returns their error.
func (r *run) joinEarly() error {
	if r.early == nil {
		return nil
	}
	err := <-r.early
	r.early = nil
	return err
}

// labelWorker names the worker process of a worker service.
const labelWorker = "spacepods.worker"
