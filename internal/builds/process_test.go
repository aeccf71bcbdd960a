package builds_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestStartProcess_StartsAdoptsAndRestartsOnANewConfig: the embedded
// registry starts as its own process with a config in the data dir, a
// second start adopts it, a changed notification endpoint restarts it on
// the same port, and its pushes are notified with the bearer token.
func TestStartProcess_StartsAdoptsAndRestartsOnANewConfig(t *testing.T) {
	testenv.RequireBinary(t, "docker-registry")
	ctx := t.Context()
	dataDir := t.TempDir()
	t.Cleanup(func() { stopByPIDFile(dataDir) })

	token, err := builds.NotifyToken(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(builds.Dir(dataDir), builds.TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, fi.Mode())
	}
	if again, _ := builds.NotifyToken(dataDir); again != token {
		t.Fatal("the notification token changed between calls: registries configured with it would be refused")
	}

	var authorized, refused atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+token {
			authorized.Add(1)
		} else {
			refused.Add(1)
		}
	}))
	t.Cleanup(hook.Close)

	opts := builds.ProcessOptions{DataDir: dataDir, NotifyURL: "http://127.0.0.1:9/api/v1/hooks/registry", Token: token}
	first, err := builds.StartProcess(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Adopted || first.PID == 0 || !strings.HasPrefix(first.Registry.Host, "127.0.0.1:") {
		t.Fatalf("first start: %+v", first)
	}
	cfg, _ := os.ReadFile(filepath.Join(builds.Dir(dataDir), "config.yml"))
	if !strings.Contains(string(cfg), filepath.Join(builds.Dir(dataDir), "data")) || !strings.Contains(string(cfg), "Bearer "+token) {
		t.Fatalf("config.yml:\n%s", cfg)
	}

	second, err := builds.StartProcess(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Adopted || second.PID != first.PID || second.Registry != first.Registry {
		t.Fatalf("second start did not adopt %+v: %+v", first, second)
	}

	opts.NotifyURL = hook.URL + "/api/v1/hooks/registry"
	third, err := builds.StartProcess(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if third.Adopted || third.PID == first.PID || third.Registry.Host != first.Registry.Host {
		t.Fatalf("a new endpoint must restart the registry on its kept port: first %+v, third %+v", first, third)
	}
	if syscall.Kill(first.PID, 0) == nil {
		t.Fatalf("the registry with the old config (pid %d) still runs", first.PID)
	}

	h := &hookStack{reg: &testenv.Registry{Host: third.Registry.Host, URL: "http://" + third.Registry.Host}}
	h.push(t, "web", "1", nil)
	deadline := time.Now().Add(20 * time.Second)
	for authorized.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no notification with the bearer token within 20s (%d without it)", refused.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if refused.Load() != 0 {
		t.Fatalf("%d notifications came without the token", refused.Load())
	}
}

// stopByPIDFile stops the registry a test started, by its pid.
func stopByPIDFile(dataDir string) {
	b, err := os.ReadFile(filepath.Join(builds.Dir(dataDir), "registry.pid"))
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
