package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/pods/podstest"
)

// TestE2E_ProtectedEnvironmentWithTheCLI follows an admin and a developer
// through the CLI: the developer re-registers pricing-api with a migration
// (audited with the diff); `deploy --plan` shows the change and who made
// it; a plain deploy to the protected environment is refused with the
// plan; the developer can neither confirm, nor snapshot the environment,
// nor change its config; the admin's confirmed deploy runs.
func TestE2E_ProtectedEnvironmentWithTheCLI(t *testing.T) {
	s := newSite(t)
	s.start()
	s.registerExamples()
	prod := s.name("prod")
	s.mustCLI("env", "create", prod, "--protected")
	s.mustCLI("deploy", "pricing-api", "--env", prod, "--build", "1", "--wait")

	out := s.mustCLI("token", "create", "--name", "bob", "--role", "developer")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	bob := strings.TrimSpace(lines[len(lines)-1])
	asBob := func(args ...string) (string, error) { return s.cli(append(args, "--token", bob)...) }

	root, err := podstest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(filepath.Join(root, "examples", "pricing-api", "spacepods.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spacepods.yaml")
	if err := os.WriteFile(path, append(m, []byte("migrate: [\"/app\", \"version\"]\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := asBob("app", "register", "-f", path); err != nil {
		t.Fatalf("developer re-registers: %v\n%s", err, out)
	}
	if out := s.mustCLI("audit", "--limit", "5"); !strings.Contains(out, "app.update") || !strings.Contains(out, `migrate: (none) → ["/app","version"]`) {
		t.Errorf("audit lacks the re-registration's diff:\n%s", out)
	}

	plan := s.mustCLI("deploy", "pricing-api", "--env", prod, "--build", "1", "--plan")
	for _, want := range []string{`! migrate: (none) → ["/app","version"]`, "version 2 by bob", "--confirm-manifest-change 2"} {
		if !strings.Contains(plan, want) {
			t.Errorf("deploy --plan lacks %q:\n%s", want, plan)
		}
	}
	out, err = s.cli("deploy", "pricing-api", "--env", prod, "--build", "1")
	if err == nil || !strings.Contains(out, `migrate: (none) → ["/app","version"]`) || !strings.Contains(out, "--confirm-manifest-change 2") {
		t.Errorf("unconfirmed deploy: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"deploy", "pricing-api", "--env", prod, "--build", "1", "--confirm-manifest-change", "2"},
		{"snapshot", "create", prod, "pricing-api", "copy-" + s.suffix},
		{"config", "set", "pricing-api", "GREETING=hi", "--env", prod},
		{"config", "set", "pricing-api", "GREETING=hi"},
	} {
		if out, err := asBob(args...); err == nil || !strings.Contains(out, "admin") {
			t.Errorf("developer: spacepods %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out = s.mustCLI("deploy", "pricing-api", "--env", prod, "--build", "1", "--confirm-manifest-change", "2", "--wait")
	if !strings.Contains(out, "completed") || !strings.Contains(out, "confirmed by") {
		t.Errorf("confirmed deploy:\n%s", out)
	}
}
