package previews_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/forge/forgetest"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/previews"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

const (
	repo = "acme/catalog-api"
	base = "http://spacepods.test"
)

// rig is a real control plane (Docker, PostgreSQL, the edge router) with
// the Gatekeeper runner and the previews handler on a fake forge.
type rig struct {
	t      *testing.T
	s      *podstest.Stack
	f      *forgetest.Forge
	h      *previews.Handler
	tests  *gatekeeper.Service
	prefix string
	build  int
}

func start(t *testing.T) *rig {
	s := podstest.Start(t, podstest.Config{Secrets: secretstest.NewMemory()})
	f := forgetest.New()
	f.AddRepo(repo)
	f.AddCollaborator(repo, "carol")
	ctx, cancel := context.WithCancel(context.Background())
	tests := &gatekeeper.Service{Store: s.Store, Catalog: s.Catalog, Driver: s.Driver, Endpoints: s.Engine(), Logger: s.Logger.With("component", "gatekeeper")}
	if err := tests.Start(ctx); err != nil {
		t.Fatal(err)
	}
	prefix := s.EnvName("t") + "-"
	h := &previews.Handler{Forge: f, Store: s.Store, Catalog: s.Catalog, Pods: s.Pods, Tests: tests, BaseURL: base, Prefix: prefix,
		BuildTimeout: 2 * time.Minute, PodTimeout: 3 * time.Minute, Poll: 100 * time.Millisecond, Logger: s.Logger.With("component", "previews")}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Stopped before the stack's cleanup destroys what is left.
	t.Cleanup(func() { cancel(); h.Wait(); tests.Wait() })
	return &rig{t: t, s: s, f: f, h: h, tests: tests, prefix: prefix, build: 100}
}

func sha() string {
	b := make([]byte, 20)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// record records a build of catalog-api at commit (the example image).
func (r *rig) record(commit string, pr int) int {
	r.t.Helper()
	r.build++
	if _, err := r.s.Catalog.RecordBuild(context.Background(), spacepods.Build{App: "catalog-api", Number: r.build, GitSHA: commit, Branch: "feature/pr-" + strconv.Itoa(pr), PR: pr, Image: podstest.Image("catalog-api", podstest.BuildNormal)}); err != nil {
		r.t.Fatal(err)
	}
	return r.build
}

// pr stores a pull request at the fake forge and returns it.
func (r *rig) pr(n int, head string, mod func(*forge.PullRequest)) forge.PullRequest {
	p := forge.PullRequest{Repo: repo, Number: n, Title: "change " + strconv.Itoa(n), Author: "alice", HeadSHA: head, HeadRef: "feature/pr-" + strconv.Itoa(n), BaseRef: "main"}
	if mod != nil {
		mod(&p)
	}
	p = r.f.SetPR(p)
	r.s.Track(previews.PodName(r.prefix, n, "catalog-api"))
	return p
}

func (r *rig) event(action string, p forge.PullRequest) string {
	r.t.Helper()
	sum, err := r.h.HandleEvent(podstest.Context(r.t, time.Minute), forge.Event{DeliveryID: sha(), Kind: forge.EventPullRequest, Action: action, Repo: repo, Sender: p.Author, PR: &p})
	if err != nil {
		r.t.Fatalf("HandleEvent %s: %v", action, err)
	}
	return sum
}

func (r *rig) waitStatus(p forge.PullRequest, ctxName string, states ...forge.StatusState) forge.Status {
	r.t.Helper()
	st, err := r.f.WaitStatus(podstest.Context(r.t, 5*time.Minute), repo, p.HeadSHA, ctxName, states...)
	if err != nil {
		r.t.Fatalf("%v\npod events:\n%s", err, r.events(previews.PodName(r.prefix, p.Number, "catalog-api")))
	}
	return st
}

func (r *rig) events(env string) string {
	evs, _ := r.s.Pods.Events(context.Background(), env, 0)
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %-5s %s %s\n", e.At.Format("15:04:05.000"), e.Level, e.App, e.Message)
	}
	return b.String()
}

