// Package appkit holds what the example apps share: JSON logging, required
// environment variables, the /env report, build-time failure modes, and an
// HTTP server that drains on SIGTERM.
//
// It uses the standard library only, so every example stays a small static
// binary that runs in a FROM scratch image.
package appkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Failure modes, chosen at build time with -ldflags "-X main.mode=...".
const (
	ModeNormal     = ""
	ModeCrash      = "crash"      // long-running commands exit 1 at start
	ModeUnhealthy  = "unhealthy"  // serves, but /healthz answers 500 forever
	ModeBadMigrate = "badmigrate" // the migrate command exits 3
)

// DrainTimeout bounds how long a server waits for in-flight requests after SIGTERM.
const DrainTimeout = 5 * time.Second

// App is one running example binary.
type App struct {
	Name string // e.g. catalog-api
	Mode string // failure mode compiled in ("" for normal)
	Log  *slog.Logger

	draining atomic.Bool
}

// New validates the compiled-in mode and sets up JSON logging to stdout at
// the level named by LOG_LEVEL (debug, info, warn, error; default info).
func New(name, mode string) *App {
	var level slog.Level
	if err := level.UnmarshalText([]byte(Getenv("LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})
	log := slog.New(h).With("app", name)
	a := &App{Name: name, Mode: mode, Log: log}
	switch mode {
	case ModeNormal, ModeCrash, ModeUnhealthy, ModeBadMigrate:
	default:
		a.Fatalf(2, "unknown failure mode %q compiled in: rebuild with -X main.mode= one of crash, unhealthy, badmigrate, or empty", mode)
	}
	return a
}

// ModeName is the mode for logs and /env ("normal" when none).
func (a *App) ModeName() string {
	if a.Mode == "" {
		return "normal"
	}
	return a.Mode
}

// Fatalf logs msg as an error line, repeats it on stderr for humans reading
// `docker logs`, and exits with code.
func (a *App) Fatalf(code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.Log.Error(msg, "exit_code", code)
	fmt.Fprintf(os.Stderr, "%s: %s\n", a.Name, msg)
	os.Exit(code)
}

// CrashIfAsked makes a long-running command of a crash-mode build exit 1.
func (a *App) CrashIfAsked(command string) {
	if a.Mode == ModeCrash {
		a.Fatalf(1, "crash mode: %s exits at start on purpose (this build was made with -X main.mode=crash)", command)
	}
}

// Require returns the value of each named variable, or exits 2 naming every
// missing one and what it is for.
func (a *App) Require(vars map[string]string) map[string]string {
	got := map[string]string{}
	var missing []string
	for name, why := range vars {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			missing = append(missing, fmt.Sprintf("%s (%s)", name, why))
			continue
		}
		got[name] = v
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		a.Fatalf(2, "missing required environment: %s; Spacepods sets these when the app is deployed, set them yourself when running it by hand", strings.Join(missing, ", "))
	}
	return got
}

// RequireURL returns a required variable holding an http(s) base URL,
// without a trailing slash.
func (a *App) RequireURL(name, why string) string {
	v := a.Require(map[string]string{name: why})[name]
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		a.Fatalf(2, "%s=%q is not an http(s) URL: set it to the base URL of the service, e.g. http://catalog-api:8080", name, v)
	}
	return strings.TrimRight(v, "/")
}

// Getenv returns the variable or def when it is unset or empty.
func Getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Duration reads a Go duration from the environment (e.g. 2s), or def.
func (a *App) Duration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		a.Fatalf(2, "%s=%q is not a positive duration: write e.g. 2s or 500ms", name, v)
	}
	return d
}

// Port reads PORT (default 8080).
func (a *App) Port() int {
	v := Getenv("PORT", "8080")
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		a.Fatalf(2, "PORT=%q is not a port number: set it to 1-65535 (default 8080)", v)
	}
	return p
}

// SignalContext is cancelled by SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// Secret reports whether a variable's value must never be shown.
func Secret(name string) bool {
	n := strings.ToUpper(name)
	return strings.Contains(n, "SECRET") || strings.Contains(n, "TOKEN") || strings.Contains(n, "PASSWORD")
}

// shown is how /env displays one variable: "set" for secrets, URLs without
// their password, anything else as is.
func shown(name, value string) string {
	if Secret(name) {
		return "set"
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return value
}

// EnvReport is the body of GET /env.
type EnvReport struct {
	App          string            `json:"app"`
	Mode         string            `json:"mode"`
	Spacepods    map[string]string `json:"spacepods"`    // SPACEPODS_* variables
	Dependencies map[string]string `json:"dependencies"` // <DEPENDENCY>_URL variables
	Database     string            `json:"database"`     // "set" or "unset" (DATABASE_URL)
	Env          map[string]string `json:"env"`          // every other variable (secrets as "set")
}

// hidden are variables of the process environment that say nothing about
// the deploy.
var hidden = map[string]bool{"PATH": true, "HOME": true, "HOSTNAME": true, "TERM": true, "PWD": true, "SHLVL": true}

// Env builds the /env report from the process environment. Values of
// variables whose names contain SECRET, TOKEN or PASSWORD are reported as
// "set", never shown.
func (a *App) Env() EnvReport {
	r := EnvReport{App: a.Name, Mode: a.ModeName(), Spacepods: map[string]string{},
		Dependencies: map[string]string{}, Database: "unset", Env: map[string]string{}}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case name == "DATABASE_URL":
			if value != "" {
				r.Database = "set"
			}
		case strings.HasPrefix(name, "SPACEPODS_"):
			r.Spacepods[name] = shown(name, value)
		case strings.HasSuffix(name, "_URL"):
			r.Dependencies[name] = shown(name, value)
		case hidden[name]:
		default:
			r.Env[name] = shown(name, value)
		}
	}
	return r
}

