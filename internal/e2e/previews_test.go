package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// prRig is a site wired to the test Gitea: an org with two repositories,
// a collaborator who pushes, and webhooks to the site.
type prRig struct {
	t      *testing.T
	s      *site
	g      *testenv.GiteaForge
	org    string
	carol  testenv.GiteaUser
	prefix string // of the pull request pods' names
}

// TestE2E_PullRequestPodsThroughGitea closes issue 14's loop with the real
// binary, the real Gitea, Docker and the edge router. catalog-api's builds
// come from "CI" (`spacepods build record` with the example images);
// pricing-api has no CI: its manifest says build: and the built-in builder
// builds its default branch on push and its pull request's head on open,
// cloning from the forge's clone URL.
func TestE2E_PullRequestPodsThroughGitea(t *testing.T) {
	g := testenv.Gitea(t)
	s := newSite(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	r := &prRig{t: t, s: s, g: g, org: testenv.Unique("e2e"), prefix: "e2e" + s.suffix + "-"}
	g.CreateOrg(t, r.org)
	r.carol = g.CreateUser(t, testenv.Unique("carol"))
	catalogRepo, pricingRepo := r.org+"/catalog-api", r.org+"/pricing-api"
	for _, repo := range []string{catalogRepo, pricingRepo} {
		g.CreateRepo(t, r.org, strings.TrimPrefix(repo, r.org+"/"), false)
		g.AddCollaborator(t, repo, r.carol.Login, "write")
	}

	secret := randomHex(t)
	dir := t.TempDir()
	tokenFile, secretFile := filepath.Join(dir, "forge.token"), filepath.Join(dir, "hook.secret")
	writeFile(t, tokenFile, g.Token)
	writeFile(t, secretFile, secret)
	s.args = []string{"--forge", "gitea", "--forge-url", g.URL, "--forge-token-file", tokenFile, "--forge-webhook-secret-file", secretFile,
		"--registry", reg.Host, "--public-url", "http://" + s.api, "--previews-pod-prefix", r.prefix}
	s.start()
	// A delivery with a bad signature is refused.
	bad, _ := http.NewRequest("POST", "http://"+s.api+"/api/v1/hooks/forge", strings.NewReader(`{"zen":"x"}`))
	bad.Header.Set("X-Gitea-Event", "ping")
	bad.Header.Set("X-Gitea-Delivery", "forged-1")
	bad.Header.Set("X-Hub-Signature-256", "sha256=00")
	if resp, err := http.DefaultClient.Do(bad); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a bad signature: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, repo := range []string{catalogRepo, pricingRepo} {
		g.AddHook(t, repo, "http://"+s.api+"/api/v1/hooks/forge", secret)
	}
	r.register("catalog-api", catalogRepo, "")
	r.register("pricing-api", pricingRepo, "build: {dockerfile: Dockerfile}\n")
	const planted = "PLANTED-pr-e2e-51c2"
	s.mustCLI("config", "set", "catalog-api", "SIGNING_KEY="+planted, "--pods", "--secret")
	c := s.client()
	ctx := context.Background()
	t0 := time.Now()

	// pricing-api: a push to main is built by the built-in builder (build 1).
	pricing := g.Clone(t, pricingRepo, r.carol)
	pricingMain := pricing.Commit("main", "pricing-api from scratch", map[string]string{
		"Dockerfile": "FROM scratch\nCOPY app /app\nCMD [\"/app\", \"serve\"]\n",
		"x:app":      string(testenv.GoBinary(t, "github.com/spacepods/spacepods/examples/pricing-api")),
	})
	r.waitBuild("pricing-api", pricingMain, 2*time.Minute)
	if d := r.delivery("push", pricingRepo, "refs/heads/main"); !strings.Contains(d.Result, "builder: queued build job 1 of pricing-api at "+pricingMain[:12]) || strings.Contains(d.Result, "no builder") {
		t.Errorf("the push's delivery log line does not say what the builder queued: %+v", d)
	}
	t.Logf("%s: push to pricing-api's main built by the builder", time.Since(t0).Round(time.Millisecond))

	// catalog-api: CI records the builds of main and of the PR's head.
	catalog := g.Clone(t, catalogRepo, r.carol)
	catalogMain := catalog.Commit("main", "catalog-api", map[string]string{"README.md": "catalog\n"})
	r.record("catalog-api", 1, catalogMain, "main")
	head1 := catalog.Commit("feature/faster", "faster listing", map[string]string{"README.md": "catalog, faster\n"})
	r.record("catalog-api", 2, head1, "feature/faster")
	catalogPR := g.OpenPR(t, catalogRepo, r.carol, "feature/faster", "main", "Faster listing", "")
	// pricing-api's PR has no build: the builder builds its head.
	pricingHead := pricing.Commit("feature/sale", "a sale", map[string]string{"SALE.md": "10% off\n"})
	pricingPR := g.OpenPR(t, pricingRepo, r.carol, "feature/sale", "main", "Sale", "")

	catalogPod := fmt.Sprintf("%spr-%d-catalog-api", r.prefix, catalogPR)
	pricingPod := fmt.Sprintf("%spr-%d-pricing-api", r.prefix, pricingPR)
	podSt := r.waitStatus(catalogRepo, head1, "spacepods/pod", 3*time.Minute)
	testSt := r.waitStatus(catalogRepo, head1, "spacepods/tests", 2*time.Minute)
	if podSt.State != "success" || testSt.State != "success" {
		t.Fatalf("catalog-api PR: pod %+v, tests %+v\nserver log:\n%s", podSt, testSt, tail(s.logs(), 80))
	}
	if podSt.TargetURL != "http://"+s.api+"/pods/"+catalogPod {
		t.Errorf("spacepods/pod links %q, want the pod's page", podSt.TargetURL)
	}
	t.Logf("%s: catalog-api PR pod and tests green", time.Since(t0).Round(time.Millisecond))
	comments := r.comments(catalogRepo, catalogPR)
	if len(comments) != 1 {
		t.Fatalf("%d spacepods comments on the PR, want 1: %+v", len(comments), comments)
	}
	first := comments[0]
	r.answersThroughRouter(first.Body, "catalog-api", catalogPod)
	if !strings.Contains(first.Body, "| catalog-api | 2 (") || !strings.Contains(first.Body, "| pricing-api | 1 (") {
		t.Errorf("the comment does not list the PR's build and the dependency's main build:\n%s", first.Body)
	}
	if got := envVar(t, envOf(t, s, catalogPod, "catalog-api"), "SIGNING_KEY"); got != planted {
		t.Errorf("a pull request from the repository itself gets the pods' secret, got %q", got)
	}

	// A pull request labelled no-preview gets no pod; one from a fork gets a
	// pod without secrets.
	var label struct {
		ID int64 `json:"id"`
	}
	g.API(t, "", "POST", "/repos/"+catalogRepo+"/labels", map[string]any{"name": "no-preview", "color": "#cccccc"}, &label)
	catalog.Run("checkout", "-q", "main")
	headL := catalog.Commit("feature/labelled", "not now", map[string]string{"NOTES.md": "later\n"})
	r.record("catalog-api", 10, headL, "feature/labelled")
	var labelled struct {
		Number int `json:"number"`
	}
	g.API(t, r.carol.Login, "POST", "/repos/"+catalogRepo+"/pulls", map[string]any{"head": "feature/labelled", "base": "main", "title": "Later", "labels": []int64{label.ID}}, &labelled)
	mallory := g.CreateUser(t, testenv.Unique("mallory"))
	g.API(t, mallory.Login, "POST", "/repos/"+catalogRepo+"/forks", map[string]any{}, nil)
	fork := g.Clone(t, mallory.Login+"/catalog-api", mallory)
	headF := fork.Commit("fork-change", "from a fork", map[string]string{"FORK.md": "hi\n"})
	r.record("catalog-api", 11, headF, "fork-change")
	forkPR := g.OpenPR(t, catalogRepo, mallory, mallory.Login+":fork-change", "main", "From a fork", "")
	forkPod := fmt.Sprintf("%spr-%d-catalog-api", r.prefix, forkPR)

	// A second push updates the same pod and edits the same comment.
	catalog.Run("checkout", "-q", "feature/faster")
	head2 := catalog.Commit("feature/faster", "even faster", map[string]string{"README.md": "catalog, even faster\n"})
	r.record("catalog-api", 3, head2, "feature/faster")
	if st := r.waitStatus(catalogRepo, head2, "spacepods/tests", 3*time.Minute); st.State != "success" {
		t.Fatalf("after a second push: tests %+v\n%s", st, tail(s.logs(), 80))
	}
	comments = r.comments(catalogRepo, catalogPR)
	if len(comments) != 1 || comments[0].ID != first.ID || !strings.Contains(comments[0].Body, "| catalog-api | 3 (") {
		t.Fatalf("after a second push, want the same comment (ID %d) showing build 3: %+v", first.ID, comments)
	}
	if p, err := c.GetPod(ctx, catalogPod); err != nil || buildOf(p, "catalog-api") != 3 {
		t.Fatalf("pod %s after the second push: %+v %v", catalogPod, p, err)
	}
	t.Logf("%s: second push updated the pod and the comment", time.Since(t0).Round(time.Millisecond))

	// pricing-api's PR got its pod from the builder (no tests declared).
	if st := r.waitStatus(pricingRepo, pricingHead, "spacepods/pod", 2*time.Minute); st.State != "success" {
		t.Fatalf("pricing-api PR (built by the builder): pod %+v\n%s", st, tail(s.logs(), 80))
	}
	if p, err := c.GetPod(ctx, pricingPod); err != nil || buildOf(p, "pricing-api") != 2 {
		t.Fatalf("pricing-api's PR pod should run build 2, the builder's build of the head: %+v %v", p, err)
	}
	if code, body, err := s.get(pricingPod, "pricing-api", "/healthz"); err != nil || code != 200 {
		t.Fatalf("pricing-api's PR pod through the router: %d %v %s", code, err, body)
	}

	// The fork's pod: tests ran, no secret, and the comment says so.
	if st := r.waitStatus(catalogRepo, headF, "spacepods/tests", 3*time.Minute); st.State != "success" {
		t.Fatalf("fork PR: tests %+v\n%s", st, tail(s.logs(), 80))
	}
	if got := envVar(t, envOf(t, s, forkPod, "catalog-api"), "SIGNING_KEY"); got != "" {
		t.Errorf("a fork's pod got the pods' secret %q", got)
	}
	if cs := r.comments(catalogRepo, forkPR); len(cs) != 1 || !strings.Contains(cs[0].Body, "Fork pull request") {
		t.Errorf("the fork PR's comment should say it gets no secrets: %+v", cs)
	}
	// By now the labelled PR's delivery is long processed: no pod, no status.
	if d := r.prDelivery(catalogRepo, labelled.Number, "opened"); !strings.Contains(d.Result, `labelled "no-preview"`) {
		t.Errorf("the labelled PR's delivery: %+v", d)
	}
	if _, err := c.GetPod(ctx, fmt.Sprintf("%spr-%d-catalog-api", r.prefix, labelled.Number)); err == nil {
		t.Errorf("a PR labelled no-preview got a pod")
	}
	var none struct {
		Statuses []giteaStatus `json:"statuses"`
	}
	g.API(t, "", "GET", "/repos/"+catalogRepo+"/commits/"+headL+"/status", nil, &none)
	if len(none.Statuses) != 0 {
		t.Errorf("a PR labelled no-preview got statuses: %+v", none.Statuses)
	}
	t.Logf("%s: fork PR without secrets, labelled PR without pod", time.Since(t0).Round(time.Millisecond))

	// A head the builder cannot build fails spacepods/pod at once, naming
	// the job and its log.
	broken := pricing.Commit("feature/sale", "break the Dockerfile", map[string]string{"Dockerfile": "FROM scratch\nCOPY missing /missing\n"})
	st := r.waitStatus(pricingRepo, broken, "spacepods/pod", time.Minute)
	if st.State != "failure" || !strings.Contains(st.Description, "build job 3 of pricing-api") || !strings.Contains(st.Description, "failed") {
		t.Fatalf("a failed build of the PR's head: %+v", st)
	}
	if out := s.mustCLI("build", "log", "3"); !strings.Contains(out, "missing") {
		t.Fatalf("the failed job's log does not say what failed:\n%s", out)
	}
	t.Logf("%s: a failed build of a PR head reported", time.Since(t0).Round(time.Millisecond))

	// A failing test build: the suite now asks for more products than the
	// seed has.
	r.register("catalog-api", catalogRepo, "", `"-timeout", "2s", "-min-products", "100000"`)
	head3 := catalog.Commit("feature/faster", "break the tests", map[string]string{"README.md": "catalog, broken\n"})
	r.record("catalog-api", 4, head3, "feature/faster")
	st = r.waitStatus(catalogRepo, head3, "spacepods/tests", 3*time.Minute)
	if st.State != "failure" || !strings.Contains(st.TargetURL, "/tests/") {
		t.Fatalf("failing tests: %+v", st)
	}
	if code, page := r.uiGet(st.TargetURL); code != 200 || !strings.Contains(page, "FAIL") {
		t.Fatalf("the test log link %s: HTTP %d\n%.2000s", st.TargetURL, code, page)
	}
	t.Logf("%s: failing tests reported", time.Since(t0).Round(time.Millisecond))

	// Closing the PRs destroys the pods; nothing leaks.
	for _, pr := range []struct {
		repo string
		n    int
	}{{catalogRepo, catalogPR}, {pricingRepo, pricingPR}, {catalogRepo, forkPR}} {
		g.API(t, "", "PATCH", fmt.Sprintf("/repos/%s/pulls/%d", pr.repo, pr.n), map[string]any{"state": "closed"}, nil)
	}
	for _, pod := range []string{catalogPod, pricingPod, forkPod} {
		r.waitGone(pod, 2*time.Minute)
	}
	out := s.mustCLI("audit", "leaks")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, r.prefix) {
			t.Errorf("leak after closing the PRs: %s", line)
		}
	}
	if comments := r.comments(catalogRepo, catalogPR); len(comments) != 1 || !strings.Contains(comments[0].Body, "destroyed") {
		t.Errorf("after closing, the one comment should say the pod is destroyed: %+v", comments)
	}
	t.Logf("%s: closed, destroyed, no leaks", time.Since(t0).Round(time.Millisecond))
	for _, d := range r.deliveries() {
		t.Logf("delivery %d: %s %s %s: %s: %s %s", d.ID, d.Event, d.Action, d.Repo, d.State, d.Result, d.Error)
	}
}