func (r *rig) waitDestroyed(env string) {
	r.t.Helper()
	if err := r.s.WaitDestroyed(podstest.Context(r.t, 3*time.Minute), env); err != nil {
		r.t.Fatal(err)
	}
}

// runID reads the test run ID from a spacepods/tests target URL.
func runID(t *testing.T, target string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimPrefix(target, base+"/tests/"), 10, 64)
	if err != nil || !strings.HasPrefix(target, base+"/tests/") {
		t.Fatalf("target URL %q is not a test run's page", target)
	}
	return id
}

// TestPRPods: the pull request → CI pod lifecycle against real Docker and
// PostgreSQL, with a fake forge recording statuses and comments.
func TestPRPods(t *testing.T) {
	r := start(t)

	t.Run("opened, synchronized, older head, closed", func(t *testing.T) {
		r.t = t
		head1 := sha()
		b1 := r.record(head1, 11)
		p := r.pr(11, head1, nil)
		name := previews.PodName(r.prefix, 11, "catalog-api")
		if sum := r.event("opened", p); !strings.Contains(sum, "creating pod "+name) {
			t.Fatalf("summary %q", sum)
		}
		tests := r.waitStatus(p, previews.ContextTests, forge.StatusSuccess, forge.StatusFailure, forge.StatusError)
		if tests.State != forge.StatusSuccess {
			log, _ := r.tests.Log(context.Background(), runID(t, tests.TargetURL))
			t.Fatalf("tests: %+v\n%s", tests, log)
		}
		pod, _ := r.f.Latest(repo, head1, previews.ContextPod)
		if pod.State != forge.StatusSuccess || pod.TargetURL != base+"/pods/"+name {
			t.Fatalf("pod status %+v", pod)
		}
		// Both went through pending first.
		var seen []string
		for _, s := range r.f.Statuses(repo, head1) {
			seen = append(seen, s.Context+"="+string(s.State))
		}
		if !strings.HasPrefix(strings.Join(seen, " "), previews.ContextPod+"=pending "+previews.ContextTests+"=pending") {
			t.Fatalf("statuses in order: %v", seen)
		}
		id := runID(t, tests.TargetURL)
		run, err := r.tests.Get(context.Background(), id)
		if err != nil || run.Status != spacepods.TestPassed || run.Env != name || run.Build != b1 || run.GitSHA != head1 {
			t.Fatalf("run %+v %v", run, err)
		}
		if log, err := r.tests.Log(context.Background(), id); err != nil || !strings.Contains(log, "PASS") || !strings.Contains(log, "products have a price") {
			t.Fatalf("log %q %v", log, err)
		}
		env, err := r.s.Store.GetEnvironment(context.Background(), name)
		if err != nil || env.PRURL != p.WebURL || env.NoSecrets {
			t.Fatalf("pod %+v %v", env, err)
		}
		cs := r.f.Comments(repo, 11)
		if len(cs) != 1 {
			t.Fatalf("%d comments", len(cs))
		}
		url := r.s.Engine().URL(name, "catalog-api")
		for _, want := range []string{url, fmt.Sprintf("%d (`%s`", b1, head1[:7]), "1 passed", base + "/tests/", "Expires", "/spacepods destroy"} {
			if !strings.Contains(cs[0].Body, want) {
				t.Fatalf("comment lacks %q:\n%s", want, cs[0].Body)
			}
		}
		// The URL in the comment answers.
		if status, body, err := r.s.Get(context.Background(), name, "catalog-api", "/products"); err != nil || status != 200 {
			t.Fatalf("GET the pod's catalog-api: %d %v %s", status, err, body)
		}

		// A push: the same pod is updated in place, the same comment edited.
		head2 := sha()
		b2 := r.record(head2, 11)
		p2 := r.pr(11, head2, nil)
		if sum := r.event("synchronize", p2); !strings.Contains(sum, "updating pod "+name) {
			t.Fatalf("summary %q", sum)
		}
		if st := r.waitStatus(p2, previews.ContextTests, forge.StatusSuccess, forge.StatusFailure, forge.StatusError); st.State != forge.StatusSuccess {
			t.Fatalf("tests after the push: %+v", st)
		}
		ea, err := r.s.Store.GetEnvApp(context.Background(), name, "catalog-api")
		if err != nil || ea.Build != b2 {
			t.Fatalf("pod runs %+v, want build %d", ea, b2)
		}
		if env2, err := r.s.Store.GetEnvironment(context.Background(), name); err != nil || !env2.ExpiresAt.After(*env.ExpiresAt) {
			t.Fatalf("the push did not extend the pod's TTL: %v → %+v %v", env.ExpiresAt, env2.ExpiresAt, err)
		}
		cs2 := r.f.Comments(repo, 11)
		if len(cs2) != 1 || cs2[0].ID != cs[0].ID || cs2[0].Writes <= cs[0].Writes || !strings.Contains(cs2[0].Body, fmt.Sprintf("%d (`%s`", b2, head2[:7])) {
			t.Fatalf("comment not edited in place: %+v (was %+v)", cs2, cs)
		}

		// A late delivery of the first push does nothing.
		before := len(r.f.Statuses(repo, head1))
		if sum := r.event("synchronize", p); !strings.Contains(sum, "ignored") {
			t.Fatalf("older head: %q", sum)
		}
		time.Sleep(300 * time.Millisecond)
		if after := len(r.f.Statuses(repo, head1)); after != before {
			t.Fatalf("older head got %d new statuses", after-before)
		}
		if ea, _ := r.s.Store.GetEnvApp(context.Background(), name, "catalog-api"); ea.Build != b2 {
			t.Fatalf("older head changed the pod to build %d", ea.Build)
		}

		// Closing destroys the pod, leaving nothing behind.
		p2.State = "closed"
		r.f.SetPR(p2)
		if sum := r.event("closed", p2); !strings.Contains(sum, "destroying pod "+name) {
			t.Fatalf("summary %q", sum)
		}
		r.waitDestroyed(name)
		leaks, err := r.s.LeaksOf(context.Background())
		if err != nil || len(leaks) > 0 {
			t.Fatalf("leaks after close: %v\n%s", err, podstest.FormatLeaks(leaks))
		}
		if c := r.f.Comments(repo, 11); len(c) != 1 || !strings.Contains(c[0].Body, "closed") {
			t.Fatalf("comment after close: %+v", c)
		}
	})

	t.Run("failing tests", func(t *testing.T) {
		r.t = t
		m, err := r.s.Manifest("catalog-api")
		if err != nil {
			t.Fatal(err)
		}
		failing := strings.Replace(m, `command: ["/app", "selftest"]}`, `command: ["/app", "selftest"], args: ["-timeout", "2s", "-min-products", "100000"]}`, 1)
		if failing == m {
			t.Fatal("the example manifest's tests line changed: update this test")
		}
		if _, err := r.s.Register(context.Background(), "catalog-api", failing); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = r.s.Register(context.Background(), "catalog-api", m) })
		head := sha()
		r.record(head, 12)
		p := r.pr(12, head, nil)
		r.event("opened", p)
		st := r.waitStatus(p, previews.ContextTests, forge.StatusSuccess, forge.StatusFailure, forge.StatusError)
		if st.State != forge.StatusFailure || !strings.Contains(st.Description, "catalog-api (exit 1)") {
			t.Fatalf("tests status %+v", st)
		}
		if pod, _ := r.f.Latest(repo, head, previews.ContextPod); pod.State != forge.StatusSuccess {
			t.Fatalf("the pod itself is fine: %+v", pod)
		}
		id := runID(t, st.TargetURL)
		log, err := r.tests.Log(context.Background(), id)
		if err != nil || !strings.Contains(log, "want at least 100000") || !strings.Contains(log, "FAIL") {
			t.Fatalf("the log link's run %d: %q %v", id, log, err)
		}
		run, _ := r.tests.Get(context.Background(), id)
		if run.Status != spacepods.TestFailed || run.ExitCode != 1 || !strings.Contains(run.LogTail, "FAIL") {
			t.Fatalf("run %+v", run)
		}
		if c := r.f.Comments(repo, 12); len(c) != 1 || !strings.Contains(c[0].Body, "1 of 1 failed") {
			t.Fatalf("comment %+v", c)
		}
	})

	t.Run("fork pull request gets no secrets", func(t *testing.T) {
		r.t = t
		name := previews.PodName(r.prefix, 13, "catalog-api")
		admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "admin", Role: spacepods.RoleAdmin})
		app, _ := r.s.Catalog.Get(admin, "catalog-api")
		for _, req := range []spacepods.SetConfigRequest{
			{Scope: "pods", Vars: map[string]string{"API_TOKEN": "s3cr3t"}, Secret: true},
			{Scope: "env:" + name, Vars: map[string]string{"DB_PASSWORD": "plain-env-scoped"}},
			{Scope: "pods", Vars: map[string]string{"COLOR": "blue"}},
		} {
			if _, err := r.s.Config.Set(admin, app, req); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			_ = r.s.Config.Unset(admin, "catalog-api", "pods", "API_TOKEN")
			_ = r.s.Config.Unset(admin, "catalog-api", "pods", "COLOR")
			_ = r.s.Config.Unset(admin, "catalog-api", "env:"+name, "DB_PASSWORD")
		})
		head := sha()
		r.record(head, 13)
		p := r.pr(13, head, func(p *forge.PullRequest) { p.Fork, p.HeadRepo, p.Author = true, "mallory/catalog-api", "mallory" })
		r.event("opened", p)
		if st := r.waitStatus(p, previews.ContextTests, forge.StatusSuccess, forge.StatusFailure, forge.StatusError); st.State != forge.StatusSuccess {
			t.Fatalf("tests still run for a fork: %+v", st)
		}
		env, err := r.s.Store.GetEnvironment(context.Background(), name)
		if err != nil || !env.NoSecrets {
			t.Fatalf("fork pod %+v %v", env, err)
		}
		ea, err := r.s.Store.GetEnvApp(context.Background(), name, "catalog-api")
		if err != nil {
			t.Fatal(err)
		}
		rel, err := r.s.Store.GetRelease(context.Background(), name, "catalog-api", ea.Release)
		if err != nil {
			t.Fatal(err)
		}
		if len(rel.SecretRefs) != 0 || rel.Vars["DB_PASSWORD"] != "" || rel.Vars["COLOR"] != "blue" {
			t.Fatalf("fork release: secrets %v, vars %v", rel.SecretRefs, rel.Vars)
		}
		if c := r.f.Comments(repo, 13); len(c) != 1 || !strings.Contains(c[0].Body, "no secrets") {
			t.Fatalf("comment %+v", c)
		}
		r.event("closed", p)
		r.waitDestroyed(name)
	})

	t.Run("waits for the build, pins another repo's PR build", func(t *testing.T) {
		r.t = t
		r.f.AddRepo("acme/pricing-api")
		pricingHead := sha()
		if _, err := r.s.Catalog.RecordBuild(context.Background(), spacepods.Build{App: "pricing-api", Number: 77, GitSHA: pricingHead, Branch: "feature/cheaper", PR: 21, Image: podstest.Image("pricing-api", podstest.BuildNormal)}); err != nil {
			t.Fatal(err)
		}
		r.f.SetPR(forge.PullRequest{Repo: "acme/pricing-api", Number: 21, Author: "alice", HeadSHA: pricingHead})
		head := sha()
		p := r.pr(16, head, func(p *forge.PullRequest) { p.Body = "Shows the new prices.\n\nSpacepods-With: pricing-api#21\n" })
		r.event("opened", p)
		st, err := r.f.WaitStatus(podstest.Context(t, time.Minute), repo, head, previews.ContextPod, forge.StatusPending)
		if err != nil || !strings.Contains(st.Description, "waiting for a build of "+head[:7]) {
			t.Fatalf("while no build is recorded: %+v %v", st, err)
		}
		b := r.record(head, 16) // CI records it after the event
		if st := r.waitStatus(p, previews.ContextTests, forge.StatusSuccess, forge.StatusFailure, forge.StatusError); st.State != forge.StatusSuccess {
			t.Fatalf("tests: %+v", st)
		}
		name := previews.PodName(r.prefix, 16, "catalog-api")
		for app, want := range map[string]int{"catalog-api": b, "pricing-api": 77} {
			if ea, err := r.s.Store.GetEnvApp(context.Background(), name, app); err != nil || ea.Build != want {
				t.Fatalf("%s runs %+v %v, want build %d", app, ea, err, want)
			}
		}
		if c := r.f.Comments(repo, 16); len(c) != 1 || !strings.Contains(c[0].Body, "pricing-api build 77 from acme/pricing-api#21") {
			t.Fatalf("comment %+v", c)
		}
		r.event("closed", p)
		r.waitDestroyed(name)
	})

	t.Run("no build within the timeout", func(t *testing.T) {
		r.t = t
		ctx, cancel := context.WithCancel(context.Background())
		h := &previews.Handler{Forge: r.f, Store: r.s.Store, Catalog: r.s.Catalog, Pods: r.s.Pods, Tests: r.tests, BaseURL: base, Prefix: r.prefix + "b",
			BuildTimeout: 300 * time.Millisecond, Poll: 50 * time.Millisecond, Logger: r.s.Logger}
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); h.Wait() })
		head := sha()
		p := r.pr(17, head, nil)
		if _, err := h.HandleEvent(context.Background(), forge.Event{Kind: forge.EventPullRequest, Action: "opened", Repo: repo, PR: &p}); err != nil {
			t.Fatal(err)
		}
		st := r.waitStatus(p, previews.ContextPod, forge.StatusFailure)
		if !strings.Contains(st.Description, "no build of catalog-api at "+head[:7]) {
			t.Fatalf("pod status %+v", st)
		}
		// The tests status is written just after the pod's: wait for it too.
		if tst := r.waitStatus(p, previews.ContextTests, forge.StatusFailure); !strings.Contains(tst.Description, "not run") {
			t.Fatalf("tests status %+v", tst)
		}
		if _, err := r.s.Store.GetEnvironment(context.Background(), previews.PodName(r.prefix+"b", 17, "catalog-api")); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("a pod without a build: %v", err)
		}
	})

	t.Run("a restart resumes what was cut short", func(t *testing.T) {
		r.t = t
		head := sha()
		p := r.pr(18, head, nil)
		// What a handler killed while it waited for the build left.
		if err := r.s.Store.PutPRPod(context.Background(), spacepods.PRPod{Repo: repo, Number: 18, App: "catalog-api", Env: previews.PodName(r.prefix+"c", 18, "catalog-api"),
			HeadSHA: head, WebURL: p.WebURL, State: spacepods.PRPodWaiting}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		h := &previews.Handler{Forge: r.f, Store: r.s.Store, Catalog: r.s.Catalog, Pods: r.s.Pods, Tests: r.tests, BaseURL: base, Prefix: r.prefix + "c",
			BuildTimeout: 200 * time.Millisecond, Poll: 50 * time.Millisecond, Logger: r.s.Logger}
		t.Cleanup(func() { cancel(); h.Wait() })
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if st := r.waitStatus(p, previews.ContextPod, forge.StatusFailure); !strings.Contains(st.Description, "no build of catalog-api") {
			t.Fatalf("resumed job's status %+v", st)
		}
		if rec, err := r.s.Store.GetPRPod(context.Background(), repo, 18, "catalog-api"); err != nil || rec.State != spacepods.PRPodFailed {
			t.Fatalf("record %+v %v", rec, err)
		}
	})

	t.Run("a failed build job fails the pod at once", func(t *testing.T) {
		r.t = t
		head := sha()
		p := r.pr(19, head, nil)
		fb := &failingBuilder{why: "build job 7 of catalog-api failed: the Dockerfile has no FROM"}
		ctx, cancel := context.WithCancel(context.Background())
		// Without BuildFailer the handler would wait the whole BuildTimeout.
		h := &previews.Handler{Forge: r.f, Store: r.s.Store, Catalog: r.s.Catalog, Pods: r.s.Pods, Tests: r.tests, BaseURL: base, Prefix: r.prefix + "d",
			Builder: fb, BuildTimeout: 10 * time.Minute, Poll: 50 * time.Millisecond, Logger: r.s.Logger}
		t.Cleanup(func() { cancel(); h.Wait() })
		if err := h.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := h.HandleEvent(context.Background(), forge.Event{DeliveryID: sha(), Kind: forge.EventPullRequest, Action: "opened", Repo: repo, PR: &p}); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		st, err := r.f.WaitStatus(wctx, repo, head, previews.ContextPod, forge.StatusFailure)
		if err != nil || !strings.Contains(st.Description, fb.why) {
			t.Fatalf("status %+v %v, want failure saying %q", st, err, fb.why)
		}
		if fb.asked() != head {
			t.Fatalf("the builder was asked for %q, want the head %s", fb.asked(), head)
		}
	})

	t.Run("label-filtered, commands", func(t *testing.T) {
		r.t = t
		name := previews.PodName(r.prefix, 14, "catalog-api")
		head := sha()
		r.record(head, 14)
		p := r.pr(14, head, func(p *forge.PullRequest) { p.Labels = []string{"no-preview"} })
		if sum := r.event("opened", p); !strings.Contains(sum, "no pod") || !strings.Contains(sum, "opt-out") {
			t.Fatalf("summary %q", sum)
		}
		draft := r.pr(15, sha(), func(p *forge.PullRequest) { p.Draft = true })
		if sum := r.event("opened", draft); !strings.Contains(sum, "draft") {
			t.Fatalf("draft: %q", sum)
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := r.s.Store.GetEnvironment(context.Background(), name); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("a label-filtered PR got a pod: %v", err)
		}
		if n := len(r.f.Statuses(repo, head)); n != 0 {
			t.Fatalf("a label-filtered PR got %d statuses", n)
		}
		comment := func(author, body string) string {
			sum, err := r.h.HandleEvent(context.Background(), forge.Event{Kind: forge.EventComment, Action: "created", Repo: repo, Sender: author,
				PR: &forge.PullRequest{Repo: repo, Number: 14}, Comment: &forge.Comment{ID: 1, Author: author, Body: body}})
			if err != nil {
				t.Fatal(err)
			}
			return sum
		}
		if sum := comment("mallory", "/spacepods preview"); !strings.Contains(sum, "not a collaborator") {
			t.Fatalf("non-collaborator: %q", sum)
		}
		if sum := comment("carol", "/spacepods preview"); !strings.Contains(sum, name) {
			t.Fatalf("collaborator: %q", sum)
		}
		if st := r.waitStatus(p, previews.ContextPod, forge.StatusSuccess, forge.StatusFailure); st.State != forge.StatusSuccess {
			t.Fatalf("pod on demand: %+v", st)
		}
		// A later event does not take the on-demand pod away.
		if sum := r.event("labeled", p); strings.Contains(sum, "destroying") {
			t.Fatalf("labeled: %q", sum)
		}
		if sum := comment("carol", "thanks!\n/spacepods destroy"); !strings.Contains(sum, "destroying pod "+name) {
			t.Fatalf("destroy: %q", sum)
		}
		r.waitDestroyed(name)
	})
}

// failingBuilder takes every build and reports it failed.
type failingBuilder struct {
	why string
	mu  sync.Mutex
	sha string
}

func (f *failingBuilder) BuildCommit(_ context.Context, _ spacepods.App, _, _, sha string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sha = sha
	return nil
}

func (f *failingBuilder) BuildFailed(_ context.Context, _, sha string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.why, f.sha == sha
}

func (f *failingBuilder) asked() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sha
}

func TestHandleEvent_SaysNothingAboutPushes(t *testing.T) {
	var h previews.Handler
	if sum, err := h.HandleEvent(context.Background(), forge.Event{Kind: forge.EventPush, Repo: repo}); sum != "" || err != nil {
		t.Fatalf("a push: %q %v, want nothing (the push handlers' line stays clean)", sum, err)
	}
}
