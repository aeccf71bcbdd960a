package server_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/testenv"
)

// TestImports_OnlyTheCLIImportsServer: the HTTP layer is a leaf that the
// composition root (internal/cli) wires; what others need of it (the error
// table, stream caps, output hiding) lives in internal/httpjson,
// internal/streams and internal/spacepods.
func TestImports_OnlyTheCLIImportsServer(t *testing.T) {
	goBin := testenv.RequireBinary(t, "go")
	out, err := exec.Command(goBin, "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const server = "github.com/spacepods/spacepods/internal/server"
	allowed := []string{"github.com/spacepods/spacepods/internal/cli"}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		checked++
		if slices.Contains(f[1:], server) && !slices.Contains(allowed, f[0]) {
			t.Errorf("%s imports internal/server: take what it needs from internal/httpjson, internal/streams or internal/spacepods", f[0])
		}
	}
	if checked < 10 {
		t.Fatalf("go list listed only %d packages:\n%s", checked, out)
	}
}
