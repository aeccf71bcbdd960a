package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestUI_SignInSetsASessionCookieAndSignOutRevokesIt(t *testing.T) {
	f := newFixture(t, true)
	b := f.browser()
	_, body, h := b.get("/login")
	if !strings.Contains(h.Get("Set-Cookie"), "spacepods_login=") {
		t.Fatalf("the sign-in page sets no nonce cookie: %q", h.Get("Set-Cookie"))
	}
	resp := b.postRaw("/login", url.Values{"token": {f.tokens["developer"]}, "csrf": {csrfOf(t, body)}, "next": {"/pods/p1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pods/p1" {
		t.Fatalf("sign in: %d → %q, want 303 → /pods/p1", resp.StatusCode, resp.Header.Get("Location"))
	}
	var tok *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			tok = c
		}
		if strings.Contains(c.Value, f.tokens["developer"]) {
			t.Fatalf("cookie %s holds the API token itself", c.Name)
		}
	}
	switch {
	case tok == nil:
		t.Fatal("no spacepods_session cookie after sign-in")
	case tok.Secure:
		t.Error("the session cookie is Secure over plain HTTP from no trusted proxy: the browser would drop it")
	case !tok.HttpOnly:
		t.Error("the token cookie is not HttpOnly")
	case tok.SameSite != http.SameSiteLaxMode && tok.SameSite != http.SameSiteStrictMode:
		t.Errorf("the token cookie's SameSite is %v, want Lax or Strict", tok.SameSite)
	case tok.Path != "/":
		t.Errorf("cookie path %q, want /", tok.Path)
	}
	status, body, _ := b.get("/")
	if status != 200 || !strings.Contains(body, "t-developer") {
		t.Fatalf("dashboard after sign-in: %d, signed-in name missing", status)
	}

	// A copy of the cookie taken before sign-out (stolen, or another tab)
	// stops working too: sign-out revokes the session on the server.
	api := f.apiServer()
	copied := &http.Cookie{Name: auth.SessionCookie, Value: tok.Value}
	withCopy := func(base, path string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(copied)
		resp, err := http.DefaultTransport.RoundTrip(req) // no jar, no redirects
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := withCopy(api.URL, "/api/v1/whoami"); r.StatusCode != 200 {
		t.Fatalf("the copied cookie before sign-out: API %d", r.StatusCode)
	}
	// A live page opened before sign-out is closed by it.
	live, status, _ := openStream(t, context.Background(), f.ts.URL, "/ui/events/env/p1?after="+f.lastEvent("p1"), copied)
	if live == nil {
		t.Fatalf("live stream before sign-out: %d", status)
	}
	live.next(t, "state", 5*time.Second)

	b.csrf = csrfOf(t, body)
	status, _, loc := b.post("/logout", nil)
	if status != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("sign out: %d → %q", status, loc)
	}
	status, _, h = b.get("/")
	if status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("after sign-out / answers %d → %q, want a redirect to /login", status, h.Get("Location"))
	}
	if r := withCopy(f.ts.URL, "/apps"); r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "expired=1") {
		t.Fatalf("the copied cookie after sign-out opens a page: %d → %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := withCopy(api.URL, "/api/v1/whoami"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the copied cookie after sign-out reaches the API: %d, want 401", r.StatusCode)
	}
	if r := withCopy(f.ts.URL, "/ui/events/env/p1"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the copied cookie after sign-out opens a live stream: %d, want 401", r.StatusCode)
	}
	select {
	case _, open := <-live.events:
		if open {
			t.Fatal("the live stream sent an event after sign-out")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the live stream of the signed-out session is still open 5s later")
	}
}

