package client_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/testenv"
)

// TestClient_LinksOnlyTheDomain keeps the public client light: it may use
// the domain vocabulary (internal/spacepods) and the JSON-over-HTTP helper
// (internal/httpjson), nothing else of the module and no database driver.
func TestClient_LinksOnlyTheDomain(t *testing.T) {
	goBin := testenv.RequireBinary(t, "go")
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/spacepods/spacepods/"
	allowed := map[string]bool{
		module + "client":             true,
		module + "internal/spacepods": true,
		module + "internal/httpjson":  true,
	}
	deps := strings.Fields(string(out))
	for _, p := range deps {
		switch {
		case strings.HasPrefix(p, module) && !allowed[p]:
			t.Errorf("client links %s: move what it needs into internal/spacepods", p)
		case strings.Contains(p, "jackc/pgx"), strings.Contains(p, "sqlite"), strings.Contains(p, "lib/pq"):
			t.Errorf("client links the database driver %s", p)
		}
	}
	if !strings.Contains(string(out), module+"internal/spacepods") {
		t.Errorf("go list -deps did not list internal/spacepods; its output:\n%s", out)
	}
	t.Logf("client links %d packages", len(deps))
}
