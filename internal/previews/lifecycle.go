package previews

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// sync brings the pod of (pr, app) to pr's head: build, pod, tests,
// statuses and the comment. It runs in the background; ctx ends when a
// newer event replaces it or the PR's pod is destroyed.
func (h *Handler) sync(ctx context.Context, pr forge.PullRequest, app spacepods.App, onDemand bool, why string) {
	name := PodName(h.Prefix, pr.Number, app.Name)
	podCtx, testsCtx := h.contexts(ctx, pr.Repo, app.Name)
	rec, err := h.Store.GetPRPod(ctx, pr.Repo, pr.Number, app.Name)
	if err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		h.Logger.Error("read the pull request's pod record", "pr", pr.WebURL, "err", err)
		return
	}
	rec.Repo, rec.Number, rec.App, rec.Env = pr.Repo, pr.Number, app.Name, name
	rec.HeadSHA, rec.Fork, rec.WebURL, rec.OnDemand = pr.HeadSHA, pr.Fork || (pr.HeadRepo != "" && !strings.EqualFold(pr.HeadRepo, pr.Repo)), pr.WebURL, onDemand
	h.Logger.Info("pull request pod: sync", "pod", name, "head", short(pr.HeadSHA), "why", why)

	// 1. The head's build.
	h.save(ctx, &rec, spacepods.PRPodWaiting, "waiting for a build of "+short(pr.HeadSHA))
	h.status(ctx, pr, podCtx, forge.StatusPending, "waiting for a build of "+short(pr.HeadSHA), "")
	h.status(ctx, pr, testsCtx, forge.StatusPending, "waiting for the pod", "")
	h.writeComment(ctx, pr.Repo, pr.Number)
	b, err := h.waitBuild(ctx, app, pr)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		h.fail(ctx, pr, &rec, podCtx, testsCtx, err.Error(), "")
		return
	}
	rec.Build = b.Number

	// 2. The pod: the PR's app at that build, pinned PR builds of other
	// repos, dependencies at their latest main builds.
	builds, extra, notes := h.pins(ctx, pr, app)
	builds[app.Name] = b.Number
	h.save(ctx, &rec, spacepods.PRPodDeploying, fmt.Sprintf("deploying build %d", b.Number)+noteSuffix(notes))
	h.status(ctx, pr, podCtx, forge.StatusPending, fmt.Sprintf("deploying build %d of %s to %s", b.Number, app.Name, name), h.podURL(name))
	h.writeComment(ctx, pr.Repo, pr.Number)
	if err := h.deploy(ctx, name, app, pr, rec.Fork, builds, extra); err != nil {
		if ctx.Err() == nil {
			h.fail(ctx, pr, &rec, podCtx, testsCtx, "pod: "+spacepods.ErrorMessage(err), h.podURL(name))
		}
		return
	}
	h.status(ctx, pr, podCtx, forge.StatusSuccess, fmt.Sprintf("pod %s is up with build %d", name, b.Number), h.podURL(name))

	// 3. The tests.
	h.save(ctx, &rec, spacepods.PRPodTesting, "running tests"+noteSuffix(notes))
	h.status(ctx, pr, testsCtx, forge.StatusPending, "running tests in "+name, h.podURL(name))
	h.writeComment(ctx, pr.Repo, pr.Number)
	runs, err := h.Tests.Run(ctx, name, app.Name, fmt.Sprintf("pr %s#%d", pr.Repo, pr.Number))
	if ctx.Err() != nil {
		return
	}
	// The comment is written before the final status: whoever sees the
	// status finds the comment up to date.
	state, desc, target := spacepods.PRPodReady, "", h.podURL(name)
	var final forge.StatusState
	switch {
	case spacepods.ErrorCode(err) == spacepods.EINVALID && len(runs) == 0:
		// No suite declared: nothing to gate on.
		final, desc = forge.StatusSuccess, "no tests declared (add tests: to the manifest)"
	case err != nil:
		state, final, desc = spacepods.PRPodFailed, forge.StatusError, "tests did not run: "+spacepods.ErrorMessage(err)
	default:
		ok, line := gatekeeper.Summary(runs)
		target, desc, final = h.testURL(runs, ok), "tests "+line, forge.StatusSuccess
		if !ok {
			state, final = spacepods.PRPodFailed, forge.StatusFailure
		}
	}
	h.save(ctx, &rec, state, desc+noteSuffix(notes))
	h.writeComment(ctx, pr.Repo, pr.Number)
	h.status(ctx, pr, testsCtx, final, desc, target)
}

