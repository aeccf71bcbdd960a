// Package previews gives pull requests their CI pods. It is a
// forge.Handler: on a pull request opened, reopened or synchronized it
// decides whether the PR gets a pod (the app's previews: policy, drafts,
// bots, labels, /spacepods commands), finds the head's build (or waits for
// CI to record one), creates or updates the pod pr-<n>-<app> with that
// build and the app's dependencies at their latest main builds, runs the
// Gatekeeper tests once it is healthy, and reports on the PR: the commit
// statuses spacepods/pod and spacepods/tests and one comment, edited as
// things change. Closing the PR destroys the pod.
package previews

import (
	"context"

	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Status contexts set on the pull request head.
const (
	ContextPod   = "spacepods/pod"
	ContextTests = "spacepods/tests"
)

// Marker is the invisible marker of the one comment a pull request gets.
const Marker = "<!-- spacepods:pr-pod -->"

// Builder is the seam for a built-in builder: asked once to build app at
// the pull request's head when no build of that commit is recorded yet.
// It returns at once; the handler then waits for the build record as it
// does for CI's. nil: builds come from CI only.
type Builder interface {
	BuildCommit(ctx context.Context, app spacepods.App, repo, ref, sha string) error
}

// BuildFailer is implemented by a Builder that can tell that the build it
// was asked for failed: the pod then fails at once, saying why, instead of
// waiting BuildTimeout for a build that will not come.
type BuildFailer interface {
	BuildFailed(ctx context.Context, app, sha string) (why string, failed bool)
}

// Handler is the pull request → CI pod handler.
type Handler struct {
	Forge   forge.Forge
	Store   *store.Store
	Catalog *catalog.Service
	Pods    *pods.Service
	Tests   *gatekeeper.Service
	Builder Builder // optional
	// BaseURL is the web UI's public URL; target URLs and the comment's
	// links are made from it ("" leaves them out).
	BaseURL string
	// Prefix goes before every pod name (tests that share a Docker host).
	Prefix string
	// BuildTimeout bounds the wait for the head's build (default 30m).
	BuildTimeout time.Duration
	// PodTimeout bounds the wait for the pod to be ready (default 15m).
	PodTimeout time.Duration
	// Poll is how often it looks for a build or the pod's status (default 500ms).
	Poll   time.Duration
	Logger *slog.Logger

	mu      sync.Mutex
	base    context.Context
	jobs    map[string]*job        // repo#n/app → running job
	prLocks map[string]*sync.Mutex // repo#n → serializes comment writes
	wg      sync.WaitGroup
}

type job struct {
	cancel context.CancelFunc
	done   chan struct{}
}

var _ forge.Handler = (*Handler)(nil)

func (h *Handler) buildTimeout() time.Duration {
	if h.BuildTimeout > 0 {
		return h.BuildTimeout
	}
	return 30 * time.Minute
}

func (h *Handler) podTimeout() time.Duration {
	if h.PodTimeout > 0 {
		return h.PodTimeout
	}
	return 15 * time.Minute
}

func (h *Handler) poll() time.Duration {
	if h.Poll > 0 {
		return h.Poll
	}
	return 500 * time.Millisecond
}

// actor is who the handler acts as: pods it makes are owned by
// "previews" (an admin, so that the per-user pod quota does not apply).
func actor(ctx context.Context) context.Context {
	return spacepods.WithActor(ctx, &spacepods.Token{Name: "previews", Role: spacepods.RoleAdmin})
}

// Start makes background work live until ctx ends and resumes the pods a
// restart cut short (waiting, deploying or testing): each is brought to its
// pull request's current head again.
func (h *Handler) Start(ctx context.Context) error {
	h.mu.Lock()
	h.base = actor(ctx)
	h.jobs, h.prLocks = map[string]*job{}, map[string]*sync.Mutex{}
	h.mu.Unlock()
	recs, err := h.Store.PRPods(ctx, "", 0)
	if err != nil {
		return err
	}
	for _, r := range recs {
		switch r.State {
		case spacepods.PRPodWaiting, spacepods.PRPodDeploying, spacepods.PRPodTesting:
			pr, err := h.Forge.PullRequest(ctx, r.Repo, r.Number)
			if err != nil {
				h.Logger.Warn("resume a pull request pod: the forge does not answer", "repo", r.Repo, "pr", r.Number, "err", err)
				continue
			}
			app, err := h.Catalog.Get(ctx, r.App)
			if err != nil {
				continue
			}
			h.launch(pr, app, r.OnDemand, "resumed after a restart")
		}
	}
	return nil
}

// Wait blocks until background jobs have ended (after Start's ctx ends).
func (h *Handler) Wait() { h.wg.Wait() }

// HandleEvent implements forge.Handler. It decides and records quickly;
// the pod's build wait, deploy and tests run in the background.
func (h *Handler) HandleEvent(ctx context.Context, ev forge.Event) (string, error) {
	switch ev.Kind {
	case forge.EventPullRequest:
		if ev.PR == nil {
			return "", spacepods.Errorf(spacepods.EINVALID, "pull_request event %s carries no pull request", ev.DeliveryID)
		}
		return h.pullRequest(ctx, ev)
	case forge.EventComment:
		if ev.PR == nil || ev.Comment == nil {
			return "ignored: not a comment on a pull request", nil
		}
		return h.comment(ctx, ev)
	default:
		// Pushes and pings are other handlers' business: saying nothing
		// keeps their line in the delivery log clean.
		return "", nil
	}
}

// appsOf returns the registered apps whose repo is repo.
func (h *Handler) appsOf(ctx context.Context, repo string) ([]spacepods.App, error) {
	all, err := h.Catalog.List(ctx, store.ListOptions{Limit: 10000})
	if err != nil {
		return nil, err
	}
	var out []spacepods.App
	for _, a := range all {
		if strings.EqualFold(a.Repo, repo) {
			full, err := h.Catalog.Get(ctx, a.Name)
			if err != nil {
				return nil, err
			}
			out = append(out, full)
		}
	}
	return out, nil
}

func (h *Handler) pullRequest(ctx context.Context, ev forge.Event) (string, error) {
	pr := *ev.PR
	if pr.Repo == "" {
		pr.Repo = ev.Repo
	}
	apps, err := h.appsOf(ctx, pr.Repo)
	if err != nil {
		return "", err
	}
	if len(apps) == 0 {
		return fmt.Sprintf("ignored: no registered app has repo %s", pr.Repo), nil
	}
	switch ev.Action {
	case "closed":
		return h.closePR(ctx, pr, "the pull request was "+map[bool]string{true: "merged", false: "closed"}[pr.Merged])
	case "opened", "reopened", "synchronize", "synchronized", "labeled", "unlabeled", "edited", "ready_for_review", "converted_to_draft":
	default:
		return fmt.Sprintf("ignored: pull request action %q", ev.Action), nil
	}
	if pr.State == "closed" {
		return "ignored: the pull request is closed", nil
	}
	if stale, why := h.stale(ctx, pr); stale {
		return "ignored: " + why, nil
	}
	var lines []string
	for _, app := range apps {
		rec, err := h.Store.GetPRPod(ctx, pr.Repo, pr.Number, app.Name)
		if err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			return "", err
		}
		onDemand := err == nil && rec.Active() && rec.OnDemand
		d := Decide(app.Previews, pr)
		name := PodName(h.Prefix, pr.Number, app.Name)
		switch {
		case !d.Pod && !onDemand && rec.Active():
			if err := h.destroy(ctx, rec, "no longer wanted: "+d.Reason); err != nil {
				return "", err
			}
			lines = append(lines, fmt.Sprintf("destroying pod %s (%s)", name, d.Reason))
		case !d.Pod && !onDemand:
			lines = append(lines, fmt.Sprintf("no pod for %s: %s", app.Name, d.Reason))
		case rec.Active() && rec.HeadSHA == pr.HeadSHA && rec.State != spacepods.PRPodFailed && ev.Action != "edited":
			lines = append(lines, fmt.Sprintf("pod %s is already made for %s", name, short(pr.HeadSHA)))
		default:
			verb := "creating"
			if rec.Active() {
				verb = "updating"
			}
			h.launch(pr, app, onDemand, ev.Action)
			lines = append(lines, fmt.Sprintf("%s pod %s for %s", verb, name, short(pr.HeadSHA)))
		}
	}
	return strings.Join(lines, "; "), nil
}

