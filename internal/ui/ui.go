// Package ui is Spacepods' web UI, the single pane of glass: pages rendered
// on the server from html/template files embedded in the binary, one
// stylesheet, and a little hand-written JavaScript that keeps open pages
// current over Server-Sent Events. Every page reads fine with JavaScript
// off; there is no build step.
//
// Sign-in takes an API token and opens a session (auth.SignIn): a
// revocable record whose random ID is in the HttpOnly cookie
// spacepods_session, never the token itself. The REST API accepts that
// cookie for reads. Every form carries the session's CSRF token, checked on
// every POST; sign-out revokes the session. Pages show only the buttons the
// signed-in role may use; handlers check the role again.
package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/streams"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the UI needs: the same services the API uses.
type Config struct {
	Catalog *catalog.Service
	Auth    *auth.Service
	// OIDC, when set, offers sign-in through the provider beside tokens.
	OIDC    *auth.OIDC
	Config  *config.Service     // nil: the app page's env vars editor says so
	Pods    *pods.Service       // nil with --runtime none: pod, deploy and environment pages say so
	Deploys *deploy.Engine      // nil with --runtime none
	Tests   *gatekeeper.Service // Gatekeeper test runs; nil: the pod page shows none
	// Pipeline shows and decides pipeline runs; nil: no pipeline pages.
	Pipeline *pipeline.Service
	// Notes computes the release notes the deploy page shows; nil: none.
	Notes *releasenotes.Service
	// Builder is the built-in builder; nil when the server has none (the
	// app page then shows no build jobs).
	Builder *builder.Builder
	Store   *store.Store
	Logger  *slog.Logger
	Version string
	// CSRFKey signs the sign-in form's CSRF token (sessions have their
	// own). Empty: a random key per process, so a sign-in form opened
	// before a server restart must be reloaded.
	CSRFKey []byte
	// Streams caps the live streams (shared with the API's log follows);
	// nil = the default caps.
	Streams *streams.Limiter
	// Live pages wait for this process's writes to the store
	// (Store.Changes); Poll is how often they look anyway, for writes by
	// other servers sharing the store (default 5s).
	Poll time.Duration
	// Settle is how long a stream waits after a change before reading, so
	// that a burst of writes costs one read (default 200ms).
	Settle time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// UI is the web UI's http.Handler. Mount it at "/" beside the API.
type UI struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	pages   map[string]*template.Template
	assets  map[string]string // file name → URL with a content hash
	csrfKey []byte

	closed context.Context // ended by Close: live streams stop
	close  context.CancelFunc
}

// New builds the UI. It panics if an embedded template does not parse (a
// bug caught by every test).
func New(cfg Config) *UI {
	u := &UI{cfg: cfg, log: cfg.Logger, csrfKey: cfg.CSRFKey}
	if u.log == nil {
		u.log = slog.Default()
	}
	if u.cfg.Poll <= 0 {
		u.cfg.Poll = 5 * time.Second
	}
	if u.cfg.Settle <= 0 {
		u.cfg.Settle = 200 * time.Millisecond
	}
	if u.cfg.Streams == nil {
		u.cfg.Streams = &streams.Limiter{}
	}
	if u.cfg.Now == nil {
		u.cfg.Now = time.Now
	}
	if len(u.csrfKey) == 0 {
		u.csrfKey = make([]byte, 32)
		rand.Read(u.csrfKey)
	}
	u.closed, u.close = context.WithCancel(context.Background())
	u.assets = assetURLs()
	u.pages = u.parsePages()
	u.mux = http.NewServeMux()
	for _, rt := range u.routes() {
		u.mux.Handle(rt.Method+" "+rt.Path, u.wrap(rt))
	}
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	u.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})))
	u.mux.Handle("/", u.wrap(route{Method: "GET", Path: "/", Handle: func(w http.ResponseWriter, r *http.Request) error {
		return spacepods.Errorf(spacepods.ENOTFOUND, "there is no page at %s: start from the dashboard", r.URL.Path)
	}}))
	return u
}

// Close ends every live stream (Server-Sent Events) now open, so that
// http.Server.Shutdown need not wait for them; register it with
// RegisterOnShutdown. Pages keep working; new streams end at once.
func (u *UI) Close() { u.close() }

// streamContext ends when the request does or when the UI is closed.
func (u *UI) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(u.closed, cancel)
	return ctx, func() { stop(); cancel() }
}

// ServeHTTP serves the UI's pages, forms, event streams and assets.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	u.mux.ServeHTTP(w, r)
}

// route is one UI endpoint. Role is the least role that may use it ("" =
// anyone, signed in or not).
type route struct {
	Method string
	Path   string
	Role   string
	Handle func(w http.ResponseWriter, r *http.Request) error
}