// contexts are the status contexts of app: spacepods/pod and
// spacepods/tests, with "/<app>" after them when the repository holds
// several apps (each gets its own pod).
func (h *Handler) contexts(ctx context.Context, repo, app string) (string, string) {
	apps, err := h.appsOf(ctx, repo)
	if err != nil || len(apps) <= 1 {
		return ContextPod, ContextTests
	}
	return ContextPod + "/" + app, ContextTests + "/" + app
}

func noteSuffix(notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}

// fail records a failure before the tests could run: both statuses fail.
func (h *Handler) fail(ctx context.Context, pr forge.PullRequest, rec *spacepods.PRPod, podCtx, testsCtx, why, target string) {
	h.save(ctx, rec, spacepods.PRPodFailed, why)
	h.writeComment(ctx, pr.Repo, pr.Number)
	h.status(ctx, pr, podCtx, forge.StatusFailure, why, target)
	h.status(ctx, pr, testsCtx, forge.StatusFailure, "not run: the pod is not up", target)
}

// waitBuild returns the build recorded for the head, asking the Builder
// (when there is one) and waiting up to BuildTimeout for it.
func (h *Handler) waitBuild(ctx context.Context, app spacepods.App, pr forge.PullRequest) (spacepods.Build, error) {
	deadline := time.Now().Add(h.buildTimeout())
	asked := false
	for {
		b, err := h.Store.BuildForSHA(ctx, app.Name, pr.HeadSHA)
		if err == nil {
			return b, nil
		}
		if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			return b, err
		}
		if h.Builder != nil && !asked {
			asked = true
			if err := h.Builder.BuildCommit(ctx, app, pr.HeadRepo, pr.HeadRef, pr.HeadSHA); err != nil {
				return b, fmt.Errorf("the builder did not take the build of %s: %s", short(pr.HeadSHA), spacepods.ErrorMessage(err))
			}
		}
		if bf, ok := h.Builder.(BuildFailer); ok && asked {
			if why, failed := bf.BuildFailed(ctx, app.Name, pr.HeadSHA); failed {
				return b, fmt.Errorf("%s; push again to retry", why)
			}
		}
		if time.Now().After(deadline) {
			return b, fmt.Errorf("no build of %s at %s was recorded within %s: CI must record it (`spacepods build record %s --number N --image REF --sha %s --branch %s`); push again to retry",
				app.Name, short(pr.HeadSHA), h.buildTimeout(), app.Name, pr.HeadSHA, pr.HeadRef)
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(h.poll()):
		}
	}
}

// pins resolves the PR body's Spacepods-With lines to builds: each names
// an app (or its repository) and a pull request of that app's repository,
// whose head's build goes into the pod. Apps that are not dependencies of
// the PR's app join the pod. What cannot be pinned is noted, not fatal:
// that app then runs its latest main build.
func (h *Handler) pins(ctx context.Context, pr forge.PullRequest, app spacepods.App) (map[string]int, []string, []string) {
	builds := map[string]int{}
	var extra, notes []string
	pins, bad := ParsePins(pr.Body)
	notes = append(notes, bad...)
	for _, p := range pins {
		other, err := h.pinnedApp(ctx, p.App)
		if err != nil {
			notes = append(notes, fmt.Sprintf("Spacepods-With %s#%d: %s", p.App, p.Number, spacepods.ErrorMessage(err)))
			continue
		}
		if other.Name == app.Name {
			continue
		}
		opr, err := h.Forge.PullRequest(ctx, other.Repo, p.Number)
		if err != nil {
			notes = append(notes, fmt.Sprintf("Spacepods-With %s#%d: %s", p.App, p.Number, spacepods.ErrorMessage(err)))
			continue
		}
		b, err := h.Store.BuildForSHA(ctx, other.Name, opr.HeadSHA)
		if err != nil {
			notes = append(notes, fmt.Sprintf("Spacepods-With %s#%d: no build of its head %s yet, %s runs its latest main build", p.App, p.Number, short(opr.HeadSHA), other.Name))
			continue
		}
		builds[other.Name] = b.Number
		extra = append(extra, other.Name)
		notes = append(notes, fmt.Sprintf("%s build %d from %s#%d", other.Name, b.Number, other.Repo, p.Number))
	}
	return builds, extra, notes
}

// pinnedApp finds the app a pin names: an app name, or the repository of
// exactly one app.
func (h *Handler) pinnedApp(ctx context.Context, name string) (spacepods.App, error) {
	if !strings.Contains(name, "/") {
		return h.Catalog.Get(ctx, name)
	}
	apps, err := h.appsOf(ctx, name)
	if err != nil {
		return spacepods.App{}, err
	}
	if len(apps) != 1 {
		return spacepods.App{}, spacepods.Errorf(spacepods.EINVALID, "repository %s has %d registered apps: name the app instead (APP#NUMBER)", name, len(apps))
	}
	return apps[0], nil
}

