// Package podstest assembles a complete, real Spacepods control plane for
// integration tests and benchmarks: a SQLite store, the catalog with the
// example apps (examples/) registered and their builds recorded, the Docker
// driver, an in-process edge router on free loopback ports, the databases
// manager on a PostgreSQL server, the deploy engine and the pods service.
//
// Tests use Start (testing.go); benchmarks use New and Close.
package podstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/router/routertest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// ExampleApps are the example apps in dependency order.
var ExampleApps = []string{"pricing-api", "catalog-api", "storefront", "mailer"}

// Build numbers of the example images. Failure modes get numbers of their
// own, shared by every test binary, so that concurrently running packages
// never tag one number with two modes.
const (
	BuildNormal     = 1  // every app, normal mode
	BuildNormal2    = 2  // a second normal build (same code, new number)
	BuildCrash      = 91 // serve exits 1 at start
	BuildUnhealthy  = 92 // /healthz answers 500
	BuildBadMigrate = 93 // catalog-api's migrate exits 3
)

// FeatureBranch is the branch failure builds and extra builds are recorded
// on, so that "latest of main" stays build 1.
const FeatureBranch = "feature/test"

// Config tunes a Stack. Zero values take test-friendly defaults.
type Config struct {
	PostgresURL string         // admin URL of the PostgreSQL server (required)
	Deploy      deploy.Options // default: HealthTimeout 30s, Bake 1s, Poll 100ms
	Logger      *slog.Logger   // default: discard
	ReapEvery   time.Duration  // pods reaper interval; 0 = only explicit Reap calls
	// RouterHealthInterval is the router's health check interval (default 250ms).
	RouterHealthInterval time.Duration
	// WrapStore, when set, wraps the store each deploy engine uses (a
	// test's way to make it fail).
	WrapStore func(deploy.Store) deploy.Store
	// Registry is the registry releases' digests are read from and images
	// pulled from (default: none; images named without a registry are
	// pinned to their IDs on the Docker host, as the server does).
	Registry builds.Registry
	// Secrets, when set, gives the stack custom config with this secret
	// store (Stack.Config): releases then carry the apps' custom vars and
	// secret references, resolved by the Docker driver at container start.
	Secrets config.SecretStore
	// Notifier, when set, is told what the pods service and the deploy
	// engines do.
	Notifier spacepods.Notifier
	// SleepEvery, when set, runs the pods' sleeper (idle apps sleep, held
	// requests wake them) with this check interval, and IdleTimeout as
	// the server's idle timeout.
	SleepEvery  time.Duration
	IdleTimeout time.Duration
}

// Stack is a running control plane.
type Stack struct {
	Root         string // repository root
	Store        *store.Store
	Catalog      *catalog.Service
	Driver       *docker.Driver
	Router       *router.Router
	RouterClient *router.Client
	RouterAddr   string // the proxy's 127.0.0.1:port
	// RouterInternal is the router's internal listener (the apps' calls to
	// their dependencies): the default bridge's gateway and a port.
	RouterInternal string
	Databases      *databases.Manager
	Pods           *pods.Service
	Config         *config.Service // nil unless Config.Secrets is set
	Logger         *slog.Logger
	SHA            string // git SHA the example images were built from

	cfg      Config
	provider *databases.Provider // the engines' Databases

	mu           sync.Mutex
	engine       *deploy.Engine
	engineCancel context.CancelFunc
	envs         []string // environments this stack made (for cleanup and leak checks)

	podsCancel context.CancelFunc
	running    *routertest.Running
	dataDir    string
	http       *http.Client
}

