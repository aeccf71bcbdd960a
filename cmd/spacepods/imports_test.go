package main

import (
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/testenv"
)

const module = "github.com/spacepods/spacepods/"

// goList runs `go list args...` at the module root and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goBin := testenv.RequireBinary(t, "go")
	cmd := exec.Command(goBin, append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestImports_ServerBinaryLinksNoTestHelpers: test helpers (the testing
// package, testenv, the *test packages) live in _test files or packages of
// their own that only tests import, so the binary carries none of them.
func TestImports_ServerBinaryLinksNoTestHelpers(t *testing.T) {
	deps := goList(t, "-deps", "./cmd/spacepods")
	if len(deps) < 10 {
		t.Fatalf("go list -deps ./cmd/spacepods found only %v", deps)
	}
	var bad []string
	for _, d := range deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") || d == module+"internal/testenv" ||
			strings.HasPrefix(d, module) && strings.HasSuffix(d, "test") {
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("the spacepods binary links test code: %v; move test helpers into a _test.go file or a <pkg>test package", bad)
	}
}

// TestImports_OnlyTheCLIImportsTheServer: internal/server is the HTTP layer
// over the domain services; only the composition root (internal/cli) builds
// it. Anything else that needs what it holds takes it from a package below.
func TestImports_OnlyTheCLIImportsTheServer(t *testing.T) {
	const server = module + "internal/server"
	var importers []string
	for _, line := range goList(t, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if imp == server {
				importers = append(importers, strings.TrimPrefix(fields[0], module))
			}
		}
	}
	sort.Strings(importers)
	if len(importers) == 0 {
		t.Fatal("no package imports internal/server: is go list reading the module?")
	}
	for _, p := range importers {
		if p != "internal/cli" {
			t.Errorf("%s imports internal/server; only internal/cli may (the composition root)", p)
		}
	}
}
