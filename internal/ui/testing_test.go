package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/streams"
	"github.com/spacepods/spacepods/internal/ui"
)

// fixture is a UI over a real SQLite store with apps, builds, a pod and two
// master environments written straight into the store: enough to render
// every page without Docker (nothing here starts a deploy).
type fixture struct {
	t       *testing.T
	st      *store.Store
	cat     *catalog.Service
	auth    *auth.Service
	config  *config.Service
	secrets *secretstest.Memory
	ui      *ui.UI
	ts      *httptest.Server
	tokens  map[string]string // role → secret
	deploys map[string]int64  // "env/app/release" → deploy id
	queries *atomic.Int64     // statements sent to the store's database
	streams *streams.Limiter
	pods    *pods.Service // nil without runtime
}

const (
	apiManifest  = "name: api\nrepo: acme/api\nkind: web\nport: 8080\nhealth: /healthz\nenv: {LOG_LEVEL: info}\n"
	webManifest  = "name: web\nrepo: acme/web\nkind: web\nport: 8080\ndependencies: [api]\n"
	jobsManifest = "name: jobs\nrepo: acme/jobs\nkind: worker\ndependencies: [api]\n"
)

var admin = spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})

// newFixture builds the fixture; withRuntime=false makes a UI of a server
// started with --runtime none.
func newFixture(t *testing.T, withRuntime bool) *fixture {
	t.Helper()
	return newFixtureWith(t, withRuntime, nil)
}