// New builds the example images (once per process) and starts a stack.
// dataDir holds the SQLite store.
func New(ctx context.Context, dataDir string, cfg Config) (_ *Stack, err error) {
	if cfg.PostgresURL == "" {
		return nil, errors.New("podstest: a PostgreSQL admin URL is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Deploy.HealthTimeout == 0 {
		cfg.Deploy.HealthTimeout = 30 * time.Second
	}
	if cfg.Deploy.Bake == 0 {
		cfg.Deploy.Bake = time.Second
	}
	if cfg.Deploy.Poll == 0 {
		cfg.Deploy.Poll = 100 * time.Millisecond
	}
	if cfg.RouterHealthInterval == 0 {
		cfg.RouterHealthInterval = 250 * time.Millisecond
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	s := &Stack{Root: root, cfg: cfg, Logger: cfg.Logger, dataDir: dataDir,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.SHA, err = EnsureImages(ctx, root, BuildNormal, ""); err != nil {
		return nil, err
	}
	if s.Store, err = store.Open(ctx, "", dataDir); err != nil {
		return nil, err
	}
	s.Catalog = catalog.NewService(s.Store)
	if err := s.registerExamples(ctx); err != nil {
		return nil, err
	}
	for _, app := range ExampleApps {
		if err := s.RecordBuild(ctx, app, BuildNormal, spacepods.DefaultBranch); err != nil {
			return nil, err
		}
	}
	var dopts []docker.Option
	if cfg.Secrets != nil {
		s.Config = &config.Service{Store: s.Store, Secrets: cfg.Secrets}
		dopts = append(dopts, docker.WithSecrets(s.Config))
	}
	dopts = append(dopts, docker.WithRegistry(runtime.RegistryLogin{Host: cfg.Registry.Host, Username: cfg.Registry.Username, Password: cfg.Registry.Password}))
	if s.Driver, err = docker.New(cfg.Logger.With("component", "docker"), dopts...); err != nil {
		return nil, err
	}
	if err := s.startRouter(); err != nil {
		return nil, err
	}
	if s.Databases, err = databases.Open(ctx, cfg.PostgresURL, cfg.Logger.With("component", "databases")); err != nil {
		return nil, err
	}
	// Containers reach PostgreSQL where the server points them: at the
	// default bridge's gateway (scripts/lib.sh's cluster listens there).
	dbHost, _, _ := net.SplitHostPort(s.RouterInternal)
	s.provider = &databases.Provider{Manager: s.Databases, LocalHost: dbHost, Gateway: s.Driver.HostAddress}
	s.Pods = &pods.Service{Store: s.Store, Catalog: s.Catalog, Driver: s.Driver, Router: s.RouterClient,
		Databases: s.Databases, Logger: cfg.Logger.With("component", "pods"), Notifier: cfg.Notifier}
	if _, err := s.StartEngine(); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	s.podsCancel = cancel
	if err := s.startPods(pctx); err != nil {
		return nil, err
	}
	return s, nil
}

// startRouter runs the edge router in-process: proxy and control API on free
// loopback ports.
func (s *Stack) startRouter() error {
	// The internal listener (apps calling their dependencies) goes where
	// the server puts it: the default bridge's gateway.
	gw, err := s.Driver.BridgeGateway(context.Background())
	if err != nil {
		return err
	}
	rr, err := routertest.Start(router.Options{
		HealthInterval: s.cfg.RouterHealthInterval,
		DrainTimeout:   10 * time.Second,
		Logger:         s.cfg.Logger.With("component", "router"),
	}, net.JoinHostPort(gw, "0"))
	if err != nil {
		return err
	}
	s.running = rr
	s.Router, s.RouterClient, s.RouterAddr, s.RouterInternal = rr.Router, rr.Client, rr.Addr, rr.Internal
	return nil
}

// StartEngine starts a fresh deploy engine on the stack's store (as a
// restarted control plane would) and makes the pods service use it. The
// previous engine, if any, must have been stopped with StopEngine.
func (s *Stack) StartEngine() (*deploy.Engine, error) {
	_, port, _ := net.SplitHostPort(s.RouterAddr)
	var st deploy.Store = s.Store
	if s.cfg.WrapStore != nil {
		st = s.cfg.WrapStore(st)
	}
	e := &deploy.Engine{
		Store: st, Catalog: s.Catalog, Driver: s.Driver, Router: s.RouterClient,
		Databases: s.provider, Domain: s.Router.Domain(), RouterPort: port, InternalRouter: s.RouterInternal,
		Options: s.cfg.Deploy, Logger: s.cfg.Logger.With("component", "deploy"), Config: s.Config, Notifier: s.cfg.Notifier,
		Images: &builds.Pinner{Images: &builds.Client{Registry: s.cfg.Registry}, Host: s.Driver},
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.Start(ctx); err != nil {
		cancel()
		return nil, err
	}
	s.mu.Lock()
	s.engine, s.engineCancel = e, cancel
	s.mu.Unlock()
	s.Pods.Engine = e
	return e, nil
}

// StopEngine cancels the engine's context, as if the control plane died,
// and waits until its goroutines have stopped.
func (s *Stack) StopEngine() {
	s.mu.Lock()
	e, cancel := s.engine, s.engineCancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		e.Wait()
	}
}

// KillEngine cancels the engine's context without waiting: what a hook
// running inside the engine calls to simulate a control plane killed at
// that point. Follow it with StopEngine from outside the engine.
func (s *Stack) KillEngine() {
	s.mu.Lock()
	cancel := s.engineCancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Engine returns the running deploy engine.
func (s *Stack) Engine() *deploy.Engine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine
}

// Close stops the pods service, the engine and the router and closes the
// clients. It does not destroy environments: see DestroyAll.
func (s *Stack) Close() {
	if s.podsCancel != nil {
		s.podsCancel()
		s.Pods.Wait()
	}
	s.StopEngine()
	if s.running != nil {
		s.running.Close()
	}
	if s.Databases != nil {
		s.Databases.Close()
	}
	if s.Driver != nil {
		_ = s.Driver.Close() // best-effort cleanup; nothing useful to do on failure
	}
	if s.Store != nil {
		_ = s.Store.Close() // best-effort cleanup; nothing useful to do on failure
	}
}

// EnvName returns a fresh environment name with the prefix and remembers it
// for DestroyAll and LeaksOf.
func (s *Stack) EnvName(prefix string) string {
	name := prefix + "-" + randomHex(3)
	s.mu.Lock()
	s.envs = append(s.envs, name)
	s.mu.Unlock()
	return name
}

// Track remembers an environment made under a name the stack did not hand
// out (a pull request's pod, say), for DestroyAll and LeaksOf.
func (s *Stack) Track(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.envs, name) {
		s.envs = append(s.envs, name)
	}
}

// Envs returns the environment names this stack handed out.
func (s *Stack) Envs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.envs)
}

