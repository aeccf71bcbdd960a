package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func routerDir(dataDir string) string { return filepath.Join(dataDir, "router") }

// internalPortFile keeps the port of the router's internal listener chosen at
// first start: apps' <DEP>_URL carry it, so it must survive restarts.
const internalPortFile = "internal.port"

// startRouter adopts the router already serving dataDir or starts
// `spacepods router` as its own process (own session: it outlives us).
// gateway, when set (Docker), is where the router's internal listener goes;
// rc.internal is set to its address.
func startRouter(ctx context.Context, dataDir string, rc *routerConfig, gateway string, logger *slog.Logger) (*router.Client, error) {
	dir := routerDir(dataDir)
	if c, ok := router.Adopt(dir, rc.control); ok {
		logger.Info("adopted the running edge router", "control", c.Addr())
		if gateway != "" {
			if port, err := internalPort(dir, gateway, rc.internalPort); err == nil {
				rc.internal = net.JoinHostPort(gateway, strconv.Itoa(port))
			}
		}
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if gateway != "" {
		port, err := internalPort(dir, gateway, rc.internalPort)
		if err != nil {
			return nil, err
		}
		rc.internal = net.JoinHostPort(gateway, strconv.Itoa(port))
	}
	// Say which port is taken and which flag moves it, before starting a
	// process that would only fail on it.
	for _, l := range []struct{ addr, flag, what string }{
		{rc.listen, "--router-listen", "the edge router's proxy"},
		{rc.control, "--router-control", "the edge router's control API"},
		{rc.internal, "--router-internal-port", "the edge router's internal listener (apps calling their dependencies)"},
	} {
		if err := portFree(l.addr); err != nil {
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "%s cannot listen on %s: %v: another program (another Spacepods server?) has it; choose another address with %s", l.what, l.addr, err, l.flag)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "router.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	start, _ := logf.Seek(0, 2)
	args := []string{"router", "--data-dir", dataDir, "--listen", rc.listen, "--control", rc.control, "--domain", rc.domain}
	if rc.internal != "" {
		args = append(args, "--internal-listen", rc.internal)
	}
	cmd := exec.Command(exe, args...)
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
		if c, ok := router.Adopt(dir, rc.control); ok {
			logger.Info("started the edge router", "pid", pid, "listen", rc.listen, "control", c.Addr(), "internal", rc.internal, "log", logPath)
			return c, nil
		}
		select {
		case err := <-exited:
			return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the edge router exited at start (%v): %s (log: %s)", err, logSince(logPath, start), logPath)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the edge router (pid %d) did not answer on %s within %s: see %s", pid, rc.control, wait, logPath)
}

// internalPort returns the port of the router's internal listener: the flag's
// when set, else the one kept in dir, else a free one on gateway, which it
// keeps in dir.
func internalPort(dir, gateway string, flag int) (int, error) {
	if flag < 0 || flag > 65535 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "--router-internal-port %d: use a port from 1 to 65535, or 0 for a free one", flag)
	}
	path := filepath.Join(dir, internalPortFile)
	if flag > 0 {
		return flag, writeFileAtomic(path, []byte(strconv.Itoa(flag)+"\n"))
	}
	data, err := os.ReadFile(path)
	if err == nil {
		if port, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && port > 0 && port < 65536 {
			return port, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read the router's internal port: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		return 0, spacepods.Errorf(spacepods.EUNAVAILABLE, "no free port on the Docker bridge's gateway %s for the edge router's internal listener: %v", gateway, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port, writeFileAtomic(path, []byte(strconv.Itoa(port)+"\n"))
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

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// lockDataDir makes sure only one server uses dataDir: they would share its
// SQLite store, router and PostgreSQL cluster. The lock lasts as long as the
// returned file stays open (the process's life).
func lockDataDir(dataDir, listen string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data dir: %w", err)
	}
	path := filepath.Join(dataDir, "server.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		abs, _ := filepath.Abs(dataDir)
		return nil, spacepods.Errorf(spacepods.ECONFLICT, "the data dir %s is in use by another Spacepods server (%s): give this server its own --data-dir (and its own --listen, --router-listen and --router-control)", abs, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d, API on %s", os.Getpid(), listen)
	return f, nil
}
