package forgebuild_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/forge/forgetest"
	"github.com/spacepods/spacepods/internal/forgebuild"
	"github.com/spacepods/spacepods/internal/spacepods"
)

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// runner is a builder queue in memory: Run appends a queued job.
type runner struct {
	mu   sync.Mutex
	jobs []spacepods.BuildJob // newest first
	runs []string             // app@ref of each Run
}

func (r *runner) Run(_ context.Context, app string, req spacepods.RunBuildRequest) (spacepods.BuildJob, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j := spacepods.BuildJob{ID: int64(len(r.jobs) + 1), App: app, Ref: req.Ref, Status: spacepods.JobQueued}
	r.jobs = append([]spacepods.BuildJob{j}, r.jobs...)
	r.runs = append(r.runs, app+"@"+req.Ref)
	return j, nil
}

func (r *runner) Jobs(_ context.Context, app string, _ int) ([]spacepods.BuildJob, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []spacepods.BuildJob
	for _, j := range r.jobs {
		if j.App == app {
			out = append(out, j)
		}
	}
	return out, nil
}

func (r *runner) finish(id int64, status, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.jobs {
		if r.jobs[i].ID == id {
			r.jobs[i].Status, r.jobs[i].Error = status, why
		}
	}
}

func (r *runner) ran() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.runs...)
}

// catalog holds apps and their recorded builds.
type catalog struct {
	apps   map[string]spacepods.App
	builds map[string]bool // app@sha
}

func (c *catalog) AppsOfRepo(_ context.Context, repo string) ([]string, error) {
	var out []string
	for _, a := range c.apps {
		if strings.EqualFold(a.Repo, repo) {
			out = append(out, a.Name)
		}
	}
	return out, nil
}

func (c *catalog) Get(_ context.Context, name string) (spacepods.App, error) {
	a, ok := c.apps[name]
	if !ok {
		return a, spacepods.Errorf(spacepods.ENOTFOUND, "no app %s", name)
	}
	return a, nil
}

func (c *catalog) BuildForSHA(_ context.Context, app, sha string) (spacepods.Build, error) {
	if c.builds[app+"@"+sha] {
		return spacepods.Build{App: app, Number: 1, GitSHA: sha}, nil
	}
	return spacepods.Build{}, spacepods.Errorf(spacepods.ENOTFOUND, "no build")
}

func setup() (*forgebuild.Builder, *runner, *catalog) {
	f := forgetest.New()
	f.AddRepo("acme/pricing-api")
	r := &runner{}
	c := &catalog{apps: map[string]spacepods.App{
		"pricing-api": {Name: "pricing-api", Repo: "acme/pricing-api", Build: &spacepods.BuildSource{}},
		"pricing-cli": {Name: "pricing-cli", Repo: "acme/pricing-api"}, // CI builds it
	}, builds: map[string]bool{}}
	return &forgebuild.Builder{Forge: f, Runner: r, Catalog: c, Builds: c, Logger: slog.New(slog.DiscardHandler)}, r, c
}

func TestSources_ManifestThenForge(t *testing.T) {
	f := forgetest.New()
	f.AddRepo("acme/pricing-api")
	ctx := context.Background()
	s := forgebuild.Sources{Forge: f}
	got, err := s.CloneURL(ctx, &spacepods.App{Name: "p", Repo: "acme/pricing-api", Build: &spacepods.BuildSource{Git: "file:///srv/p.git"}})
	if err != nil || got != "file:///srv/p.git" {
		t.Fatalf("build.git: %q %v", got, err)
	}
	got, err = s.CloneURL(ctx, &spacepods.App{Name: "p", Repo: "acme/pricing-api", Build: &spacepods.BuildSource{}})
	if err != nil || got != "http://forge.test/acme/pricing-api.git" {
		t.Fatalf("from the forge: %q %v", got, err)
	}
	if _, err := s.CloneURL(ctx, &spacepods.App{Name: "p", Repo: "acme/pricing-api"}); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "add build:") {
		t.Fatalf("no build: %v", err)
	}
	if _, err := s.CloneURL(ctx, &spacepods.App{Name: "p", Repo: "acme/gone", Build: &spacepods.BuildSource{}}); err == nil || !strings.Contains(err.Error(), "acme/gone") {
		t.Fatalf("a repository the forge does not have: %v", err)
	}
	if _, err := (forgebuild.Sources{}).CloneURL(ctx, &spacepods.App{Name: "p", Repo: "acme/p", Build: &spacepods.BuildSource{}}); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "--forge") {
		t.Fatalf("no forge: %v", err)
	}
}