// WriteJSON writes v as an indented JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Health is what /healthz answers.
type Health struct {
	Status string `json:"status"`
	App    string `json:"app"`
	Build  string `json:"build,omitempty"`
	Mode   string `json:"mode"`
}

// Mux returns a ServeMux with GET /healthz (own liveness: 200, or 500 in
// unhealthy mode, 503 while draining) and GET /env already registered.
func (a *App) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := Health{Status: "ok", App: a.Name, Build: os.Getenv("SPACEPODS_BUILD"), Mode: a.ModeName()}
		switch {
		case a.Mode == ModeUnhealthy:
			h.Status = "unhealthy (built with -X main.mode=unhealthy)"
			WriteJSON(w, http.StatusInternalServerError, h)
		case a.draining.Load():
			h.Status = "draining"
			WriteJSON(w, http.StatusServiceUnavailable, h)
		default:
			WriteJSON(w, http.StatusOK, h)
		}
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, a.Env())
	})
	return mux
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// accessLog logs one line per request; health checks only at debug level.
func (a *App) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			level = slog.LevelDebug
		}
		a.Log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration_ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
	})
}

// Serve listens on PORT and serves h until SIGTERM/SIGINT, then stops
// accepting, lets in-flight requests finish for up to DrainTimeout, and
// returns. It logs the start and the stop.
func (a *App) Serve(h http.Handler) error {
	ctx, stop := SignalContext()
	defer stop()
	return a.ServeContext(ctx, h)
}

// ServeContext is Serve until ctx is done.
func (a *App) ServeContext(ctx context.Context, h http.Handler) error {
	addr := fmt.Sprintf(":%d", a.Port())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another process using PORT?)", addr, err)
	}
	srv := &http.Server{Handler: a.accessLog(h), ReadHeaderTimeout: 5 * time.Second}
	a.Log.Info("serving", "addr", addr, "mode", a.ModeName(), "env", os.Getenv("SPACEPODS_ENV"),
		"build", os.Getenv("SPACEPODS_BUILD"), "go", runtime.Version())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.draining.Store(true)
	a.Log.Info("signal received, draining", "timeout", DrainTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.Log.Warn("drain timed out, closing remaining connections", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.Log.Info("stopped")
	return nil
}

// Client is the HTTP client the examples use to call each other.
var Client = &http.Client{Timeout: 3 * time.Second}

// GetJSON fetches url into v; non-2xx answers are errors carrying the body.
func GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return nil
}

// Healthcheck is the `healthcheck` subcommand: GET http://127.0.0.1:$PORT/healthz,
// exit 0 on 200 and 1 otherwise. A FROM scratch image has no curl, so a
// driver that wants a container health check can run ["/app", "healthcheck"].
func (a *App) Healthcheck() {
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", a.Port())
	resp, err := Client.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: healthcheck: %v\n", a.Name, err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "%s: healthcheck: %s answered %s\n", a.Name, url, resp.Status)
		os.Exit(1)
	}
}

// Version is the `version` subcommand.
func (a *App) Version() {
	fmt.Printf("%s mode=%s %s\n", a.Name, a.ModeName(), runtime.Version())
}

// Usage exits 2 with the list of subcommands.
// Command is one subcommand of an example app.
type Command struct {
	Name  string
	Crash bool // honour the crash failure mode before running
	Run   func()
}

// Main runs the subcommand named by os.Args[1] (default: the first
// command's name); healthcheck and version are built in.
func (a *App) Main(cmds ...Command) {
	cmd := cmds[0].Name
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	names := []string{}
	for _, c := range cmds {
		names = append(names, c.Name)
		if c.Name == cmd {
			if c.Crash {
				a.CrashIfAsked(cmd)
			}
			c.Run()
			return
		}
	}
	switch cmd {
	case "healthcheck":
		a.Healthcheck()
	case "version":
		a.Version()
	default:
		a.Usage(cmd, append(names, "healthcheck", "version")...)
	}
}

// Usage exits with a message listing the known commands.
func (a *App) Usage(cmd string, commands ...string) {
	a.Fatalf(2, "unknown command %q: use one of %s", cmd, strings.Join(commands, ", "))
}