func TestUI_SignInRejectsBadTokensAndForeignForms(t *testing.T) {
	f := newFixture(t, false)
	cases := []struct {
		name       string
		token      string
		csrf       func(page string) string
		noNonce    bool
		origin     string
		wantStatus int
		wantText   string
	}{
		{name: "unknown token", token: "sp_nope", wantStatus: 401, wantText: "That token is not valid"},
		{name: "empty token", token: "", wantStatus: 400, wantText: "Paste your API token"},
		{name: "no csrf", token: f.tokens["admin"], csrf: func(string) string { return "" }, wantStatus: 403, wantText: "sign-in form has expired"},
		{name: "csrf of another nonce", token: f.tokens["admin"], csrf: func(string) string { return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, wantStatus: 403, wantText: "sign-in form has expired"},
		{name: "no nonce cookie", token: f.tokens["admin"], noNonce: true, wantStatus: 403, wantText: "allow cookies"},
		{name: "cross-site origin", token: f.tokens["admin"], origin: "https://evil.example", wantStatus: 403, wantText: "not from this Spacepods server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := f.browser()
			_, page, _ := b.get("/login")
			csrf := csrfOf(t, page)
			if tc.csrf != nil {
				csrf = tc.csrf(page)
			}
			if tc.noNonce {
				b = f.browser()
			}
			b.origin = tc.origin
			resp := b.postRaw("/login", url.Values{"token": {tc.token}, "csrf": {csrf}})
			body := readAll(resp)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantText) {
				t.Fatalf("got %d, want %d with %q in:\n%s", resp.StatusCode, tc.wantStatus, tc.wantText, body)
			}
			for _, c := range resp.Cookies() {
				if c.Name == auth.SessionCookie && c.Value != "" {
					t.Fatal("a rejected sign-in set the session cookie")
				}
			}
		})
	}
}

func TestUI_SignedOutPagesRedirectToSignInAndPostsAreRefused(t *testing.T) {
	f := newFixture(t, true)
	b := f.browser()
	status, _, h := b.get("/pods/p1?x=1")
	if status != http.StatusSeeOther || h.Get("Location") != "/login?next=%2Fpods%2Fp1%3Fx%3D1" {
		t.Fatalf("GET /pods/p1 signed out: %d → %q", status, h.Get("Location"))
	}
	resp := b.postRaw("/pods/p1/destroy", url.Values{"csrf": {"x"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST signed out: %d, want 401", resp.StatusCode)
	}
	// A revoked token's cookie sends the user back to sign in, saying why.
	b = f.signIn("viewer")
	if err := f.auth.Revoke(admin, "t-viewer"); err != nil {
		t.Fatal(err)
	}
	status, _, h = b.get("/apps")
	if status != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "expired=1") {
		t.Fatalf("revoked token: %d → %q", status, h.Get("Location"))
	}
	if _, body, _ := b.get("/login?expired=1"); !strings.Contains(body, "Your session ended") {
		t.Fatal("the sign-in page does not say the session ended")
	}
}

func TestUI_EveryPostNeedsTheSessionsCSRFToken(t *testing.T) {
	f := newFixture(t, true)
	dev := f.signIn("developer")
	other := f.signIn("admin")
	expiry := func() time.Time {
		e, err := f.st.GetEnvironment(context.Background(), "p1")
		if err != nil {
			t.Fatal(err)
		}
		return *e.ExpiresAt
	}
	before := expiry()
	cases := []struct {
		name   string
		csrf   string
		origin string
	}{
		{name: "missing", csrf: ""},
		{name: "forged", csrf: "forged"},
		{name: "another session's", csrf: other.csrf},
		{name: "right token, cross-site origin", csrf: dev.csrf, origin: "http://evil.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dev.origin = tc.origin
			defer func() { dev.origin = "" }()
			form := url.Values{"ttl": {"1h"}}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			resp := dev.postRaw("/pods/p1/extend", form)
			status, body := resp.StatusCode, readAll(resp)
			if status != http.StatusForbidden {
				t.Fatalf("status %d, want 403:\n%s", status, body)
			}
			if !strings.Contains(body, "reload the page") && !strings.Contains(body, "open Spacepods directly") {
				t.Fatalf("the refusal does not say what to do:\n%s", body)
			}
			if !expiry().Equal(before) {
				t.Fatal("a refused POST changed the pod")
			}
		})
	}
	status, _, loc := dev.post("/pods/p1/extend", url.Values{"ttl": {"1h"}})
	if status != http.StatusSeeOther || loc != "/pods/p1?done=extended" {
		t.Fatalf("valid POST: %d → %q", status, loc)
	}
	if expiry().Equal(before) {
		t.Fatal("the valid extend changed nothing")
	}
	if _, body, _ := dev.get(loc); !strings.Contains(body, "Expiry extended.") {
		t.Fatal("no confirmation after extend")
	}
}

