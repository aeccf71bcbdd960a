package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/forge/gitea"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pipeline/pipelinetest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestStatuses_FollowTheRunOnARealGitea: each stage is a commit status
// (spacepods/<env>) on the build's SHA at a real Gitea, pending while the
// run waits and success once the stage passed, targeting the run's page.
func TestStatuses_FollowTheRunOnARealGitea(t *testing.T) {
	g := testenv.Gitea(t)
	org := testenv.Unique("pl")
	g.CreateOrg(t, org)
	g.CreateRepo(t, org, "shop", false)
	repo := org + "/shop"
	dev := g.CreateUser(t, testenv.Unique("dev"))
	g.AddCollaborator(t, repo, dev.Login, "write")
	sha := g.Clone(t, repo, dev).Commit("main", "first", map[string]string{"README.md": "shop\n"})
	fg, err := gitea.New(gitea.Config{URL: g.URL, Token: g.Token})
	if err != nil {
		t.Fatal(err)
	}

	st := storetest.MustOpenSQLite(t)
	cat := catalog.NewService(st)
	admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	for _, env := range []string{"qa", "prod"} {
		if _, err := st.CreateEnvironment(admin, spacepods.Environment{Name: env, Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	m := "name: shop\nrepo: " + repo + "\nkind: worker\npipeline:\n  - {env: qa, tests: false}\n  - {env: prod, tests: false, approval: true}\n"
	if _, _, err := cat.Register(admin, []byte(m), ""); err != nil {
		t.Fatal(err)
	}
	p := &pipeline.Service{Store: st, Catalog: cat, Deploys: pipelinetest.InstantDeploys{Store: st}, Forge: fg, BaseURL: "http://spacepods.test/",
		Poll: 50 * time.Millisecond, Logger: testenv.Logger(t, "pipeline log", slog.LevelInfo)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); p.Wait() })
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.RecordBuild(admin, spacepods.Build{App: "shop", Number: 1, GitSHA: sha, Branch: "main", Image: "acme/shop:1"}); err != nil {
		t.Fatal(err)
	}

	type status struct {
		Context     string `json:"context"`
		State       string `json:"status"`
		Description string `json:"description"`
		TargetURL   string `json:"target_url"`
	}
	// latest waits until Gitea's newest status of each context is want.
	latest := func(want map[string]status) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var combined struct {
				Statuses []status `json:"statuses"` // the latest of each context
			}
			g.API(t, "", "GET", "/repos/"+repo+"/commits/"+sha+"/status", nil, &combined)
			got := map[string]status{}
			for _, s := range combined.Statuses {
				got[s.Context] = s
			}
			ok := len(got) == len(want)
			for k, v := range want {
				ok = ok && got[k] == v
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("statuses at Gitea: %+v, want %+v", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	target := "http://spacepods.test/pipeline/runs/1"
	latest(map[string]status{
		"spacepods/qa":   {"spacepods/qa", "success", "build 1 passed qa", target},
		"spacepods/prod": {"spacepods/prod", "pending", "build 1 waits for approval to enter prod", target},
	})
	if _, err := p.Decide(spacepods.WithActor(context.Background(), &spacepods.Token{Name: "carol", Role: spacepods.RoleDeveloper}), 1, true, ""); err != nil {
		t.Fatal(err)
	}
	latest(map[string]status{
		"spacepods/qa":   {"spacepods/qa", "success", "build 1 passed qa", target},
		"spacepods/prod": {"spacepods/prod", "success", "build 1 passed prod", target},
	})
}

// TestStageStatus: what each stage's commit status says.
func TestStageStatus(t *testing.T) {
	run := func(status string, stage int, stages ...string) spacepods.PipelineRun {
		r := spacepods.PipelineRun{ID: 4, Build: 9, Status: status, Stage: stage, Error: "superseded by run 5 of build 10"}
		for i, s := range stages {
			r.Stages = append(r.Stages, spacepods.RunStage{PipelineStage: spacepods.PipelineStage{Env: []string{"qa", "staging", "prod"}[i]}, Status: s, Error: "tests 1 of 1 failed: web (exit 1)"})
		}
		return r
	}
	tests := []struct {
		name  string
		r     spacepods.PipelineRun
		stage int
		want  string
	}{
		{"queued", run(spacepods.RunQueued, 0, "pending", "pending"), 0, "pending build 9 is queued"},
		{"after an earlier stage", run(spacepods.RunRunning, 0, "deploying", "pending"), 1, "pending build 9 waits for qa"},
		{"deploying", run(spacepods.RunRunning, 0, "deploying", "pending"), 0, "pending deploying build 9 to qa"},
		{"testing", run(spacepods.RunRunning, 0, "testing", "pending"), 0, "pending testing build 9 in qa"},
		{"gate", run(spacepods.RunWaiting, 1, "passed", "waiting"), 1, "pending build 9 waits for approval to enter staging"},
		{"failed", run(spacepods.RunFailed, 0, "failed", "skipped"), 0, "failure tests 1 of 1 failed: web (exit 1)"},
		{"after a failure", run(spacepods.RunFailed, 0, "failed", "skipped"), 1, "error not deployed: the run stopped at qa"},
		{"superseded", run(spacepods.RunSuperseded, 1, "passed", "skipped"), 1, "error not deployed: superseded by run 5 of build 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, desc := pipeline.StageStatus(tt.r, tt.stage)
			if got := string(state) + " " + desc; got != tt.want {
				t.Fatalf("%q, want %q", got, tt.want)
			}
		})
	}
}
