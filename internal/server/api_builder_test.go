package server_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	spclient "github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/builds/builder/buildertest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestAPI_BuildRunFollowsTheLogToARecordedBuild drives the built-in
// builder through the API as the CLI does: run, follow the log, show the
// job (log only for developers), list, and a second run that fails.
func TestAPI_BuildRunFollowsTheLogToARecordedBuild(t *testing.T) {
	testenv.RequireDocker(t)
	f := newFixture(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	repo := buildertest.NewRepo(t)
	sha := repo.HelloApp("first")
	b, err := builder.New(builder.Config{Store: f.srv.Store, Docker: dc, Registry: builds.Registry{Host: reg.Host}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.srv.Builder = b

	dev := spclient.New(f.ts.URL, f.tokens[spacepods.RoleDeveloper])
	viewer := spclient.New(f.ts.URL, f.tokens[spacepods.RoleViewer])
	if _, err := dev.RunBuild(ctx, "api", ""); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "has no build source") {
		t.Fatalf("an app without build: %v", err)
	}
	manifest := "name: hello\nrepo: acme/hello\nkind: worker\nbuild: {git: \"" + repo.URL() + "\"}\n"
	if _, _, err := dev.RegisterApp(ctx, []byte(manifest), ""); err != nil {
		t.Fatal(err)
	}
	j, err := dev.RunBuild(ctx, "hello", "main")
	if err != nil || j.Status != spacepods.JobQueued || j.App != "hello" || j.Ref != "main" {
		t.Fatalf("run: %+v %v", j, err)
	}
	rc, err := dev.BuildJobLog(ctx, j.ID, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	followed, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !strings.Contains(string(followed), "Step 1/4 : FROM scratch") || !strings.HasSuffix(string(followed), "recorded build 1 of hello (main@"+sha[:12]+")\n") {
		t.Fatalf("followed log (%v):\n%s", err, followed)
	}
	got, err := dev.GetBuildJob(ctx, j.ID)
	if err != nil || got.Status != spacepods.JobSucceeded || got.Log != string(followed) || got.BuildNumber != 1 || got.SHA != sha {
		t.Fatalf("job as developer: %+v %v", got, err)
	}
	if v, _ := viewer.GetBuildJob(ctx, j.ID); v.Log != "" || v.Status != spacepods.JobSucceeded {
		t.Fatalf("a viewer got the log: %+v", v)
	}
	if bd, err := viewer.GetBuild(ctx, "hello", 1); err != nil || bd.GitSHA != sha || bd.Author != "Ann Author <ann@example.com>" || bd.Message != "first" {
		t.Fatalf("recorded build: %+v %v", bd, err)
	}
	// Without follow, from an offset.
	rc, _ = dev.BuildJobLog(ctx, j.ID, 5, false)
	part, _ := io.ReadAll(rc)
	_ = rc.Close()
	if string(part) != string(followed[5:]) {
		t.Fatalf("log from offset 5: %q", part)
	}
	if _, err := dev.CancelBuildJob(ctx, j.ID); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("cancel of an ended job: %v", err)
	}

	bad, err := dev.RunBuild(ctx, "hello", "no-such-branch")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for bad.Status == spacepods.JobQueued || bad.Status == spacepods.JobRunning {
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %s", bad.ID, bad.Status)
		}
		time.Sleep(50 * time.Millisecond)
		bad, _ = dev.GetBuildJob(ctx, bad.ID)
	}
	if bad.Status != spacepods.JobFailed || !strings.Contains(bad.Error, `ref "no-such-branch" is not a branch, tag or commit`) {
		t.Fatalf("bad ref: %+v", bad)
	}
	jobs, err := viewer.ListBuildJobs(ctx, "hello", 0)
	if err != nil || len(jobs) != 2 || jobs[0].ID != bad.ID || jobs[1].ID != j.ID {
		t.Fatalf("jobs: %+v %v", jobs, err)
	}
	if bs, _ := viewer.ListBuilds(ctx, "hello", "", 0); len(bs) != 1 {
		t.Fatalf("builds after a failed job: %+v", bs)
	}
}
