package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Protected environments take manifest changes only with an admin's eyes on
// them. Re-registering an app (`spacepods app register -f`) is a
// developer's right, and every deploy builds its release from the current
// manifest, so without this an admin deploying a new build to production
// would also, unseen, run whatever command, migration, workers or database
// source a developer registered since. So a deploy to a protected
// environment compares the manifest of the live release with the current
// one; when a field that alters what runs differs, the deploy must be
// confirmed (Request.Confirm, by an admin), is recorded with the manifest
// version confirmed, and runs only if that is still the version it gets.

// maxRegistrations bounds the registrations a plan lists.
const maxRegistrations = 20

// Plan says what a deploy of req would change in its environment: the
// manifest fields that differ from the live release's, who registered each
// manifest version since, and whether an admin must confirm it. ENOTFOUND
// for an unknown environment, app or build.
func (e *Engine) Plan(ctx context.Context, req Request) (spacepods.DeployPlan, error) {
	env, err := e.Store.GetEnvironment(ctx, req.Env)
	if err != nil {
		return spacepods.DeployPlan{}, err
	}
	app, err := e.Catalog.Get(ctx, req.App)
	if err != nil {
		return spacepods.DeployPlan{}, err
	}
	if req.Rollback > 0 {
		return spacepods.DeployPlan{}, spacepods.Errorf(spacepods.EINVALID, "a rollback redeploys release %d as it was: there is no plan to show", req.Rollback)
	}
	if req.Build < 1 {
		return spacepods.DeployPlan{}, spacepods.Errorf(spacepods.EINVALID, "say which build to plan: build must be a positive number")
	}
	build, err := e.Catalog.Build(ctx, req.App, req.Build)
	if err != nil {
		return spacepods.DeployPlan{}, err
	}
	var live *spacepods.Release
	ea, err := e.Store.GetEnvApp(ctx, req.Env, req.App)
	switch {
	case err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND:
		return spacepods.DeployPlan{}, err
	case err == nil && ea.Release > 0:
		rel, err := e.Store.GetRelease(ctx, req.Env, req.App, ea.Release)
		if err != nil {
			return spacepods.DeployPlan{}, err
		}
		live = &rel
	}
	return e.plan(ctx, env, app, build, live)
}

// plan compares app with the manifest live is made of.
func (e *Engine) plan(ctx context.Context, env spacepods.Environment, app spacepods.App, build spacepods.Build, live *spacepods.Release) (spacepods.DeployPlan, error) {
	p := spacepods.DeployPlan{Env: env.Name, App: app.Name, Build: build.Number, Image: build.Image, Protected: env.Protected,
		Manifest: app.Version, Changes: []spacepods.ManifestChange{}, Registrations: []spacepods.Registration{}}
	if live == nil {
		return p, nil
	}
	p.LiveRelease, p.LiveBuild = live.Number, live.Build
	versions, err := e.Catalog.Versions(ctx, app.Name) // newest first
	if err != nil {
		return p, err
	}
	liveVersion := live.AppVersion
	if liveVersion == 0 {
		// A release made before releases recorded their manifest version:
		// the version registered last before the release was made.
		for _, v := range versions {
			if !v.CreatedAt.After(live.CreatedAt) {
				liveVersion = v.Version
				break
			}
		}
		p.Note = "the live release does not record its manifest version; it is taken to be the one registered last before it was made"
	}
	p.LiveManifest = liveVersion
	var old *spacepods.App
	for i, v := range versions {
		if v.Version == liveVersion {
			m := v.Manifest
			old = &m
		}
		if v.Version > liveVersion && v.Version <= app.Version && len(p.Registrations) < maxRegistrations {
			r := spacepods.Registration{Version: v.Version, By: v.CreatedBy, At: v.CreatedAt, Changes: []spacepods.ManifestChange{}}
			if i+1 < len(versions) {
				r.Changes = spacepods.DiffManifests(versions[i+1].Manifest, v.Manifest)
			}
			p.Registrations = append(p.Registrations, r)
		}
	}
	// Oldest first reads as a history.
	for i, j := 0, len(p.Registrations)-1; i < j; i, j = i+1, j-1 {
		p.Registrations[i], p.Registrations[j] = p.Registrations[j], p.Registrations[i]
	}
	if old == nil {
		// No manifest to compare with: what the release itself records.
		old = &spacepods.App{Command: live.Command, Migrate: live.Migrate, Workers: live.Workers}
		p.LiveManifest = 0
		p.Note = "the manifest the live release was made from is unknown: only command, migrate and workers are compared, and any other field that alters what runs counts as changed"
		p.Changes = releaseChanges(*old, app)
	} else {
		p.Changes = spacepods.DiffManifests(*old, app)
	}
	if p.Changes == nil {
		p.Changes = []spacepods.ManifestChange{}
	}
	p.NeedsConfirmation = env.Protected && len(spacepods.ChangesAlteringRun(p.Changes)) > 0
	return p, nil
}

