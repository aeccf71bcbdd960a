package server

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/streams"
)

// Server serves the API. Fill the exported fields, then call Handler.
type Server struct {
	Catalog *catalog.Service
	Auth    *auth.Service
	Config  *config.Service
	// RotateKey re-wraps every secret under a new master key and says
	// which, and what the operator must do next; nil when the secret store
	// has no master key (vault).
	RotateKey func(ctx context.Context) (spacepods.KeyRotation, error)
	// Registry takes registry push notifications; nil: the hook answers
	// 401 (--registry none).
	Registry *builds.Notifications
	Pods     *pods.Service         // nil with --runtime none
	Deploys  *deploy.Engine        // nil with --runtime none
	Tests    *gatekeeper.Service   // Gatekeeper test runs; nil with --runtime none
	Pipeline *pipeline.Service     // pipeline runs; nil with --runtime none
	Notes    *releasenotes.Service // release notes of deploys; nil with --runtime none
	Store    *store.Store
	// Builder is the built-in builder; nil when the server has no
	// registry to push to (its routes answer 503).
	Builder *builder.Builder
	// Hooks takes the code forge's webhook deliveries; nil when no forge
	// is configured.
	Hooks *forge.Receiver
	// Slack serves POST /api/v1/hooks/slack (slash commands and buttons);
	// nil when Slack is not configured.
	Slack   http.Handler
	Logger  *slog.Logger
	Version string
	// Runtime, Routing and Installation are reported by /healthz.
	Runtime, Routing, Installation string
	// UI, when set, serves every path the API does not (the web UI, mounted at "/").
	UI http.Handler
	// Streams caps log follows (shared with the UI's live streams); nil =
	// the default caps.
	Streams *streams.Limiter

	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// Handler builds the HTTP handler: every route of the route table behind
// authentication and its role check, plus /healthz, /metrics and the
// OpenAPI document.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Streams == nil {
		s.Streams = &streams.Limiter{}
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spacepods_http_requests_total", Help: "API requests by route and status."}, []string{"method", "route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "spacepods_http_request_duration_seconds", Help: "API latency by route.", Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	s.registry.MustRegister(s.requests, s.latency)
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "spacepods_live_streams", Help: "Live streams open (UI event streams and log follows)."},
		func() float64 { return float64(s.Streams.Open()) }))

	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	doc := s.openAPI()
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, doc) })
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { notFoundRoute(w, r, s.Logger) })
	if s.UI != nil {
		mux.Handle("/", s.UI)
	}
	return s.recoverer(mux)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Version: s.Version, Store: s.Store.Dialect(), Runtime: s.Runtime, Routing: s.Routing, Installation: s.Installation}
	if err := s.Store.DB().PingContext(r.Context()); err != nil {
		h.Status = "store unreachable"
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// statusWriter records the status for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (logs, events) flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap authenticates, checks the route's role, runs the handler and
// records metrics.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		err := s.authorize(r, rt.Role)
		if err == nil && rt.Request != nil {
			err = needJSON(r)
		}
		if err == nil && rt.Runtime {
			err = s.needRuntime()
		}
		if err == nil {
			err = rt.Handle(sw, r)
		}
		if err != nil {
			writeError(sw, r, s.Logger, err)
		}
		s.requests.WithLabelValues(rt.Method, rt.Path, strconv.Itoa(sw.status)).Inc()
		s.latency.WithLabelValues(rt.Method, rt.Path).Observe(time.Since(start).Seconds())
		s.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "dur", time.Since(start))
	})
}

// CSRFHeader carries a browser session's CSRF token on unsafe API
// requests made with the session cookie (fetches from Spacepods pages).
const CSRFHeader = "X-CSRF-Token"

// safeMethod reports whether a method only reads: the API takes the session
// cookie alone for these.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authorize checks the bearer token (or the browser's session cookie) and
// the role; on success it puts the token into the request's context. The
// cookie alone is taken only for reads: a browser sends it with requests
// that other sites make, so unsafe methods need the session's CSRF token
// in the X-CSRF-Token header as well.
func (s *Server) authorize(r *http.Request, role string) error {
	if role == "" {
		return nil
	}
	var tok spacepods.Token
	secret := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	c, cerr := r.Cookie(auth.SessionCookie)
	switch {
	case secret == "" && cerr == nil && c.Value != "":
		sess, err := s.Auth.Session(r.Context(), c.Value)
		if err != nil {
			return err
		}
		if !safeMethod(r.Method) && !sess.CheckCSRF(r.Header.Get(CSRFHeader)) {
			return spacepods.Errorf(spacepods.EFORBIDDEN, "%s %s with only the browser's session cookie is refused (it could come from another site): send 'Authorization: Bearer <token>', or from a Spacepods page the session's CSRF token in the %s header", r.Method, r.URL.Path, CSRFHeader)
		}
		tok = sess.Token
	default:
		var err error
		if tok, err = s.Auth.Authenticate(r.Context(), secret); err != nil {
			return err
		}
	}
	if !spacepods.RoleAtLeast(tok.Role, role) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "token %q has role %s; %s %s needs %s or above: ask an admin for a token with that role", tok.Name, tok.Role, r.Method, r.URL.Path, role)
	}
	*r = *r.WithContext(spacepods.WithActor(r.Context(), &tok))
	return nil
}

// needJSON refuses a body the route would decode as JSON unless it says it
// is JSON: a browser form (or a cross-site one) cannot send this type
// without the site's consent, and a clear 415 beats a confusing parse error.
func needJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return spacepods.Errorf(spacepods.EMEDIATYPE, "%s %s takes a JSON body: send it with the header 'Content-Type: application/json' (got Content-Type %s)", r.Method, r.URL.Path, ct)
}

// recoverer turns a panic into a 500 with a logged stack, never a dropped
// connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, r, s.Logger, spacepods.Errorf(spacepods.EINTERNAL, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