func (u *UI) routes() []route {
	v, d, a := spacepods.RoleViewer, spacepods.RoleDeveloper, spacepods.RoleAdmin
	return []route{
		{"GET", "/login", "", u.loginPage},
		{"POST", "/login", "", u.login},
		{"POST", "/logout", v, u.logout},
		{"GET", "/auth/oidc/login", "", u.oidcLogin},
		{"GET", "/auth/oidc/callback", "", u.oidcCallback},

		{"GET", "/{$}", v, u.dashboard},
		{"GET", "/apps", v, u.appsPage},
		{"GET", "/apps/{name}", v, u.appPage},
		{"GET", "/apps/{name}/graph.svg", v, u.appGraph},
		{"POST", "/apps/{name}/config", d, u.setConfig},
		{"POST", "/apps/{name}/config/unset", d, u.unsetConfig},
		{"POST", "/apps/{name}/config/reveal", a, u.revealConfig},
		{"POST", "/apps/{name}/builds/run", d, u.runBuild},
		{"GET", "/builds/jobs/{id}", v, u.buildJobPage},

		{"GET", "/pods", v, u.podsPage},
		{"GET", "/pods/new", v, u.newPodPage},
		{"POST", "/pods", d, u.createPod},
		{"GET", "/pods/{name}", v, u.envPage},
		{"POST", "/pods/{name}/extend", d, u.extendPod},
		{"POST", "/pods/{name}/sleep", d, u.sleepPod},
		{"POST", "/pods/{name}/wake", d, u.wakePod},
		{"POST", "/pods/{name}/update", d, u.updatePod},
		{"POST", "/pods/{name}/destroy", d, u.destroyPod},
		{"GET", "/logs/{env}/{app}", d, u.logsPage}, // logs often carry connection strings

		{"GET", "/tests/{id}", v, u.testPage},

		{"GET", "/apps/{name}/pipeline", v, u.pipelinePage},
		{"GET", "/pipeline/runs/{id}", v, u.runPage},
		{"POST", "/pipeline/runs/{id}/approve", d, u.decideRun(true)},
		{"POST", "/pipeline/runs/{id}/reject", d, u.decideRun(false)},

		{"GET", "/deploys", v, u.deploysPage},
		{"GET", "/deploys/{id}", v, u.deployPage},
		{"POST", "/deploys", d, u.createDeploy},
		{"POST", "/rollback", d, u.rollback},
		{"POST", "/promote", d, u.promote},

		{"GET", "/environments", v, u.environmentsPage},
		{"GET", "/environments/{name}", v, u.envPage},
		{"POST", "/environments", a, u.createEnvironment},

		{"GET", "/registry", v, u.registryPage},
		{"GET", "/forge/deliveries", d, u.deliveriesPage},
		{"GET", "/notifications", d, u.notificationsPage},
		{"GET", "/audit", a, u.auditPage},
		{"GET", "/leaks", a, u.leaksPage},
		{"POST", "/leaks/remove", a, u.removeLeaks},

		{"GET", "/ui/events/env/{name}", v, u.envEvents},
		{"GET", "/ui/events/deploys/{id}", v, u.deployEvents},
		{"GET", "/ui/events/logs/{env}/{app}", d, u.logEvents},
		{"GET", "/ui/events/registry", v, u.registryEvents},
		{"GET", "/ui/events/build-jobs/{id}", d, u.buildJobEvents}, // build output: developers and admins
		{"GET", "/ui/events/pipeline/{name}", v, u.pipelineEvents},
	}
}

// wrap authenticates, checks the role and (on POST) the CSRF token, runs
// the handler and renders its error as a page.
func (u *UI) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := u.session(r)
		if err == nil && s != nil {
			r = r.WithContext(context.WithValue(spacepods.WithActor(r.Context(), &s.Token), sessionKey, s))
		}
		switch {
		case rt.Role == "":
		case s == nil && r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/ui/"):
			next := r.URL.RequestURI()
			q := url.Values{}
			if next != "/" {
				q.Set("next", next)
			}
			if err != nil {
				q.Set("expired", "1")
			}
			target := "/login"
			if len(q) > 0 {
				target += "?" + q.Encode()
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		case s == nil:
			u.fail(w, r, spacepods.Errorf(spacepods.EUNAUTHORIZED, "you are not signed in (or your token was revoked): sign in again at /login"))
			return
		case !spacepods.RoleAtLeast(s.Token.Role, rt.Role):
			u.fail(w, r, spacepods.Errorf(spacepods.EFORBIDDEN, "your token %q has the role %s; this needs %s or above: ask an admin for a token with that role", s.Token.Name, s.Token.Role, rt.Role))
			return
		}
		if r.Method == http.MethodPost && rt.Path != "/login" {
			if err := u.checkCSRF(r, s); err != nil {
				u.fail(w, r, err)
				return
			}
		}
		if err := rt.Handle(w, r); err != nil {
			u.fail(w, r, err)
		}
	})
}