func TestUI_ViewerSeesNoMutatingButtonsAndCannotPost(t *testing.T) {
	f := newFixture(t, true)
	qaDeploy := strconv.FormatInt(f.deploys["qa/web/2"], 10)
	pages := []string{"/", "/apps", "/apps/web", "/pods", "/pods/new?name=x&app=web", "/pods/p1", "/deploys", "/deploys/" + qaDeploy, "/environments", "/environments/qa"}
	v := f.signIn("viewer")
	for _, p := range pages {
		status, body, _ := v.get(p)
		if status != 200 {
			t.Fatalf("viewer GET %s: %d\n%s", p, status, body)
		}
		if forms := mutatingForms(body); len(forms) > 0 {
			t.Errorf("viewer sees forms that would fail on %s: %v", p, forms)
		}
		for _, s := range []string{`href="/pods/new"`, `href="/audit"`, `href="/leaks"`, `href="/logs/`} {
			if strings.Contains(body, s) {
				t.Errorf("viewer sees %s on %s", s, p)
			}
		}
	}
	// Logs need developer: they often carry connection strings.
	for _, p := range []string{"/audit", "/leaks", "/logs/p1/web", "/ui/events/logs/p1/web"} {
		if status, body, _ := v.get(p); status != http.StatusForbidden || !strings.Contains(body, "ask an admin") {
			t.Errorf("viewer GET %s: %d, want 403 saying whom to ask", p, status)
		}
	}
	status, body, _ := v.post("/pods/p1/destroy", nil)
	if status != http.StatusForbidden || !strings.Contains(body, "has the role viewer") {
		t.Fatalf("viewer destroy: %d\n%s", status, body)
	}
	if e, err := f.st.GetEnvironment(context.Background(), "p1"); err != nil || e.Status != spacepods.StatusReady {
		t.Fatalf("the viewer's POST touched the pod: %v %v", e.Status, err)
	}
}

