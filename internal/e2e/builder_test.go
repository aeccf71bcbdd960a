package e2e

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/builds/builder/buildertest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestE2E_BuilderSurvivesAServerKill runs the real binary with --registry:
// a build job is SIGKILLed mid-way, the restarted server marks it failed
// with the reason, the job queued behind it then runs from the same git
// cache, and `build run --follow` records a build.
func TestE2E_BuilderSurvivesAServerKill(t *testing.T) {
	testenv.RequireDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	repo := buildertest.NewRepo(t)
	repo.HelloApp("small")
	repo.Git("branch", "small")
	// main gets a large payload, so that its build is still running when
	// the server is killed.
	big := make([]byte, 48<<20)
	_, _ = rand.Read(big)
	repo.Write(map[string][]byte{"big.bin": big})
	repo.Commit("big")

	s := newBareSite(t)
	s.args = []string{"--runtime", "none", "--registry", reg.Host}
	s.start()
	defer s.kill()
	manifest := filepath.Join(t.TempDir(), "spacepods.yaml")
	if err := os.WriteFile(manifest, []byte("name: hello\nrepo: acme/hello\nkind: worker\nbuild: {git: \""+repo.URL()+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustCLI("app", "register", "-f", manifest)
	s.mustCLI("build", "run", "hello")                   // job 1: main, big
	s.mustCLI("build", "run", "hello", "--ref", "small") // job 2: queued behind it
	c := s.client()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := c.GetBuildJob(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == spacepods.JobRunning {
			break
		}
		if j.Done() || time.Now().After(deadline) {
			t.Fatalf("job 1 is %s, not running", j.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	s.start()

	j1, err := c.GetBuildJob(ctx, 1)
	if err != nil || j1.Status != spacepods.JobFailed || j1.Error != builder.InterruptedReason || j1.BuildNumber != 0 {
		t.Fatalf("the interrupted job: %+v %v", j1, err)
	}
	out := s.mustCLI("build", "log", "2", "-f")
	if !strings.Contains(out, "build 1 of hello recorded: "+reg.Host+"/hello:1 (small@") {
		t.Fatalf("the queued job after the restart:\n%s\nserver log:\n%s", out, s.logs())
	}
	out = s.mustCLI("build", "run", "hello", "--follow")
	if !strings.Contains(out, "fetching "+repo.URL()) || !strings.Contains(out, "build 2 of hello recorded") {
		t.Fatalf("a build of main after the restart, from the cache:\n%s", out)
	}
	if out := s.mustCLI("build", "list", "hello"); !strings.Contains(out, "small") || !strings.Contains(out, "main") {
		t.Fatalf("builds:\n%s", out)
	}
}
