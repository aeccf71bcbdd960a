package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// InternalPortFile, in the router's dir, keeps the port of the internal
// listener chosen at first start: apps' <DEP>_URL carry it, so it must
// survive restarts.
const InternalPortFile = "internal.port"

// Dir is the router's own dir inside a Spacepods data dir: token, pid,
// info, route snapshot, internal port and log live there.
func Dir(dataDir string) string { return filepath.Join(dataDir, "router") }

// ProcessOptions configure StartProcess. The error messages name the
// `spacepods server` flags that set each address.
type ProcessOptions struct {
	// Executable is a spacepods binary: the router runs as
	// `<Executable> router --data-dir DataDir ...`.
	Executable string
	DataDir    string // the Spacepods data dir; the router's is Dir(DataDir)
	Listen     string // proxy (--router-listen)
	Control    string // control API (--router-control)
	Domain     string
	// Gateway, when set (Docker: the default bridge's gateway), is the
	// host of the internal listener, where the apps' containers call their
	// dependencies; its port is InternalPort, else the one kept in
	// Dir(DataDir)/internal.port, else a free one, kept there.
	Gateway      string
	InternalPort int // --router-internal-port; 0 = as above
	Logger       *slog.Logger
}

// Process is the running edge router StartProcess found or started.
type Process struct {
	Client *Client // its control API
	// Internal is where its internal listener is meant to be ("" without
	// a Gateway). A router adopted from before may have none there: its
	// Info.Internal says where it has one.
	Internal string
}

// StartProcess adopts the router already serving opts.DataDir or starts one
// as its own process (own session: it outlives the caller, so restarting
// the control plane never drops traffic). Before starting, it checks that
// every address is free and says which flag moves a taken one.
// EUNAVAILABLE for a taken address or a router that does not come up;
// EINVALID for a bad InternalPort.
func StartProcess(ctx context.Context, opts ProcessOptions) (*Process, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := Dir(opts.DataDir)
	if c, ok := Adopt(dir, opts.Control); ok {
		logger.Info("adopted the running edge router", "control", c.Addr())
		p := &Process{Client: c}
		if opts.Gateway != "" {
			if port, err := internalPort(dir, opts.Gateway, opts.InternalPort); err == nil {
				p.Internal = net.JoinHostPort(opts.Gateway, strconv.Itoa(port))
			}
		}
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &Process{}
	if opts.Gateway != "" {
		port, err := internalPort(dir, opts.Gateway, opts.InternalPort)
		if err != nil {
			return nil, err
		}
		p.Internal = net.JoinHostPort(opts.Gateway, strconv.Itoa(port))
	}
	// Say which port is taken and which flag moves it, before starting a
	// process that would only fail on it.
	for _, l := range []struct{ addr, flag, what string }{
		{opts.Listen, "--router-listen", "the edge router's proxy"},
		{opts.Control, "--router-control", "the edge router's control API"},
		{p.Internal, "--router-internal-port", "the edge router's internal listener (apps calling their dependencies)"},
	} {
		if err := portFree(l.addr); err != nil {
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "%s cannot listen on %s: %v: another program (another Spacepods server?) has it; choose another address with %s", l.what, l.addr, err, l.flag)
		}
	}
	logPath := filepath.Join(dir, "router.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // best-effort cleanup; nothing useful to do on failure
	start, _ := logf.Seek(0, 2)
	args := []string{"router", "--data-dir", opts.DataDir, "--listen", opts.Listen, "--control", opts.Control, "--domain", opts.Domain}
	if p.Internal != "" {
		args = append(args, "--internal-listen", p.Internal)
	}
	cmd := exec.Command(opts.Executable, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the edge router: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it if it dies; it outlives us otherwise
	const wait = 15 * time.Second
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if c, ok := Adopt(dir, opts.Control); ok {
			logger.Info("started the edge router", "pid", pid, "listen", opts.Listen, "control", c.Addr(), "internal", p.Internal, "log", logPath)
			p.Client = c
			return p, nil
		}
		select {
		case err := <-exited:
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the edge router exited at start (%v): %s (log: %s)", err, logSince(logPath, start), logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the edge router (pid %d) did not answer on %s within %s: see %s", pid, opts.Control, wait, logPath)
}

// internalPort returns the port of the router's internal listener: the flag's
// when set, else the one kept in dir, else a free one on gateway, which it
// keeps in dir.
func internalPort(dir, gateway string, flag int) (int, error) {
	return statefile.Port{Path: filepath.Join(dir, InternalPortFile), Host: gateway, Flag: "--router-internal-port",
		What: "the edge router's internal listener (on the Docker bridge's gateway)"}.Get(flag)
}

// portFree reports whether addr can be listened on now ("" is free).
func portFree(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var se *os.SyscallError
		if errors.As(err, &se) {
			return se.Err
		}
		return err
	}
	return ln.Close()
}

// logSince returns the last lines a process wrote to path after offset.
func logSince(path string, offset int64) string {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < offset {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(data[offset:])), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
