package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/builds/builder/buildertest"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestCLI_BuildRunFollowJobsAndLog builds with the real builder through the
// CLI: run --follow prints the queue, the steps and the push and ends with
// the recorded build; a bad ref exits non-zero saying why; jobs and log
// show what happened.
func TestCLI_BuildRunFollowJobsAndLog(t *testing.T) {
	testenv.RequireDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	repo := buildertest.NewRepo(t)
	sha := repo.HelloApp("first")
	ctx, cancel := context.WithCancel(context.Background())
	var b *builder.Builder
	s := startAPIWith(t, func(srv *server.Server) {
		if b, err = builder.New(builder.Config{Store: srv.Store, Docker: dc, Registry: builds.Registry{Host: reg.Host}, DataDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		srv.Builder = b
	})
	defer func() { cancel(); b.Wait() }()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.must(t, spacepods.RoleDeveloper, "app", "register", "-f", s.manifest(t, "hello", "name: hello\nrepo: acme/hello\nkind: worker\nbuild: {git: \""+repo.URL()+"\"}\n"))

	out := s.must(t, spacepods.RoleDeveloper, "build", "run", "hello", "--follow")
	for _, want := range []string{"build job 1 of hello (default branch)", "Step 1/4 : FROM scratch", "pushing " + reg.Host + "/hello:1",
		"build 1 of hello recorded: " + reg.Host + "/hello:1 (main@" + sha[:7] + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("build run --follow lacks %q:\n%s", want, out)
		}
	}
	out, _, err = s.run(t, spacepods.RoleDeveloper, "build", "run", "hello", "--ref", "nope", "-f")
	if err == nil || !strings.Contains(userMessage(err), `build job 2 failed: ref "nope" is not a branch, tag or commit`) || !strings.Contains(userMessage(err), "spacepods build log 2") {
		t.Fatalf("a bad ref: %v (%s)\n%s", err, userMessage(err), out)
	}
	out = s.must(t, spacepods.RoleViewer, "build", "jobs", "hello")
	if row := rowOf(out, "1"); len(row) < 6 || row[1] != "succeeded" || row[3] != "main" || row[4] != sha[:7] || row[5] != "1" {
		t.Fatalf("jobs row 1 %v:\n%s", row, out)
	}
	if row := rowOf(out, "2"); len(row) < 2 || row[1] != "failed" {
		t.Fatalf("jobs row 2 %v:\n%s", row, out)
	}
	if out := s.must(t, spacepods.RoleDeveloper, "build", "log", "2"); !strings.Contains(out, `ref "nope" is not a branch, tag or commit`) {
		t.Fatalf("build log 2:\n%s", out)
	}
	if out := s.must(t, spacepods.RoleViewer, "build", "list", "hello"); rowOf(out, "1") == nil || rowOf(out, "2") != nil {
		t.Fatalf("builds: the failed job recorded one?\n%s", out)
	}
	if out := s.must(t, spacepods.RoleViewer, "build", "run", "--help"); !strings.Contains(out, "records no build") || !strings.Contains(out, "--build-concurrency") {
		t.Fatalf("build run --help:\n%s", out)
	}
}