// deploy creates the pod, or updates it in place when it exists, and waits
// until it is ready.
func (h *Handler) deploy(ctx context.Context, name string, app spacepods.App, pr forge.PullRequest, fork bool, builds map[string]int, extra []string) error {
	actx := actor(ctx)
	env, err := h.Store.GetEnvironment(ctx, name)
	switch {
	case err == nil && env.Status == spacepods.StatusDestroying:
		if err := h.waitGone(ctx, name); err != nil {
			return err
		}
		err = spacepods.Errorf(spacepods.ENOTFOUND, "destroyed")
	case err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND:
		return err
	}
	apps := append([]string{app.Name}, extra...)
	ttl := ""
	if app.Previews != nil {
		ttl = app.Previews.TTL
	}
	if err == nil && sameApps(env.Apps, apps) {
		if _, err := h.Pods.Update(actx, name, builds); err != nil {
			return err
		}
		// A push keeps the pod for another TTL from now.
		if ttl == "" {
			d, _ := h.Pods.ParseTTL("")
			ttl = d.String()
		}
		if _, err := h.Pods.Extend(actx, name, ttl); err != nil {
			h.Logger.Warn("extend the pull request's pod", "pod", name, "err", err)
		}
	} else {
		if err == nil {
			// The pins changed which apps the pod holds: make it anew.
			if err := h.Pods.Destroy(actx, name); err != nil {
				return err
			}
			if err := h.waitGone(ctx, name); err != nil {
				return err
			}
		}
		if _, _, err := h.Pods.Create(actx, spacepods.CreatePodRequest{Name: name, Apps: apps, Builds: builds, TTL: ttl, PRURL: pr.WebURL, NoSecrets: fork}); err != nil {
			return err
		}
	}
	return h.waitReady(ctx, name)
}

func sameApps(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

func (h *Handler) waitReady(ctx context.Context, name string) error {
	deadline := time.Now().Add(h.podTimeout())
	for {
		e, err := h.Store.GetEnvironment(ctx, name)
		if err != nil {
			return err
		}
		switch e.Status {
		case spacepods.StatusReady:
			return nil
		case spacepods.StatusFailed:
			return spacepods.Errorf(spacepods.EINVALID, "%s", e.Reason)
		case spacepods.StatusDestroying:
			return spacepods.Errorf(spacepods.ECONFLICT, "the pod is being destroyed")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pod was not ready within %s (status %s): see its events", h.podTimeout(), e.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.poll()):
		}
	}
}

func (h *Handler) waitGone(ctx context.Context, name string) error {
	for {
		e, err := h.Store.GetEnvironment(ctx, name)
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Status == spacepods.StatusFailed {
			return fmt.Errorf("the old pod %s failed to be destroyed: %s", name, e.Reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(h.poll()):
		}
	}
}

// save records the pod's state (a lost write is logged: the statuses and
// the comment still tell the PR).
func (h *Handler) save(ctx context.Context, rec *spacepods.PRPod, state, detail string) {
	rec.State, rec.Detail = state, detail
	if err := h.Store.PutPRPod(context.WithoutCancel(ctx), *rec); err != nil {
		h.Logger.Error("record the pull request's pod", "pod", rec.Env, "err", err)
	}
}

// status sets a commit status on the head; a forge that does not answer
// is logged, not fatal.
func (h *Handler) status(ctx context.Context, pr forge.PullRequest, context_ string, state forge.StatusState, desc, target string) {
	if ctx.Err() != nil {
		return // replaced by a newer event: it reports
	}
	if err := h.Forge.SetStatus(ctx, pr.Repo, pr.HeadSHA, forge.Status{Context: context_, State: state, Description: trim(desc), TargetURL: target}); err != nil {
		h.Logger.Warn("set a commit status", "repo", pr.Repo, "sha", short(pr.HeadSHA), "context", context_, "err", err)
	}
}

// trim cuts a status description to GitHub's 140 characters.
func trim(s string) string {
	if r := []rune(s); len(r) > 140 {
		return string(r[:139]) + "…"
	}
	return s
}

func (h *Handler) podURL(env string) string {
	if h.BaseURL == "" {
		return ""
	}
	return strings.TrimRight(h.BaseURL, "/") + "/pods/" + env
}

// TestURL is the web page of a test run's log.
func (h *Handler) TestURL(id int64) string {
	if h.BaseURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/tests/%d", strings.TrimRight(h.BaseURL, "/"), id)
}

// testURL links the first failed run, or the first run.
func (h *Handler) testURL(runs []spacepods.TestRun, ok bool) string {
	for _, r := range runs {
		if !ok && r.Status != spacepods.TestPassed {
			return h.TestURL(r.ID)
		}
	}
	if len(runs) > 0 {
		return h.TestURL(runs[0].ID)
	}
	return ""
}
