// Package e2e runs the real spacepods binary — server, edge router process,
// CLI — against a real Docker daemon and PostgreSQL, the way a user does.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/spacepods once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := podstest.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "spacepods-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "spacepods")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/spacepods")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// site is one installation: a data dir and its ports.
type site struct {
	t       *testing.T
	bin     string
	dataDir string
	api     string // 127.0.0.1:port
	router  string // 127.0.0.1:port
	control string
	pgURL   string
	extra   []string // extra env for the server
	args    []string // extra server flags
	suffix  string   // makes this site's environment names unique on a shared Docker host
	server  *exec.Cmd
	log     *bytes.Buffer
	logMu   sync.Mutex
}

func newSite(t *testing.T, extraEnv ...string) *site {
	testenv.RequireDocker(t)
	s := newBareSite(t)
	s.extra = extraEnv
	root, err := podstest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := podstest.EnsureImages(ctx, root, 1, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.teardown)
	return s
}

// newBareSite is a site whose server runs on no runtime in particular
// (add its flags to args); it is torn down at the end of the test.
func newBareSite(t *testing.T) *site {
	s := &site{t: t, bin: binary(t), dataDir: t.TempDir(), pgURL: testenv.PostgresURL(t),
		api: "127.0.0.1:" + freePort(t), router: "127.0.0.1:" + freePort(t), control: "127.0.0.1:" + freePort(t), log: &bytes.Buffer{},
		suffix: fmt.Sprintf("%04x", time.Now().UnixNano()&0xffff)}
	// Only what was started in its own data dir: a test may point the site
	// at another site's data dir, whose processes are not its to stop.
	own := s.dataDir
	t.Cleanup(func() { stopProcessesIn(own) })
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// hermeticEnv is this process's environment without SPACEPODS_*
// variables: a token or server exported in the shell that runs the tests
// must not point the site's server and CLI elsewhere.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPACEPODS_") {
			env = append(env, kv)
		}
	}
	return env
}

// start runs `spacepods server` and waits until it answers.
func (s *site) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "server", "--data-dir", s.dataDir, "--listen", s.api,
		"--router-listen", s.router, "--router-control", s.control, "--postgres-admin-url", s.pgURL, "--reap-interval", "1s", "--log-level", "debug")
	cmd.Args = append(cmd.Args, s.args...)
	cmd.Env = append(hermeticEnv(), s.extra...)
	cmd.Stdout = lockedWriter{&s.logMu, s.log}
	cmd.Stderr = lockedWriter{&s.logMu, s.log}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.server = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.api + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("server did not answer within 60s; its log:\n%s", s.logs())
}

// runUntilExit runs `spacepods server` for a site that is expected to fail
// at start, and returns its output and exit error (killed after max).
func (s *site) runUntilExit(max time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), max)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, "server", "--data-dir", s.dataDir, "--listen", s.api,
		"--router-listen", s.router, "--router-control", s.control, "--postgres-admin-url", s.pgURL)
	cmd.Args = append(cmd.Args, s.args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), nil // still running: it did not fail
	}
	return string(out), err
}

// kill SIGKILLs the server (the router, its own process, keeps serving).
func (s *site) kill() {
	s.t.Helper()
	if s.server == nil {
		return
	}
	s.server.Process.Signal(syscall.SIGKILL)
	s.server.Wait()
	s.server = nil
}

func (s *site) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

func (s *site) client() *client.Client {
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "admin.token"))
	if err != nil {
		s.t.Fatal(err)
	}
	return client.New("http://"+s.api, strings.TrimSpace(string(tok)))
}

// cli runs the spacepods CLI against this site and returns its output.
func (s *site) cli(args ...string) (string, error) {
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(hermeticEnv(), "SPACEPODS_SERVER=http://"+s.api, "SPACEPODS_DATA_DIR="+s.dataDir)
	root, _ := podstest.RepoRoot()
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *site) mustCLI(args ...string) string {
	s.t.Helper()
	out, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("spacepods %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// registerExamples registers the example apps and records build 1 of each.
func (s *site) registerExamples() {
	s.t.Helper()
	for _, app := range podstest.ExampleApps {
		s.mustCLI("app", "register", "-f", filepath.Join("examples", app, "spacepods.yaml"))
		s.mustCLI("build", "record", app, "--number", "1", "--image", podstest.Image(app, 1), "--sha", "abcdef1", "--branch", "main")
	}
}

// name makes an environment name unique to this site.
func (s *site) name(base string) string { return base + "-" + s.suffix }

// get fetches path of app in env through the edge router.
func (s *site) get(env, app, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", "http://"+s.router+path, nil)
	req.Host = app + "." + env + ".localhost"
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// teardown removes every environment of this site, checks nothing leaked,
// and stops the server and the router it started.
func (s *site) teardown() {
	if s.server == nil {
		s.start()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := s.client()
	all := []client.Environment{}
	if ps, err := c.ListPods(ctx); err == nil {
		all = append(all, ps...)
	}
	if es, err := c.ListEnvironments(ctx); err == nil {
		all = append(all, es...)
	}
	for _, e := range all {
		c.DestroyPod(ctx, e.Name)
	}
	for _, e := range all {
		for ctx.Err() == nil {
			if _, err := c.GetPod(ctx, e.Name); err != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The leak audit sees the whole Docker host and PostgreSQL server, where
	// other tests may run at the same time: judge only this site's names.
	leaks, err := c.Leaks(ctx, false)
	if err != nil {
		s.t.Errorf("leak audit: %v", err)
	}
	for _, l := range leaks {
		if strings.HasSuffix(l.Environment, "-"+s.suffix) {
			s.t.Errorf("after destroying everything, this site leaked: %+v", l)
		}
	}
	s.kill()
	stopProcessesIn(s.dataDir)
}

// stopProcessesIn stops the edge router and the embedded registry that a
// server started for dataDir: they outlive it (own sessions).
func stopProcessesIn(dataDir string) {
	for _, pidFile := range []string{filepath.Join("router", "router.pid"), filepath.Join("registry", "registry.pid")} {
		path := filepath.Join(dataDir, pidFile)
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
			}
			os.Remove(path) // signalled once: never a pid reused since
		}
	}
}

// load is constant GET traffic through the router, bounded in time and
// count; it stops by itself.
type load struct {
	mu       sync.Mutex
	ok, fail int
	failures []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func (s *site) startLoad(env, app, path string, workers int, max time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	deadline := time.Now().Add(max)
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; n < 100000 && time.Now().Before(deadline); n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				status, body, err := s.get(env, app, path)
				l.mu.Lock()
				if err != nil || status != 200 {
					l.fail++
					if len(l.failures) < 5 {
						l.failures = append(l.failures, fmt.Sprintf("%s: %d %v %.200s", time.Now().Format("15:04:05.000"), status, err, body))
					}
				} else {
					l.ok++
				}
				l.mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) finish() (int, int, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.ok, l.fail, l.failures
}

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
