package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

const testAppPackage = "github.com/spacepods/spacepods/internal/runtime/drivertest/testapp"

// TestAppBinary compiles testapp as a static Linux binary (CGO_ENABLED=0,
// host architecture) once per test process and returns it. A driver's test
// wraps it into an image with its own tools.
func TestAppBinary(t testing.TB) []byte {
	t.Helper()
	return testenv.GoBinary(t, testAppPackage)
}

// suite is what every conformance test gets.
type suite struct {
	d         runtime.Driver
	newDriver func(t *testing.T) runtime.Driver
	images    Images
	opts      Options
}

// ctx is a context for one driver call.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// env creates an environment with a unique name and destroys it when the
// test ends.
func (s *suite) env(t *testing.T, hint string) string {
	t.Helper()
	return s.envNamed(t, uniqueName(hint))
}

// envNamed creates the environment name and destroys it when the test ends.
func (s *suite) envNamed(t *testing.T, name string) string {
	t.Helper()
	if err := s.d.EnsureEnvironment(s.ctx(t), runtime.EnvSpec{Name: name, Labels: map[string]string{"spacepods.test": "drivertest"}}); err != nil {
		t.Fatalf("EnsureEnvironment(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.d.DestroyEnvironment(ctx, name); err != nil {
			t.Errorf("cleanup: DestroyEnvironment(%s): %v", name, err)
		}
	})
	return name
}

func uniqueName(hint string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "dt-" + hint + "-" + hex.EncodeToString(b)
}

// web is a one-replica web service of testapp with a /healthz probe.
func (s *suite) web(env, name string, vars map[string]string) runtime.ServiceSpec {
	return runtime.ServiceSpec{
		Name:        name,
		Environment: env,
		App:         name,
		Release:     1,
		Role:        runtime.RoleWeb,
		Image:       s.images.TestApp,
		Env:         vars,
		Port:        8080,
		Health:      runtime.HealthCheck{Path: "/healthz", Interval: 200 * time.Millisecond, Timeout: time.Second},
		Replicas:    1,
	}
}

// create creates a service and fails the test on error.
func (s *suite) create(t *testing.T, spec runtime.ServiceSpec) {
	t.Helper()
	if err := s.d.CreateService(s.ctx(t), spec); err != nil {
		t.Fatalf("CreateService(%s/%s): %v", spec.Environment, spec.Name, err)
	}
}

// healthy waits until a service has n replicas, all running and healthy.
func (s *suite) healthy(t *testing.T, env, name string, n int) runtime.ServiceStatus {
	t.Helper()
	return s.waitFor(t, env, name, "all of "+strconv.Itoa(n)+" replicas running and healthy", func(st runtime.ServiceStatus) bool {
		return st.Desired == n && len(st.Replicas) == n && st.Running == n && st.Healthy == n
	})
}

// waitFor polls ServiceStatus until ok holds, for at most 45 s.
func (s *suite) waitFor(t *testing.T, env, name, what string, ok func(runtime.ServiceStatus) bool) runtime.ServiceStatus {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last runtime.ServiceStatus
	var err error
	for time.Now().Before(deadline) {
		last, err = s.d.ServiceStatus(s.ctx(t), env, name)
		if err == nil && ok(last) {
			return last
		}
		time.Sleep(150 * time.Millisecond)
	}
	t.Fatalf("service %s/%s: gave up waiting for %s; last status: %s, error: %v", env, name, what, toJSON(last), err)
	return last
}

// get does an HTTP GET and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// wantCode fails the test unless err carries the Spacepods error code.
func wantCode(t *testing.T, err error, code, call string) {
	t.Helper()
	if got := spacepods.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (err %v), want %q", call, got, err, code)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