// stale reports whether an event's head is older than the pull request's:
// the forge's current head differs from the event's (a late delivery), or
// a pod of the PR already runs a newer build than the one recorded for the
// event's head.
func (h *Handler) stale(ctx context.Context, pr forge.PullRequest) (bool, string) {
	cur, err := h.Forge.PullRequest(ctx, pr.Repo, pr.Number)
	if err == nil && cur.HeadSHA != "" && cur.HeadSHA != pr.HeadSHA {
		return true, fmt.Sprintf("event for head %s, but the pull request's head is now %s (an older event delivered late)", short(pr.HeadSHA), short(cur.HeadSHA))
	}
	if err != nil {
		h.Logger.Warn("look up the pull request's current head", "repo", pr.Repo, "pr", pr.Number, "err", err)
	}
	recs, err := h.Store.PRPods(ctx, pr.Repo, pr.Number)
	if err != nil {
		return false, ""
	}
	for _, r := range recs {
		if !r.Active() || r.HeadSHA == pr.HeadSHA || r.Build == 0 {
			continue
		}
		if b, err := h.Store.BuildForSHA(ctx, r.App, pr.HeadSHA); err == nil && b.Number < r.Build {
			return true, fmt.Sprintf("head %s is build %d of %s, older than build %d the pod %s already runs", short(pr.HeadSHA), b.Number, r.App, r.Build, r.Env)
		}
	}
	return false, ""
}