// newFixtureWith is newFixture with a last say on the UI's Config (e.g. a
// built-in builder over the fixture's store).
func newFixtureWith(t *testing.T, withRuntime bool, configure func(*ui.Config)) *fixture {
	t.Helper()
	st, queries := storetest.MustOpenCountingSQLite(t)
	a := &auth.Service{Store: st}
	cat := catalog.NewService(st)
	sec := secretstest.NewMemory()
	cfgSvc := &config.Service{Store: st, Secrets: sec}
	f := &fixture{t: t, st: st, cat: cat, auth: a, config: cfgSvc, secrets: sec, tokens: map[string]string{}, deploys: map[string]int64{}, queries: queries, streams: &streams.Limiter{}}
	for _, role := range []string{spacepods.RoleAdmin, spacepods.RoleDeveloper, spacepods.RoleViewer} {
		secret, _, err := a.Create(admin, "t-"+role, role)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[role] = secret
	}
	for _, m := range []string{apiManifest, webManifest, jobsManifest} {
		if _, _, err := cat.Register(admin, []byte(m), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []string{"api", "web", "jobs"} {
		for n := 1; n <= 2; n++ {
			if _, err := cat.RecordBuild(admin, spacepods.Build{App: app, Number: n, GitSHA: "abcdef1234", Branch: "main", Image: "acme/" + app + ":" + string(rune('0'+n))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Poll is long: live pages must learn of changes from the store's
	// change notifications, not from polling.
	cfg := ui.Config{Catalog: cat, Auth: a, Config: cfgSvc, Store: st, Version: "test", Poll: time.Minute, Settle: 10 * time.Millisecond, Streams: f.streams}
	if withRuntime {
		quiet := slog.New(slog.DiscardHandler)
		engine := &deploy.Engine{Store: st, Catalog: cat, Domain: "localhost", RouterPort: "8080", Logger: quiet}
		f.pods = &pods.Service{Store: st, Catalog: cat, Engine: engine, Driver: logDriver{}, Logger: quiet}
		cfg.Pods = f.pods
		cfg.Deploys = engine
		cfg.Tests = &gatekeeper.Service{Store: st, Catalog: cat, Logger: quiet}
		f.seedEnvironments()
	}
	if configure != nil {
		configure(&cfg)
	}
	f.ui = ui.New(cfg)
	f.ts = httptest.NewServer(f.ui)
	t.Cleanup(f.ts.Close)
	t.Cleanup(f.ui.Close)
	return f
}

// seedEnvironments makes pod p1 (web + api, ready, owned by t-developer) and
// master environments qa (web release 2, after release 1) then staging
// (web release 1), with the deploys that made them.
func (f *fixture) seedEnvironments() {
	t, ctx := f.t, context.Background()
	exp := time.Now().Add(24 * time.Hour)
	dev := spacepods.WithActor(ctx, &spacepods.Token{Name: "t-developer", Role: spacepods.RoleDeveloper})
	mk := func(e spacepods.Environment) {
		if _, err := f.st.CreateEnvironment(dev, e); err != nil {
			t.Fatal(err)
		}
	}
	mk(spacepods.Environment{Name: "p1", Kind: spacepods.EnvPod, Owner: "t-developer", Status: spacepods.StatusReady, Apps: []string{"web"}, ExpiresAt: &exp})
	mk(spacepods.Environment{Name: "qa", Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Apps: []string{}})
	time.Sleep(2 * time.Millisecond) // pipeline order is creation order
	mk(spacepods.Environment{Name: "staging", Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Apps: []string{}})
	deployed := func(env, app string, build, release int) {
		if _, err := f.st.AddRelease(ctx, spacepods.Release{Env: env, App: app, Build: build, Image: "acme/" + app}); err != nil {
			t.Fatal(err)
		}
		d, err := f.st.CreateDeploy(dev, spacepods.Deploy{Env: env, App: app, Build: build})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		d.Status, d.Release, d.StartedAt, d.EndedAt = spacepods.DeployCompleted, release, &now, &now
		for _, s := range spacepods.DeploySteps {
			d.Steps = append(d.Steps, spacepods.DeployStep{Name: s, Status: "done", StartedAt: &now, EndedAt: &now})
		}
		if err := f.st.SaveDeploy(ctx, d); err != nil {
			t.Fatal(err)
		}
		f.st.AddEvent(ctx, spacepods.Event{Env: env, App: app, Deploy: d.ID, Message: "rolled out: " + app})
		f.deploys[env+"/"+app+"/"+string(rune('0'+release))] = d.ID
		url := ""
		if app != "jobs" {
			url = "http://" + app + "." + env + ".localhost:8080"
		}
		if err := f.st.PutEnvApp(ctx, spacepods.EnvApp{Env: env, App: app, Build: build, Release: release, Status: "healthy", URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	deployed("p1", "api", 1, 1)
	deployed("p1", "web", 1, 1)
	deployed("qa", "web", 1, 1)
	deployed("qa", "web", 2, 2)
	deployed("staging", "web", 1, 1)
	failed, err := f.st.CreateDeploy(dev, spacepods.Deploy{Env: "staging", App: "web", Build: 2, Steps: []spacepods.DeployStep{{Name: "rollout", Status: "failed"}}})
	if err != nil {
		t.Fatal(err)
	}
	failed.Status, failed.Error, failed.Output = spacepods.DeployRolledBack, "stage 1/3: new replicas not healthy within 30s: fix the health check or the app, then deploy again", "panic: <boom> & more"
	if err := f.st.SaveDeploy(ctx, failed); err != nil {
		t.Fatal(err)
	}
	f.deploys["staging/web/failed"] = failed.ID
	f.st.AddEvent(ctx, spacepods.Event{Env: "p1", Message: "create done: every app is healthy and routable"})
}

// logDriver is a runtime driver that only has logs: two lines per service.
type logDriver struct{ runtime.Driver }

func (logDriver) Logs(ctx context.Context, env, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("[1] " + name + " started\n[1] GET /healthz 200\n")), nil
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see them.
type browser struct {
	t      *testing.T
	f      *fixture
	c      *http.Client
	csrf   string
	origin string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: f.t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn signs in through the form as role and remembers the session's
// CSRF token.
func (f *fixture) signIn(role string) *browser {
	b := f.browser()
	status, body, _ := b.get("/login")
	if status != 200 {
		f.t.Fatalf("GET /login: %d", status)
	}
	resp := b.postRaw("/login", url.Values{"token": {f.tokens[role]}, "csrf": {csrfOf(f.t, body)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		f.t.Fatalf("sign in as %s: %d %s", role, resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body, _ = b.get("/")
	b.csrf = csrfOf(f.t, body)
	return b
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.f.ts.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header
}

func (b *browser) postRaw(path string, form url.Values) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(data)))
	return resp
}

// post submits a form with the session's CSRF token.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	resp := b.postRaw(path, form)
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header.Get("Location")
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", body)
	}
	return m[1]
}

var postFormRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// mutatingForms lists the actions of the page's POST forms, sign-out aside.
func mutatingForms(body string) []string {
	var out []string
	for _, m := range postFormRE.FindAllStringSubmatch(body, -1) {
		if m[1] != "/logout" {
			out = append(out, m[1])
		}
	}
	return out
}

// sessionCookie opens a session for role's token, as the sign-in form
// does, and returns its cookie.
func (f *fixture) sessionCookie(role string) *http.Cookie {
	f.t.Helper()
	id, _, err := f.auth.SignIn(context.Background(), f.tokens[role])
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Cookie{Name: auth.SessionCookie, Value: id}
}

// apiServer mounts the UI beside the REST API, as `spacepods server` does.
func (f *fixture) apiServer() *httptest.Server {
	srv := &server.Server{Catalog: f.cat, Auth: f.auth, Store: f.st, Version: "test", UI: f.ui, Streams: f.streams}
	ts := httptest.NewServer(srv.Handler())
	f.t.Cleanup(ts.Close)
	return ts
}