func TestUI_ButtonsFollowTheRole(t *testing.T) {
	f := newFixture(t, true)
	qaDeploy := "/deploys/" + strconv.FormatInt(f.deploys["qa/web/2"], 10)
	cases := []struct {
		role, page string
		want, not  []string // POST form actions that must (not) be on the page
	}{
		{role: "developer", page: "/pods/p1", want: []string{"/pods/p1/extend", "/pods/p1/update", "/pods/p1/destroy"}},
		{role: "developer", page: qaDeploy, want: []string{"/rollback"}},
		{role: "developer", page: "/environments", want: []string{"/promote", "/rollback"}, not: []string{"/environments"}},
		{role: "developer", page: "/environments/qa", want: []string{"/promote", "/rollback"}},
		{role: "developer", page: "/apps/web", want: []string{"/deploys"}},
		{role: "developer", page: "/pods/new?name=x&app=web", want: []string{"/pods"}},
		{role: "admin", page: "/environments", want: []string{"/promote", "/rollback", "/environments"}},
	}
	for _, tc := range cases {
		t.Run(tc.role+tc.page, func(t *testing.T) {
			status, body, _ := f.signIn(tc.role).get(tc.page)
			if status != 200 {
				t.Fatalf("%d\n%s", status, body)
			}
			forms := mutatingForms(body)
			for _, w := range tc.want {
				if !slices.Contains(forms, w) {
					t.Errorf("%s on %s: no form to %s (forms: %v)", tc.role, tc.page, w, forms)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(forms, n) {
					t.Errorf("%s on %s: a form to %s", tc.role, tc.page, n)
				}
			}
		})
	}
	// Staging (last in the pipeline, one release) offers no promote and no rollback.
	_, body, _ := f.signIn("developer").get("/environments/staging")
	if forms := mutatingForms(body); len(forms) != 0 {
		t.Errorf("staging offers %v, want nothing (nothing after it, nothing to roll back to)", forms)
	}
	_, body, _ = f.signIn("admin").get("/")
	for _, s := range []string{`href="/audit"`, `href="/leaks"`} {
		if !strings.Contains(body, s) {
			t.Errorf("admin does not see %s", s)
		}
	}
}

func TestUI_RollbackFromTheDeployPageQueuesADeploy(t *testing.T) {
	f := newFixture(t, true)
	dev := f.signIn("developer")
	status, body, loc := dev.post("/rollback", url.Values{"env": {"qa"}, "app": {"web"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/deploys/") {
		t.Fatalf("rollback: %d → %q\n%s", status, loc, body)
	}
	status, body, _ = dev.get(loc)
	if status != 200 || !strings.Contains(body, "queued") || !strings.Contains(body, "Deploy queued.") {
		t.Fatalf("the new deploy's page: %d\n%s", status, body)
	}
	// Errors come back as pages in words: nothing to roll back in staging.
	status, body, _ = dev.post("/rollback", url.Values{"env": {"staging"}, "app": {"web"}})
	if status != http.StatusNotFound || !strings.Contains(body, "no earlier release") {
		t.Fatalf("rollback without an earlier release: %d\n%s", status, body)
	}
}

// TestUI_DeployPageShowsWhyItFailedAndItsOutput: everyone sees why a deploy
// failed; only developers and admins see its output (task and container
// output often carries connection strings).
func TestUI_DeployPageShowsWhyItFailedAndItsOutput(t *testing.T) {
	f := newFixture(t, true)
	page := "/deploys/" + strconv.FormatInt(f.deploys["staging/web/failed"], 10)
	reason := []string{"Rolled back:", "fix the health check or the app", `data-status="rolled_back"`}
	output := []string{"Failure output", "panic: &lt;boom&gt; &amp; more"}
	status, body, _ := f.signIn("developer").get(page)
	if status != 200 {
		t.Fatalf("%d\n%s", status, body)
	}
	for _, s := range append(reason, output...) {
		if !strings.Contains(body, s) {
			t.Errorf("failed deploy page lacks %q for a developer", s)
		}
	}
	status, body, _ = f.signIn("viewer").get(page)
	if status != 200 {
		t.Fatalf("%d\n%s", status, body)
	}
	for _, s := range reason {
		if !strings.Contains(body, s) {
			t.Errorf("failed deploy page lacks %q for a viewer", s)
		}
	}
	if strings.Contains(body, "boom") || !strings.Contains(body, "shown to developers and admins only") {
		t.Errorf("a viewer sees the failure output, or no word of why it is hidden:\n%s", body)
	}
}

func TestUI_NewPodPageShowsTreeAndPlanBeforeCreating(t *testing.T) {
	f := newFixture(t, true)
	dev := f.signIn("developer")
	status, body, _ := dev.get("/pods/new?name=mine&app=web&build.api=2&ttl=8h")
	if status != 200 {
		t.Fatalf("%d\n%s", status, body)
	}
	for _, s := range []string{`id="plan"`, "Plan for mine", `data-app="api"`, `data-app="web"`, `class="edge" data-from="web" data-to="api"`, ">dependency<", "#2", "http://web.mine.localhost:8080", `id="create-form"`, `name="build.api" value="2"`} {
		if !strings.Contains(body, s) {
			t.Errorf("new pod page lacks %q", s)
		}
	}
	status, body, _ = dev.get("/pods/new?name=Bad_Name&app=web")
	if status != 200 || !strings.Contains(body, "No plan.") || !strings.Contains(body, "is not a valid name") || strings.Contains(body, `id="create-form"`) {
		t.Fatalf("a bad name must explain itself and offer no create button: %d\n%s", status, body)
	}
	// Creating over an existing pod's name re-renders the form with the conflict.
	status, body, _ = dev.post("/pods", url.Values{"name": {"p1"}, "app": {"web"}})
	if status != http.StatusConflict || !strings.Contains(body, "pick another name") {
		t.Fatalf("create p1 again: %d\n%s", status, body)
	}
}

func TestUI_AppPageDrawsTheDependencyGraphAndTheManifest(t *testing.T) {
	f := newFixture(t, true)
	v := f.signIn("viewer")
	status, body, _ := v.get("/apps/web")
	if status != 200 {
		t.Fatalf("%d\n%s", status, body)
	}
	for _, s := range []string{"<svg class=\"graph\"", `data-from="web" data-to="api"`, "Start order: api → web", "dependencies: [api]", `id="env-vars"`, "API_URL", "Defaults every container of web gets", `data-scope="all"`, `data-scope="pods"`} {
		if !strings.Contains(body, s) {
			t.Errorf("app page lacks %q", s)
		}
	}
	status, svg, h := v.get("/apps/web/graph.svg")
	if status != 200 || h.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") {
		t.Fatalf("graph.svg: %d %s", status, h.Get("Content-Type"))
	}
	status, body, _ = v.get("/apps/nope")
	if status != http.StatusNotFound || !strings.Contains(body, "is not registered") {
		t.Fatalf("unknown app: %d\n%s", status, body)
	}
}

func TestUI_WithoutRuntimeCatalogPagesWorkAndOthersSayWhy(t *testing.T) {
	f := newFixture(t, false)
	a := f.signIn("admin")
	for _, p := range []string{"/", "/apps", "/apps/web", "/audit"} {
		if status, body, _ := a.get(p); status != 200 {
			t.Errorf("GET %s: %d\n%s", p, status, body)
		}
	}
	status, body, _ := a.get("/pods/p1")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "--runtime docker") {
		t.Fatalf("pod page without runtime: %d\n%s", status, body)
	}
}

func TestUI_MountedBesideTheAPI(t *testing.T) {
	f := newFixture(t, true)
	ts := f.apiServer()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.AddCookie(f.sessionCookie("viewer"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/api/v1/whoami"); r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("API whoami with the UI's cookie: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := get("/api/v1/nope"); r.StatusCode != 404 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("unknown API route must stay JSON: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := get("/"); r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("UI at /: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := get("/healthz"); r.StatusCode != 200 {
		t.Fatalf("/healthz: %d", r.StatusCode)
	}
}

func TestUI_EventStreamPushesNewLinesAndStateChanges(t *testing.T) {
	f := newFixture(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs, err := f.st.Events(ctx, "p1", 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1].ID
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/ui/events/env/p1?after="+strconv.FormatInt(last, 10), nil)
	req.AddCookie(f.sessionCookie("viewer"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan [2]string, 16)
	go readSSE(resp.Body, events)
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended while waiting for %q", want)
				}
				if ev[0] == want {
					return ev[1]
				}
			case <-ctx.Done():
				t.Fatalf("no %q event", want)
			}
		}
	}
	var st struct {
		Hash, Status string
		Gone         bool
	}
	json.Unmarshal([]byte(next("state")), &st)
	if st.Status != "ready" || st.Hash == "" {
		t.Fatalf("first state: %+v", st)
	}
	first := st.Hash
	f.st.AddEvent(ctx, spacepods.Event{Env: "p1", App: "web", Message: "hello from the test"})
	var ev spacepods.Event
	json.Unmarshal([]byte(next("line")), &ev)
	if ev.Message != "hello from the test" || ev.App != "web" {
		t.Fatalf("line: %+v", ev)
	}
	f.st.SetEnvironmentStatus(ctx, "p1", spacepods.StatusUpdating, "")
	json.Unmarshal([]byte(next("state")), &st)
	if st.Status != "updating" || st.Hash == first {
		t.Fatalf("state after the change: %+v", st)
	}
	f.st.SetEnvironmentStatus(ctx, "p1", spacepods.StatusDestroyed, "")
	json.Unmarshal([]byte(next("state")), &st)
	if !st.Gone || st.Status != "destroyed" {
		t.Fatalf("state of a destroyed pod: %+v", st)
	}
	next("done")
}

func TestUI_CloseEndsOpenStreams(t *testing.T) {
	f := newFixture(t, true)
	req, _ := http.NewRequest("GET", f.ts.URL+"/ui/events/env/p1", nil)
	req.AddCookie(f.sessionCookie("viewer"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
		}
		close(done)
	}()
	f.ui.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open 5s after Close")
	}
}

func TestUI_SecurityHeadersAndEmbeddedAssets(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	_, body, h := b.get("/login")
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers: %v", h)
	}
	for _, asset := range []string{"app.css", "app.js", "icon.svg"} {
		i := strings.Index(body, "/ui/static/"+asset+"?v=")
		if i < 0 {
			t.Fatalf("the page does not link %s", asset)
		}
		link := body[i : i+strings.IndexByte(body[i:], '"')]
		status, data, h := b.get(link)
		if status != 200 || len(data) == 0 || !strings.Contains(h.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d, %d bytes, Cache-Control %q", link, status, len(data), h.Get("Cache-Control"))
		}
	}
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}