// DestroyAll destroys every environment of this stack still alive and
// waits until each is gone.
func (s *Stack) DestroyAll(ctx context.Context) error {
	var errs []error
	for _, name := range s.Envs() {
		if _, err := s.Store.GetEnvironment(ctx, name); spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			continue
		}
		if err := s.Pods.Destroy(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("destroy %s: %w", name, err))
			continue
		}
		if err := s.WaitDestroyed(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WaitDestroyed waits until env is destroyed; an error if its destroy failed.
func (s *Stack) WaitDestroyed(ctx context.Context, env string) error {
	for {
		e, err := s.Store.GetEnvironment(ctx, env)
		switch {
		case spacepods.ErrorCode(err) == spacepods.ENOTFOUND:
			return nil
		case err != nil:
			return err
		case e.Status == spacepods.StatusFailed:
			return fmt.Errorf("destroy of %s failed: %s", env, e.Reason)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not destroyed (status %s): %w", env, e.Status, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitEnv waits until env's status is one of want and returns it. It stops
// early (with an error) when the status is failed and failed is not wanted.
func (s *Stack) WaitEnv(ctx context.Context, env string, want ...string) (spacepods.Environment, error) {
	for {
		e, err := s.Store.GetEnvironment(ctx, env)
		if err != nil {
			return e, err
		}
		if slices.Contains(want, e.Status) {
			return e, nil
		}
		if e.Status == spacepods.StatusFailed {
			return e, fmt.Errorf("%s failed: %s", env, e.Reason)
		}
		select {
		case <-ctx.Done():
			return e, fmt.Errorf("%s is %s, want %v: %w", env, e.Status, want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LeaksOf returns the leak audit limited to the environments of this stack:
// the Docker daemon and the PostgreSQL server are shared with other tests,
// whose live environments this stack's store does not know.
func (s *Stack) LeaksOf(ctx context.Context) ([]spacepods.Leak, error) {
	all, err := s.Pods.Leaks(ctx, false)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, e := range s.Envs() {
		mine[e] = true
	}
	var out []spacepods.Leak
	for _, l := range all {
		if mine[l.Environment] {
			out = append(out, l)
		}
	}
	return out, nil
}

// RecordBuild records build number of app with the example image of that
// tag (which must exist: see EnsureImages).
func (s *Stack) RecordBuild(ctx context.Context, app string, number int, branch string) error {
	_, err := s.Catalog.RecordBuild(ctx, spacepods.Build{App: app, Number: number, GitSHA: s.SHA, Branch: branch, Image: Image(app, number)})
	return err
}

// RecordBuildAt records build number of app at commit sha on branch, with
// the example image of build 1 (a pull request's build, say).
func (s *Stack) RecordBuildAt(ctx context.Context, app string, number int, sha, branch string) error {
	_, err := s.Catalog.RecordBuild(ctx, spacepods.Build{App: app, Number: number, GitSHA: sha, Branch: branch, Image: Image(app, BuildNormal)})
	return err
}

// AddBuild builds (or re-tags) the example image of app as number in mode
// ("" = normal) and records it on FeatureBranch.
func (s *Stack) AddBuild(ctx context.Context, app string, number int, mode string) error {
	if _, err := EnsureImages(ctx, s.Root, number, mode, app); err != nil {
		return err
	}
	return s.RecordBuild(ctx, app, number, FeatureBranch)
}

// Image is the example image reference of app's build number.
func Image(app string, number int) string {
	return fmt.Sprintf("spacepods-example/%s:%d", app, number)
}

// Manifest returns the example manifest of app.
func (s *Stack) Manifest(app string) (string, error) {
	data, err := os.ReadFile(filepath.Join(s.Root, "examples", app, "spacepods.yaml"))
	return string(data), err
}

// Seed returns the seed SQL an example manifest names ("" if none).
func (s *Stack) Seed(app string, manifest string) (string, error) {
	a, err := catalog.ParseManifest([]byte(manifest))
	if err != nil {
		return "", err
	}
	if a.Database == nil || a.Database.Seed == "" {
		return "", nil
	}
	data, err := os.ReadFile(filepath.Join(s.Root, "examples", app, a.Database.Seed))
	return string(data), err
}

// Register registers a manifest (a variant of an example, say) whose seed
// file, if any, is read next to the example app dir's manifest.
func (s *Stack) Register(ctx context.Context, dir, manifest string) (spacepods.App, error) {
	seed, err := s.Seed(dir, manifest)
	if err != nil {
		return spacepods.App{}, err
	}
	app, _, err := s.Catalog.Register(ctx, []byte(manifest), seed)
	return app, err
}

func (s *Stack) registerExamples(ctx context.Context) error {
	for _, app := range ExampleApps {
		m, err := s.Manifest(app)
		if err != nil {
			return err
		}
		if _, err := s.Register(ctx, app, m); err != nil {
			return fmt.Errorf("register %s: %w", app, err)
		}
	}
	return nil
}

// Get sends GET path to app in env through the router and returns the
// status and body.
func (s *Stack) Get(ctx context.Context, env, app, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.RouterAddr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = s.Host(env, app)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// Host is the host name of app in env at the router.
func (s *Stack) Host(env, app string) string { return s.Router.Host(env, app) }

// RepoRoot finds the module root (the directory of the go.mod of
// github.com/spacepods/spacepods) from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/spacepods/spacepods\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("podstest: cannot find the spacepods repository root (go.mod) above the working directory")
		}
		dir = parent
	}
}

var images struct {
	mu   sync.Mutex
	done map[string]string // args → git SHA
}

// EnsureImages runs scripts/build-examples.sh for build number in mode ("" =
// normal) and apps (none = all), once per process per argument set, and
// returns the git SHA the images carry.
func EnsureImages(ctx context.Context, root string, number int, mode string, apps ...string) (string, error) {
	args := []string{"--build", fmt.Sprint(number)}
	if mode != "" {
		args = append(args, "--mode", mode)
	}
	args = append(args, apps...)
	key := strings.Join(args, " ")
	images.mu.Lock()
	defer images.mu.Unlock()
	if sha, ok := images.done[key]; ok {
		return sha, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "build-examples.sh"), args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("scripts/build-examples.sh %s: %v\n%s", key, err, out)
	}
	sha := ""
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(f[0], "spacepods-example/") {
			sha = f[1]
		}
	}
	if sha == "" {
		return "", fmt.Errorf("scripts/build-examples.sh %s: no image line in its output:\n%s", key, out)
	}
	if images.done == nil {
		images.done = map[string]string{}
	}
	images.done[key] = sha
	return sha, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
