// Package testenv gives tests the real systems they need. A helper skips the
// test when the system is missing on a laptop, but FAILS it when the CI
// variable is set: a green CI must mean the real thing ran.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// InCI reports whether the CI variable is set.
func InCI() bool { return os.Getenv("CI") != "" }

// Missing skips t outside CI and fails it inside CI.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI but missing: %s", what, how)
	}
	t.Skipf("%s missing (%s); skipping outside CI", what, how)
}

// RequireDocker makes sure a Docker daemon answers.
func RequireDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Run(); err != nil {
		Missing(t, "Docker daemon", "run scripts/test.sh, which installs docker.io and starts dockerd")
	}
}

// PostgresURL returns the admin URL of the test PostgreSQL server from
// SPACEPODS_TEST_POSTGRES (scripts/test.sh starts one and sets it).
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("SPACEPODS_TEST_POSTGRES")
	if u == "" {
		Missing(t, "PostgreSQL (SPACEPODS_TEST_POSTGRES)", "run scripts/test.sh, which starts a throwaway cluster and sets it")
	}
	return u
}

// RequireBinary makes sure a program is on PATH and returns its path.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "install it (scripts/test.sh installs what the tests need)")
	}
	return p
}

// Kubeconfig returns the kubeconfig of the Kubernetes test cluster that
// scripts/k8s-cluster.sh started (SPACEPODS_TEST_KUBECONFIG).
func Kubeconfig(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SPACEPODS_TEST_KUBECONFIG")
	if path == "" {
		Missing(t, "Kubernetes test cluster (SPACEPODS_TEST_KUBECONFIG)",
			"run scripts/test.sh, or `scripts/k8s-cluster.sh start` and export the line it prints")
	}
	return path
}
