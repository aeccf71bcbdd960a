package router

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestStartProcess_TakenAddressNamesItsFlagBeforeStarting: a taken address
// fails at once with the flag that moves it, and no router process is
// started (the executable does not exist, so starting one would fail
// differently).
func TestStartProcess_TakenAddressNamesItsFlagBeforeStarting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())
	port, _ := strconv.Atoi(takenPort)
	tests := []struct {
		name string
		opts ProcessOptions
		flag string
	}{
		{"proxy", ProcessOptions{Listen: taken.Addr().String(), Control: free()}, "--router-listen"},
		{"control API", ProcessOptions{Listen: free(), Control: taken.Addr().String()}, "--router-control"},
		{"internal listener", ProcessOptions{Listen: free(), Control: free(), Gateway: "127.0.0.1", InternalPort: port}, "--router-internal-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Executable = filepath.Join(t.TempDir(), "no-such-spacepods")
			tt.opts.DataDir = t.TempDir()
			start := time.Now()
			_, err := StartProcess(context.Background(), tt.opts)
			if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
				t.Fatalf("want EUNAVAILABLE, got %v", err)
			}
			for _, want := range []string{taken.Addr().String(), tt.flag} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("took %s to fail; want at once", took)
			}
		})
	}
}

// TestStartProcess_KeepsTheInternalPortInItsDir: the internal listener's
// port is chosen once and kept in Dir(dataDir)/internal.port, so apps'
// dependency URLs survive restarts; the flag overrides and replaces it.
func TestStartProcess_KeepsTheInternalPortInItsDir(t *testing.T) {
	dir := t.TempDir()
	first, err := internalPort(dir, "127.0.0.1", 0)
	if err != nil || first <= 0 {
		t.Fatalf("first start: port %d, %v", first, err)
	}
	again, err := internalPort(dir, "127.0.0.1", 0)
	if err != nil || again != first {
		t.Fatalf("second start: port %d, %v; want the kept %d", again, err, first)
	}
	b, err := os.ReadFile(filepath.Join(dir, InternalPortFile))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(first) {
		t.Fatalf("%s holds %q (%v); want %d", InternalPortFile, b, err, first)
	}
	if p, err := internalPort(dir, "127.0.0.1", 18123); err != nil || p != 18123 {
		t.Fatalf("with the flag: port %d, %v", p, err)
	}
	if p, _ := internalPort(dir, "127.0.0.1", 0); p != 18123 {
		t.Fatalf("after the flag: port %d; want the flag's 18123 kept", p)
	}
	if _, err := internalPort(dir, "127.0.0.1", 70000); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "--router-internal-port") {
		t.Fatalf("port 70000: want EINVALID naming the flag, got %v", err)
	}
}

// processChildEnv makes the test binary act as `spacepods router` (see
// TestMain), so StartProcess can start a real router process in tests.
const processChildEnv = "SPACEPODS_ROUTER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(processChildEnv) == "1" {
		os.Exit(runChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runChild serves a router from the arguments StartProcess gives
// `spacepods router` until it is signalled.
func runChild(args []string) int {
	if len(args) == 0 || args[0] != "router" {
		return 2
	}
	cfg := Config{}
	for i := 1; i+1 < len(args); i += 2 {
		switch v := args[i+1]; args[i] {
		case "--data-dir":
			cfg.DataDir = Dir(v)
		case "--listen":
			cfg.Listen = v
		case "--control":
			cfg.ControlListen = v
		case "--domain":
			cfg.Domain = v
		case "--internal-listen":
			cfg.InternalListen = v
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestStartProcess_StartsThenAdopts: the first call starts a router
// process that answers on its control API, with the internal listener on
// the gateway; the second adopts that same router instead of starting one.
func TestStartProcess_StartsThenAdopts(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(processChildEnv, "1")
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	opts := ProcessOptions{Executable: exe, DataDir: t.TempDir(), Listen: free(), Control: free(), Domain: "test.local", Gateway: "127.0.0.1"}
	ctx := context.Background()
	first, err := StartProcess(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := first.Client.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p, err := os.FindProcess(info.PID); err == nil {
			p.Signal(syscall.SIGTERM)
		}
	})
	if info.Internal == "" || info.Internal != first.Internal {
		t.Fatalf("the router's internal listener is at %q; StartProcess says %q", info.Internal, first.Internal)
	}
	second, err := StartProcess(ctx, opts)
	if err != nil {
		t.Fatalf("a second start did not adopt the running router: %v", err)
	}
	again, err := second.Client.Info(ctx)
	if err != nil || again.PID != info.PID || second.Internal != first.Internal {
		t.Fatalf("second start: router pid %d (%v), internal %q; want the adopted pid %d, internal %q", again.PID, err, second.Internal, info.PID, first.Internal)
	}
}