// releaseChanges compares app with what a release records (command,
// migrate, workers); the rest of app that alters what runs is unknown and
// so reported as changed.
func releaseChanges(old, app spacepods.App) []spacepods.ManifestChange {
	var out []spacepods.ManifestChange
	for _, c := range spacepods.DiffManifests(old, app) {
		switch top, _, _ := strings.Cut(c.Field, "."); top {
		case "command", "migrate", "workers":
			out = append(out, c)
		default:
			if c.AltersRun {
				c.From = "(unknown)"
				out = append(out, c)
			}
		}
	}
	return out
}

// ConfirmationError refuses a deploy to a protected environment that
// changes what runs without an admin's confirmation of that very manifest
// version. Its code is ECONFLICT; its message shows the plan and what to
// do; Plan is the plan, for a UI to show with a confirm button.
type ConfirmationError struct {
	Plan spacepods.DeployPlan
	err  *spacepods.Error
}

func (c *ConfirmationError) Error() string { return c.err.Error() }

// Unwrap gives the *spacepods.Error with the code and message.
func (c *ConfirmationError) Unwrap() error { return c.err }

func confirmationNeeded(p spacepods.DeployPlan, confirmed int) error {
	stale := ""
	if confirmed > 0 {
		stale = fmt.Sprintf("you confirmed manifest version %d, but %s is at version %d now: ", confirmed, p.App, p.Manifest)
	}
	return &ConfirmationError{Plan: p, err: spacepods.Errorf(spacepods.ECONFLICT, "%s%sreview it (spacepods deploy %s --env %s --build %d --plan), then deploy again with %s %d (API: \"confirm_manifest_version\": %d); only admins may confirm",
		stale, p.String(), p.App, p.Env, p.Build, spacepods.ConfirmFlag, p.Manifest, p.Manifest)}
}

// checkConfirmation is Submit's part: a deploy to a protected environment
// that changes what runs must carry an admin's confirmation of the
// manifest version its plan is of.
func (e *Engine) checkConfirmation(ctx context.Context, env spacepods.Environment, req Request, d *spacepods.Deploy) error {
	if req.ConfirmVersion != 0 && !spacepods.ActorIsAdmin(ctx) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "only admins may confirm manifest changes: deploy without %s, or ask an admin", spacepods.ConfirmFlag)
	}
	if req.Rollback > 0 {
		return nil // an earlier release of this environment, as it ran
	}
	if !env.Protected {
		app, err := e.Catalog.Get(ctx, req.App)
		d.ManifestVersion = app.Version
		return err
	}
	p, err := e.Plan(ctx, req)
	if err != nil {
		return err
	}
	d.ManifestVersion = p.Manifest
	if !p.NeedsConfirmation {
		return nil
	}
	if req.ConfirmVersion != p.Manifest {
		return confirmationNeeded(p, req.ConfirmVersion)
	}
	d.ConfirmedBy = spacepods.ActorName(ctx)
	return nil
}

// checkConfirmed is the register step's part: in a protected environment,
// a release whose manifest alters what runs compared with the live one is
// made only when an admin confirmed exactly that manifest version. The
// manifest may have been re-registered after the deploy was queued.
func (r *run) checkConfirmed(ctx context.Context) error {
	e, d := r.e, r.d
	if !r.env.Protected || d.Rollback || r.old == nil {
		return nil
	}
	build, err := e.Catalog.Build(ctx, d.App, d.Build)
	if err != nil {
		return err
	}
	p, err := e.plan(ctx, r.env, r.app, build, r.old)
	if err != nil {
		return err
	}
	if !p.NeedsConfirmation {
		return nil
	}
	changes := spacepods.SummarizeChanges(spacepods.ChangesAlteringRun(p.Changes), 2000)
	if d.ConfirmedBy == "" || d.ManifestVersion != r.app.Version {
		what := "was not confirmed"
		if d.ConfirmedBy != "" {
			what = fmt.Sprintf("was confirmed by %s for manifest version %d, but %s was re-registered since (now version %d)", d.ConfirmedBy, d.ManifestVersion, d.App, r.app.Version)
		}
		return fail("", "%s is protected and this deploy changes what runs there (%s); it %s: nothing was changed. Review the plan (spacepods deploy %s --env %s --build %d --plan) and deploy again with %s %d",
			d.Env, changes, what, d.App, d.Env, d.Build, spacepods.ConfirmFlag, r.app.Version)
	}
	e.event(ctx, d, "info", fmt.Sprintf("manifest version %d confirmed by %s: %s", r.app.Version, d.ConfirmedBy, changes))
	return nil
}
