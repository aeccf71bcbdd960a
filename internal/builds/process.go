package builds

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/statefile"
)

// Files of the registry's dir inside a Spacepods data dir.
const (
	// TokenFile keeps the bearer token registries send with their
	// notifications (0600, made once).
	TokenFile  = "notify.token"
	portFile   = "port"
	pidFile    = "registry.pid"
	configFile = "config.yml"
	logFile    = "registry.log"
)

// Dir is the registry's dir inside a Spacepods data dir: its config,
// storage (data/), port, notification token, pid and log.
func Dir(dataDir string) string { return filepath.Join(dataDir, "registry") }

// NotifyToken returns the notification token kept in the data dir, made
// (random, 0600) on first use. Every registry (embedded or not) sends it.
func NotifyToken(dataDir string) (string, error) {
	dir := Dir(dataDir)
	path := filepath.Join(dir, TokenFile)
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) >= 16 {
		return string(bytes.TrimSpace(b)), nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read the registry notification token: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tok := "spn_" + rand.Text()
	return tok, statefile.WriteAtomic(path, []byte(tok+"\n"), 0o600)
}

// ProcessOptions configure StartProcess.
type ProcessOptions struct {
	// Binary is docker-registry (distribution 2.8); "" = from PATH.
	Binary  string
	DataDir string
	// Port is --registry-port; 0 = the one kept in the registry's dir,
	// else a free one, kept there.
	Port int
	// NotifyURL is this server's POST /api/v1/hooks/registry; Token the
	// bearer token the registry sends there.
	NotifyURL, Token string
	Logger           *slog.Logger
}

// Process is the embedded registry StartProcess found or started.
type Process struct {
	Registry Registry // Host 127.0.0.1:PORT, plain HTTP, no login
	PID      int
	Adopted  bool
}

// StartProcess adopts the embedded registry already serving the data dir
// with the same config, or (re)starts docker-registry as its own process
// (own session: it outlives the server, like the edge router) with a
// config it writes: storage in the data dir, loopback address, and
// notifications to NotifyURL with the bearer token. EUNAVAILABLE when
// docker-registry is missing, its port is taken, or it does not come up.
func StartProcess(ctx context.Context, opts ProcessOptions) (*Process, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := Dir(opts.DataDir)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	port, err := keptPort(dir, opts.Port)
	if err != nil {
		return nil, err
	}
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p := &Process{Registry: Registry{Host: host, Insecure: true}}
	cfg := configYAML(dir, host, opts.NotifyURL, opts.Token)
	cfgPath := filepath.Join(dir, configFile)
	old, _ := os.ReadFile(cfgPath)
	pid := runningPID(dir)
	if pid > 0 && bytes.Equal(old, cfg) && answers(ctx, host) {
		logger.Info("adopted the running registry", "pid", pid, "host", host)
		p.PID, p.Adopted = pid, true
		return p, nil
	}
	if pid > 0 {
		// Its config changed (the API moved, a new port): restart it. A
		// registry restart stops no running app.
		logger.Info("restarting the registry with a new config", "pid", pid)
		stop(pid)
	}
	if err := statefile.WriteAtomic(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	bin := opts.Binary
	if bin == "" {
		if bin, err = exec.LookPath("docker-registry"); err != nil {
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the embedded registry needs docker-registry (distribution 2.8) on PATH: install Debian's docker-registry package, or point Spacepods at a registry with --registry HOST (docs/registry.md)")
		}
	}
	if ln, err := net.Listen("tcp", host); err != nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the embedded registry cannot listen on %s: %v: another program has it; choose another port with --registry-port", host, err)
	} else {
		_ = ln.Close() // only checking that it is free
	}
	logPath := filepath.Join(dir, logFile)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the child has its own descriptor
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the registry: %w", err)
	}
	p.PID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it if it dies; it outlives us otherwise
	if err := statefile.WriteAtomic(filepath.Join(dir, pidFile), []byte(strconv.Itoa(p.PID)+"\n"), 0o600); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for !answers(ctx, host) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the registry exited at start (%v): %s (log: %s)", err, lastLines(string(b), 3), logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the registry (pid %d) did not answer on %s within 15s: see %s", p.PID, host, logPath)
		}
	}
	logger.Info("started the registry", "pid", p.PID, "host", host, "storage", filepath.Join(dir, "data"), "log", logPath)
	return p, nil
}

// configYAML is the registry's config: loopback, storage in dir/data,
// deletes allowed (garbage collection), notifications to notifyURL.
func configYAML(dir, host, notifyURL, token string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by spacepods server at each start: edit the flags, not this file.\nversion: 0.1\n")
	fmt.Fprintf(&b, "log:\n  level: warn\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&b, "http:\n  addr: %s\n", host)
	if notifyURL != "" {
		// Retries every 500 ms for ever (threshold, backoff): a server
		// that is down gets the pushes when it is back.
		fmt.Fprintf(&b, "notifications:\n  endpoints:\n    - name: spacepods\n      url: %s\n      timeout: 5s\n      threshold: 3\n      backoff: 500ms\n", notifyURL)
		fmt.Fprintf(&b, "      headers:\n        Authorization: [\"Bearer %s\"]\n", token)
	}
	return []byte(b.String())
}

// keptPort returns the registry's port: the flag's, else the kept one, else
// a free one, kept.
func keptPort(dir string, flag int) (int, error) {
	return statefile.Port{Path: filepath.Join(dir, portFile), Host: "127.0.0.1", Flag: "--registry-port", What: "the registry"}.Get(flag)
}

// runningPID returns the pid in dir's pid file when that process is alive
// and is a docker-registry serving dir's config; else 0.
func runningPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(dir, configFile))) {
		return 0 // gone, or the pid was reused by another program
	}
	return pid
}

// stop ends the registry by its pid: SIGTERM, then SIGKILL after 5 s.
func stop(pid int) {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	_ = proc.Signal(syscall.SIGTERM)
	for range 100 {
		if proc.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = proc.Kill()
}

// answers reports whether a registry answers /v2/ on host.
func answers(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
