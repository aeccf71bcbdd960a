package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RegistryOptions configures a test registry.
type RegistryOptions struct {
	// NotifyURL, when set, is the registry's notification endpoint (e.g. a
	// test server's /api/v1/hooks/registry); NotifyToken is sent as
	// "Authorization: Bearer <token>" with every notification.
	NotifyURL   string
	NotifyToken string
}

// Registry is a real OCI registry (Debian's docker-registry, distribution
// 2.8) on loopback, with its storage in a temporary directory.
type Registry struct {
	// Host is "127.0.0.1:PORT": image references are Host + "/repo:tag".
	// Docker Engine treats 127.0.0.0/8 registries as plain-HTTP ones.
	Host string
	// URL is "http://" + Host.
	URL string
}

// StartRegistry starts a registry for the test and stops it when the test
// ends. It skips (fails in CI) when docker-registry is not installed.
func StartRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		Missing(t, "docker-registry", "install Debian's docker-registry package (scripts/test.sh does it)")
	}
	dir := t.TempDir()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatalf("registry: no free port: %v", err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n")
	fmt.Fprintf(&cfg, "storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&cfg, "http:\n  addr: %s\n", host)
	if opts.NotifyURL != "" {
		fmt.Fprintf(&cfg, "notifications:\n  endpoints:\n    - name: test\n      url: %s\n      timeout: 2s\n      threshold: 3\n      backoff: 200ms\n", opts.NotifyURL)
		if opts.NotifyToken != "" {
			fmt.Fprintf(&cfg, "      headers:\n        Authorization: [\"Bearer %s\"]\n", opts.NotifyToken)
		}
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("registry: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("docker-registry log:\n%s", b)
			}
		}
	})
	r := &Registry{Host: host, URL: "http://" + host}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(r.URL + "/v2/") //nolint:gosec // loopback test registry
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("docker-registry exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s did not answer /v2/ within 15s (last error: %v)", host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