func TestBuildCommit_QueuesOnceAndOnlyWhatItCanBuild(t *testing.T) {
	b, r, c := setup()
	ctx := context.Background()
	pricing, _ := c.Get(ctx, "pricing-api")
	cli, _ := c.Get(ctx, "pricing-cli")
	if err := b.BuildCommit(ctx, cli, "acme/pricing-api", "feature", shaA); err != nil || len(r.ran()) != 0 {
		t.Fatalf("an app without build: is CI's: %v %v", err, r.ran())
	}
	if err := b.BuildCommit(ctx, pricing, "mallory/pricing-api", "feature", shaA); err != nil || len(r.ran()) != 0 {
		t.Fatalf("a fork's head is not in the app's repository: %v %v", err, r.ran())
	}
	if err := b.BuildCommit(ctx, pricing, "acme/pricing-api", "feature", shaA); err != nil {
		t.Fatal(err)
	}
	// A second event for the same head while the job is queued.
	if err := b.BuildCommit(ctx, pricing, "acme/pricing-api", "feature", shaA); err != nil {
		t.Fatal(err)
	}
	if got := r.ran(); len(got) != 1 || got[0] != "pricing-api@"+shaA {
		t.Fatalf("runs %v, want one build of the head", got)
	}
	if _, failed := b.BuildFailed(ctx, "pricing-api", shaA); failed {
		t.Fatal("a queued job is not a failure")
	}
	r.finish(1, spacepods.JobFailed, "no FROM in the Dockerfile")
	why, failed := b.BuildFailed(ctx, "pricing-api", shaA)
	if !failed || !strings.Contains(why, "build job 1") || !strings.Contains(why, "no FROM") || !strings.Contains(why, "spacepods build log 1") {
		t.Fatalf("failed job: %q %v", why, failed)
	}
	// Asked again (a new event), it retries; the new job is not failed.
	if err := b.BuildCommit(ctx, pricing, "acme/pricing-api", "feature", shaA); err != nil || len(r.ran()) != 2 {
		t.Fatalf("retry: %v %v", err, r.ran())
	}
	if _, failed := b.BuildFailed(ctx, "pricing-api", shaA); failed {
		t.Fatal("the retry's job is queued, not failed")
	}
	// A commit CI (or an earlier push) already built is not built again.
	c.builds["pricing-api@"+shaB] = true
	if err := b.BuildCommit(ctx, pricing, "acme/pricing-api", "feature", shaB); err != nil || len(r.ran()) != 2 {
		t.Fatalf("built already: %v %v", err, r.ran())
	}
}

func TestHandleEvent_BuildsPushesToTheDefaultBranch(t *testing.T) {
	b, r, _ := setup()
	ctx := context.Background()
	push := func(ref, after string) string {
		t.Helper()
		sum, err := b.HandleEvent(ctx, forge.Event{Kind: forge.EventPush, Repo: "acme/pricing-api", Ref: ref, After: after})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if sum := push("refs/heads/feature", shaA); !strings.Contains(sum, "not the default branch main") || len(r.ran()) != 0 {
		t.Fatalf("a feature branch: %q %v", sum, r.ran())
	}
	if sum := push("refs/tags/v1", shaA); sum != "" || len(r.ran()) != 0 {
		t.Fatalf("a tag: %q %v", sum, r.ran())
	}
	if sum := push("refs/heads/main", strings.Repeat("0", 40)); sum != "" || len(r.ran()) != 0 {
		t.Fatalf("a deleted branch: %q %v", sum, r.ran())
	}
	if sum := push("refs/heads/main", shaA); sum != "builder: queued build job 1 of pricing-api at "+shaA[:12] {
		t.Fatalf("main: %q", sum)
	}
	if got := r.ran(); len(got) != 1 || got[0] != "pricing-api@"+shaA {
		t.Fatalf("runs %v: only the app with build: is built", got)
	}
	// The forge redelivers: the job is not queued twice.
	if sum := push("refs/heads/main", shaA); !strings.Contains(sum, "built or being built") || len(r.ran()) != 1 {
		t.Fatalf("redelivery: %q %v", sum, r.ran())
	}
	if sum, err := b.HandleEvent(ctx, forge.Event{Kind: forge.EventPullRequest, Repo: "acme/pricing-api"}); sum != "" || err != nil {
		t.Fatalf("a pull request event is the previews handler's: %q %v", sum, err)
	}
}