// deliveries is the forge delivery log, newest first.
func (r *prRig) deliveries() []spacepods.ForgeDelivery {
	r.t.Helper()
	tok, err := os.ReadFile(filepath.Join(r.s.dataDir, "admin.token"))
	if err != nil {
		r.t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+r.s.api+"/api/v1/hooks/forge/deliveries?limit=200", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []spacepods.ForgeDelivery
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		r.t.Fatalf("GET deliveries: HTTP %d %v", resp.StatusCode, err)
	}
	return out
}

// prDelivery is the processed pull_request delivery of action on PR n.
func (r *prRig) prDelivery(repo string, n int, action string) spacepods.ForgeDelivery {
	r.t.Helper()
	for _, d := range r.deliveries() {
		if d.Event == "pull_request" && d.Repo == repo && d.PR == n && d.Action == action {
			return d
		}
	}
	r.t.Fatalf("no %s delivery of %s#%d", action, repo, n)
	return spacepods.ForgeDelivery{}
}

// delivery is the oldest delivery of event for repo whose result mentions
// the ref's branch (waiting for it to be processed).
func (r *prRig) delivery(event, repo, ref string) spacepods.ForgeDelivery {
	r.t.Helper()
	branch := strings.TrimPrefix(ref, "refs/heads/")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := r.deliveries()
		for i := len(ds) - 1; i >= 0; i-- {
			d := ds[i]
			if d.Event == event && d.Repo == repo && strings.Contains(d.Result, " to "+branch+" ") && d.State != spacepods.DeliveryPending && d.State != spacepods.DeliveryProcessing {
				return d
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no processed %s delivery of %s to %s: %+v", event, repo, branch, ds)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// register registers the example app with repo: repo and extra lines;
// testArgs (when given) become the tests' args.
func (r *prRig) register(app, repo, extra string, testArgs ...string) {
	r.t.Helper()
	root, err := podstest.RepoRoot()
	if err != nil {
		r.t.Fatal(err)
	}
	src := filepath.Join(root, "examples", app)
	m, err := os.ReadFile(filepath.Join(src, "spacepods.yaml"))
	if err != nil {
		r.t.Fatal(err)
	}
	text := strings.Replace(string(m), "repo: acme/"+app, "repo: "+repo, 1) + extra
	for _, a := range testArgs {
		text = strings.Replace(text, `command: ["/app", "selftest"]}`, `command: ["/app", "selftest"], args: [`+a+`]}`, 1)
	}
	dir := filepath.Join(r.t.TempDir(), app)
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o750); err != nil {
		r.t.Fatal(err)
	}
	if seed, err := os.ReadFile(filepath.Join(src, "db", "seed.sql")); err == nil {
		writeFile(r.t, filepath.Join(dir, "db", "seed.sql"), string(seed))
	}
	writeFile(r.t, filepath.Join(dir, "spacepods.yaml"), text)
	r.s.mustCLI("app", "register", "-f", filepath.Join(dir, "spacepods.yaml"))
}

// record is CI recording a build of the example image at sha.
func (r *prRig) record(app string, n int, sha, branch string) {
	r.t.Helper()
	r.s.mustCLI("build", "record", app, "--number", strconv.Itoa(n), "--image", podstest.Image(app, podstest.BuildNormal), "--sha", sha, "--branch", branch)
}

// waitBuild waits until app has a build of sha.
func (r *prRig) waitBuild(app, sha string, max time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(max)
	for {
		out, _ := r.s.cli("build", "list", app)
		if strings.Contains(out, sha[:7]) {
			return
		}
		if time.Now().After(deadline) {
			jobs, _ := r.s.cli("build", "jobs", app)
			r.t.Fatalf("no build of %s at %s within %s; builds:\n%s\njobs:\n%s\nserver log:\n%s", app, sha, max, out, jobs, tail(r.s.logs(), 80))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

type giteaStatus struct {
	Context     string `json:"context"`
	State       string `json:"status"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
}

// waitStatus waits until the status context of sha is no longer pending
// and returns it, read through Gitea's API.
func (r *prRig) waitStatus(repo, sha, context string, max time.Duration) giteaStatus {
	r.t.Helper()
	deadline := time.Now().Add(max)
	var last giteaStatus
	for {
		var combined struct {
			Statuses []giteaStatus `json:"statuses"`
		}
		r.g.API(r.t, "", "GET", "/repos/"+repo+"/commits/"+sha+"/status", nil, &combined)
		for _, st := range combined.Statuses {
			if st.Context == context {
				last = st
				if st.State != "pending" {
					return st
				}
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s on %s@%s still %+v after %s\nserver log:\n%s", context, repo, sha[:7], last, max, tail(r.s.logs(), 80))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

type giteaComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// comments are the pull request's Spacepods comments.
func (r *prRig) comments(repo string, n int) []giteaComment {
	r.t.Helper()
	var all []giteaComment
	r.g.API(r.t, "", "GET", fmt.Sprintf("/repos/%s/issues/%d/comments", repo, n), nil, &all)
	var out []giteaComment
	for _, c := range all {
		if strings.Contains(c.Body, "<!-- spacepods:pr-pod -->") {
			out = append(out, c)
		}
	}
	return out
}

// answersThroughRouter fetches app's URL, as the comment gives it, from
// the edge router.
func (r *prRig) answersThroughRouter(body, app, pod string) {
	r.t.Helper()
	m := regexp.MustCompile(`\| ` + app + ` \| [^|]+ \| (http://[^ |]+) \|`).FindStringSubmatch(body)
	if m == nil {
		r.t.Fatalf("no URL of %s in the comment:\n%s", app, body)
	}
	u, err := url.Parse(m[1])
	if err != nil || !strings.HasPrefix(u.Hostname(), app+"."+pod+".") {
		r.t.Fatalf("the comment's URL %q of %s is not the pod's (%v)", m[1], app, err)
	}
	// *.localhost names loopback; the Go resolver need not know it.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
	}}}
	resp, err := hc.Get(strings.TrimRight(m[1], "/") + "/healthz")
	if err != nil {
		r.t.Fatalf("GET %s/healthz: %v", m[1], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		r.t.Fatalf("GET %s/healthz: HTTP %d %s", m[1], resp.StatusCode, b)
	}
}

// uiGet signs in to the web UI with the admin token and fetches a page.
func (r *prRig) uiGet(page string) (int, string) {
	r.t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(u string) (int, string) {
		resp, err := hc.Get(u)
		if err != nil {
			r.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := "http://" + r.s.api
	_, login := get(base + "/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		r.t.Fatalf("no sign-in form:\n%.1000s", login)
	}
	tok, err := os.ReadFile(filepath.Join(r.s.dataDir, "admin.token"))
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := hc.PostForm(base+"/login", url.Values{"token": {strings.TrimSpace(string(tok))}, "csrf": {m[1]}})
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return get(page)
}

// waitGone waits until the pod is destroyed.
func (r *prRig) waitGone(pod string, max time.Duration) {
	r.t.Helper()
	c := r.s.client()
	deadline := time.Now().Add(max)
	for {
		if _, err := c.GetPod(context.Background(), pod); err != nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("pod %s not destroyed within %s\n%s", pod, max, tail(r.s.logs(), 80))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// buildOf is the build of app in a pod.
func buildOf(p client.PodView, app string) int {
	for _, a := range p.AppStatus {
		if a.App == app {
			return a.Build
		}
	}
	return -1
}
