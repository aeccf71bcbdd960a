package router

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/statefile"
)

// Default listeners of Run.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultControlListen = "127.0.0.1:8081"
)

// Files in the router's data dir.
const (
	TokenFile    = "router.token" // control API bearer token, shared with the control plane (0600)
	PIDFile      = "router.pid"   // pid of the running router
	InfoFile     = "router.info"  // JSON Info of the running router: pid and listener addresses
	SnapshotFile = "routes.json"  // the route table
)

// Config configures Run. Zero values take defaults: Listen DefaultListen,
// ControlListen DefaultControlListen, Domain "localhost", HealthInterval 1s,
// DrainTimeout 30s. DataDir is required.
type Config struct {
	Listen        string // proxy listener (host:port; port 0 picks one)
	ControlListen string // control API listener; must be a loopback address
	// InternalListen, when set, is where the apps' containers call their
	// dependencies (InternalHandler), e.g. the Docker bridge's gateway.
	InternalListen string
	DataDir        string // token, pid, info and route snapshot live here
	Domain         string
	HealthInterval time.Duration
	DrainTimeout   time.Duration
	Logger         *slog.Logger
}

// Run serves the router until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish (up to DrainTimeout) and removes
// its pid and info files. It writes the control token to <DataDir>/router.token
// (reusing an existing one), its pid to <DataDir>/router.pid and its addresses
// to <DataDir>/router.info. Returns ECONFLICT if a router already answers for
// DataDir, EINVALID for a bad config.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DataDir == "" {
		return spacepods.Errorf(spacepods.EINVALID, "router: a data dir is required (it holds the token and the route snapshot)")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.ControlListen == "" {
		cfg.ControlListen = DefaultControlListen
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	logger := cfg.Logger.With("component", "router")
	if err := requireLoopback(cfg.ControlListen); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("router: create data dir: %w", err)
	}
	if c, ok := Adopt(cfg.DataDir, ""); ok {
		return spacepods.Errorf(spacepods.ECONFLICT, "a router already answers for %s at %s: stop it first or adopt it", cfg.DataDir, c.Addr())
	}
	token, err := loadOrCreateToken(filepath.Join(cfg.DataDir, TokenFile))
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}

	r, err := New(Options{
		Domain:         cfg.Domain,
		HealthInterval: cfg.HealthInterval,
		DrainTimeout:   cfg.DrainTimeout,
		SnapshotPath:   filepath.Join(cfg.DataDir, SnapshotFile),
		Logger:         logger,
	})
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	defer func() { _ = r.Close() }() // best-effort cleanup; nothing useful to do on failure

	proxyLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "router: listen on %s: %v", cfg.Listen, err)
	}
	defer func() { _ = proxyLn.Close() }() // best-effort cleanup; nothing useful to do on failure
	controlLn, err := net.Listen("tcp", cfg.ControlListen)
	if err != nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "router: control API: listen on %s: %v", cfg.ControlListen, err)
	}
	defer func() { _ = controlLn.Close() }() // best-effort cleanup; nothing useful to do on failure
	var internalLn net.Listener
	if cfg.InternalListen != "" {
		internalLn, err = net.Listen("tcp", cfg.InternalListen)
		if err != nil {
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "router: internal listener: listen on %s: %v", cfg.InternalListen, err)
		}
		defer func() { _ = internalLn.Close() }() // best-effort cleanup; nothing useful to do on failure
	}

	// Restored targets get their first check before traffic is let in.
	wctx, cancel := context.WithTimeout(ctx, DefaultHealthTimeout)
	_ = r.WaitChecked(wctx)
	cancel()

	info := Info{PID: os.Getpid(), Listen: proxyLn.Addr().String(), Control: controlLn.Addr().String(), Domain: r.Domain()}
	if internalLn != nil {
		info.Internal = internalLn.Addr().String()
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	proxySrv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	controlSrv := &http.Server{
		Handler:           r.ControlHandler(token, info),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}
	internalSrv := &http.Server{
		Handler:           r.InternalHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	errc := make(chan error, 3)
	go func() { errc <- proxySrv.Serve(proxyLn) }()
	go func() { errc <- controlSrv.Serve(controlLn) }()
	if internalLn != nil {
		go func() { errc <- internalSrv.Serve(internalLn) }()
	}

	pidPath, infoPath := filepath.Join(cfg.DataDir, PIDFile), filepath.Join(cfg.DataDir, InfoFile)
	if err := statefile.WriteAtomic(pidPath, []byte(strconv.Itoa(info.PID)+"\n"), 0o644); err != nil {
		logger.Error("write pid file", "path", pidPath, "err", err)
	}
	infoJSON, _ := json.Marshal(info)
	if err := statefile.WriteAtomic(infoPath, append(infoJSON, '\n'), 0o644); err != nil {
		logger.Error("write info file", "path", infoPath, "err", err)
	}
	defer removeIfOurs(pidPath, infoPath, info.PID)
	logger.Info("router serving", "listen", info.Listen, "control", info.Control, "internal", info.Internal, "domain", info.Domain, "data_dir", cfg.DataDir, "pid", info.PID)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	logger.Info("router shutting down", "drain_timeout", cfg.DrainTimeout)
	sctx, scancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer scancel()
	_ = controlSrv.Shutdown(sctx)
	_ = internalSrv.Shutdown(sctx)
	if err := proxySrv.Shutdown(sctx); err != nil {
		logger.Warn("requests still running at the end of the drain timeout were cut", "err", err)
		_ = proxySrv.Close() // best-effort cleanup; nothing useful to do on failure
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("router: serve: %w", serveErr)
	}
	logger.Info("router stopped")
	return nil
}

// Adopt returns a client of the router already serving dataDir, if one
// answers with the token found there. controlAddr may be empty: then the
// address comes from <dataDir>/router.info, else DefaultControlListen. The
// control plane calls it before starting a router of its own, so that a
// restarted control plane takes over the running router instead of starting
// a second one. It waits at most two seconds.
func Adopt(dataDir, controlAddr string) (*Client, bool) {
	data, err := os.ReadFile(filepath.Join(dataDir, TokenFile))
	token := strings.TrimSpace(string(data))
	if err != nil || token == "" {
		return nil, false
	}
	if controlAddr == "" {
		controlAddr = DefaultControlListen
		if info, err := ReadInfo(dataDir); err == nil && info.Control != "" {
			controlAddr = info.Control
		}
	}
	c := NewClient(controlAddr, token)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Health(ctx); err != nil {
		return nil, false
	}
	return c, true
}

// ReadInfo reads <dataDir>/router.info, written by a running router. The file
// may be stale if that router was killed; Adopt checks that it answers.
func ReadInfo(dataDir string) (Info, error) {
	var info Info
	data, err := os.ReadFile(filepath.Join(dataDir, InfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return info, spacepods.Errorf(spacepods.ENOTFOUND, "no router has run from %s", dataDir)
	}
	if err != nil {
		return info, fmt.Errorf("read router info: %w", err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("read router info: %w", err)
	}
	return info, nil
}

// loadOrCreateToken reuses the token at path or writes a new random one.
func loadOrCreateToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(data)); t != "" {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				_ = os.Chmod(path, 0o600)
			}
			return t, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make token: %w", err)
	}
	t := hex.EncodeToString(b)
	if err := statefile.WriteAtomic(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return t, nil
}

// requireLoopback refuses a control listener reachable from other machines.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "router: control address %q must be host:port", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return spacepods.Errorf(spacepods.EINVALID,
		"router: the control API must listen on a loopback address (e.g. %s), not %q", DefaultControlListen, addr)
}

// removeIfOurs removes the pid and info files unless another router has
// written its own since.
func removeIfOurs(pidPath, infoPath string, pid int) {
	data, err := os.ReadFile(pidPath)
	if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
		return
	}
	_ = os.Remove(infoPath) // best-effort cleanup; nothing useful to do on failure
	_ = os.Remove(pidPath)  // best-effort cleanup; nothing useful to do on failure
}