type ctxKey int

const sessionKey ctxKey = 1

// sessionOf returns the signed-in session of r, or nil.
func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey).(*session)
	return s
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the nav item to highlight
	User    *spacepods.Token
	CSRF    string
	Version string
	Runtime bool // pods and deploys are available
	Flash   string
	Error   string
	Live    string // Server-Sent Events URL that keeps the page current
	State   string // the state hash the page was rendered from
	Refresh int    // seconds between reloads with JavaScript off (0 = none)
	Data    any
}

// Can reports whether the signed-in role is at least role.
func (v view) Can(role string) bool {
	return v.User != nil && spacepods.RoleAtLeast(v.User.Role, role)
}

// CanDeploy reports whether the user may deploy to (promote to, roll back
// in) an environment: developers, or only admins when it is protected.
func (v view) CanDeploy(protected bool) bool {
	if protected {
		return v.Can(spacepods.RoleAdmin)
	}
	return v.Can(spacepods.RoleDeveloper)
}

func (u *UI) newView(r *http.Request, title, nav string, data any) view {
	v := view{Title: title, Nav: nav, Version: u.cfg.Version, Runtime: u.cfg.Pods != nil && u.cfg.Deploys != nil, Data: data}
	if s := sessionOf(r); s != nil {
		v.User, v.CSRF = &s.Token, s.CSRF
	}
	if msg, ok := flashes[r.URL.Query().Get("done")]; ok {
		v.Flash = msg
	}
	return v
}

// flashes are the success messages a redirect may ask for (by key, so that
// no one can make the page say arbitrary words through a link).
var flashes = map[string]string{
	"extended":     "Expiry extended.",
	"asleep":       "Asleep: its web apps' containers are stopped. The first request to one wakes it.",
	"woken":        "Awake: its apps are healthy and routed again.",
	"build":        "Build queued: its log shows below as it runs.",
	"updating":     "Update started: running apps are wiped and redeployed. Progress shows below.",
	"destroy":      "Destroy started. Progress shows below.",
	"created":      "Environment created.",
	"leaks":        "Leaked objects removed (see the result below).",
	"deploying":    "Deploy queued. Progress shows below.",
	"approved":     "Approved: the build goes into the next environment.",
	"rejected":     "Rejected: the run ends here.",
	"config-set":   "Saved. Deploys from now on get it; a running app keeps its old config until redeployed (spacepods config apply).",
	"config-unset": "Removed. Deploys from now on go without it; a running app keeps it until redeployed (spacepods config apply).",
}

// render executes a page into a buffer first, so that a template error is
// a clean 500, never half a page.
func (u *UI) render(w http.ResponseWriter, status int, page string, v view) error {
	t, ok := u.pages[page]
	if !ok {
		return errors.New("ui: no page template " + page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a client gone mid-write is not our error
	return nil
}

// fail renders err as a page in words a user can act on; internal errors
// are logged and shown as a generic message.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := spacepods.ErrorCode(err)
	if code == spacepods.EINTERNAL {
		u.log.Error("ui internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := httpjson.StatusOf(code)
	if strings.HasPrefix(r.URL.Path, "/ui/events/") {
		http.Error(w, spacepods.ErrorMessage(err), status)
		return
	}
	v := u.newView(r, errorTitle(code), "", nil)
	v.Error = spacepods.ErrorMessage(err)
	if rerr := u.render(w, status, "error", v); rerr != nil {
		u.log.Error("ui render error page", "err", rerr)
		http.Error(w, v.Error, status)
	}
}

func errorTitle(code string) string {
	switch code {
	case spacepods.ENOTFOUND:
		return "Not found"
	case spacepods.EFORBIDDEN:
		return "Not allowed"
	case spacepods.EUNAUTHORIZED:
		return "Sign in needed"
	case spacepods.EINVALID:
		return "Cannot do that"
	case spacepods.ECONFLICT:
		return "Conflict"
	case spacepods.EUNAVAILABLE:
		return "Unavailable"
	}
	return "Something went wrong"
}

// needRuntime is the error of pod, deploy and environment pages on a
// server without a runtime.
func (u *UI) needRuntime() error {
	if u.cfg.Pods == nil || u.cfg.Deploys == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs without a runtime (--runtime none): pods, deploys and environments are off; restart it with --runtime docker")
	}
	return nil
}

// redirect sends the browser to a page after a form (303: GET it).
func redirect(w http.ResponseWriter, r *http.Request, to, done string) error {
	if done != "" {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, to, http.StatusSeeOther) //nolint:gosec // callers pass the UI's own paths or safeNext-checked local paths
	return nil
}