func (h *Handler) comment(ctx context.Context, ev forge.Event) (string, error) {
	cmd, problem := ParseCommand(ev.Comment.Body)
	if problem != "" {
		return "ignored: " + problem, nil
	}
	if cmd == CmdNone {
		return "ignored: no /spacepods command", nil
	}
	repo := ev.PR.Repo
	if repo == "" {
		repo = ev.Repo
	}
	ok, err := h.Forge.IsCollaborator(ctx, repo, ev.Comment.Author)
	if err != nil {
		return "", fmt.Errorf("is %s a collaborator of %s: %w", ev.Comment.Author, repo, err)
	}
	if !ok {
		return fmt.Sprintf("ignored: /spacepods %s from %s, who is not a collaborator of %s", cmd, ev.Comment.Author, repo), nil
	}
	// The comment event's pull request may be partial (an issue): ask the
	// forge for the whole of it.
	pr, err := h.Forge.PullRequest(ctx, repo, ev.PR.Number)
	if err != nil {
		return "", err
	}
	if cmd == CmdDestroy {
		return h.closePR(ctx, pr, "/spacepods destroy from "+ev.Comment.Author)
	}
	if pr.State == "closed" {
		return "ignored: /spacepods preview on a closed pull request", nil
	}
	apps, err := h.appsOf(ctx, repo)
	if err != nil {
		return "", err
	}
	if len(apps) == 0 {
		return fmt.Sprintf("ignored: no registered app has repo %s", repo), nil
	}
	var lines []string
	for _, app := range apps {
		h.launch(pr, app, true, "/spacepods preview from "+ev.Comment.Author)
		lines = append(lines, fmt.Sprintf("pod %s on demand of %s", PodName(h.Prefix, pr.Number, app.Name), ev.Comment.Author))
	}
	return strings.Join(lines, "; "), nil
}

// closePR destroys every pod of a pull request.
func (h *Handler) closePR(ctx context.Context, pr forge.PullRequest, why string) (string, error) {
	recs, err := h.Store.PRPods(ctx, pr.Repo, pr.Number)
	if err != nil {
		return "", err
	}
	var names []string
	for _, r := range recs {
		if !r.Active() {
			continue
		}
		if err := h.destroy(ctx, r, why); err != nil {
			return "", err
		}
		names = append(names, r.Env)
	}
	if len(names) == 0 {
		return "no pod to destroy (" + why + ")", nil
	}
	return fmt.Sprintf("destroying pod %s (%s)", strings.Join(names, ", "), why), nil
}

// destroy stops the record's job, destroys its pod and marks it closed.
func (h *Handler) destroy(ctx context.Context, r spacepods.PRPod, why string) error {
	h.stopJob(jobKey(r.Repo, r.Number, r.App))
	if err := h.Pods.Destroy(actor(ctx), r.Env); err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return fmt.Errorf("destroy pod %s: %w", r.Env, err)
	}
	r.State, r.Detail = spacepods.PRPodClosed, "destroyed: "+why
	if err := h.Store.PutPRPod(ctx, r); err != nil {
		return err
	}
	h.writeComment(ctx, r.Repo, r.Number)
	return nil
}

func jobKey(repo string, n int, app string) string { return fmt.Sprintf("%s#%d/%s", repo, n, app) }

// stopJob cancels the job of key, if any, and waits until it has stopped.
func (h *Handler) stopJob(key string) {
	h.mu.Lock()
	j := h.jobs[key]
	h.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	}
}

// launch (re)starts the pod job of (pr, app): a newer event replaces the
// job of an older one.
func (h *Handler) launch(pr forge.PullRequest, app spacepods.App, onDemand bool, why string) {
	key := jobKey(pr.Repo, pr.Number, app.Name)
	h.stopJob(key)
	h.mu.Lock()
	if h.base == nil {
		h.mu.Unlock()
		h.Logger.Error("previews: the handler is not started; call Start first", "pr", key)
		return
	}
	ctx, cancel := context.WithCancel(h.base)
	j := &job{cancel: cancel, done: make(chan struct{})}
	h.jobs[key] = j
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(j.done)
		defer cancel()
		h.sync(ctx, pr, app, onDemand, why)
		h.mu.Lock()
		if h.jobs[key] == j {
			delete(h.jobs, key)
		}
		h.mu.Unlock()
	}()
}

// prLock serializes the comment writes of one pull request.
func (h *Handler) prLock(repo string, n int) *sync.Mutex {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := fmt.Sprintf("%s#%d", repo, n)
	if h.prLocks[k] == nil {
		h.prLocks[k] = &sync.Mutex{}
	}
	return h.prLocks[k]
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
