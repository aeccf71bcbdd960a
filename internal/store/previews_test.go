package store_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_BuildForSHAMatchesFullAndShortSHAs: a pull request head (a full
// SHA) finds the newest build recorded for it, by its full or short form.
func TestStore_BuildForSHAMatchesFullAndShortSHAs(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("ci")
		if _, _, err := s.PutApp(ctx, testApp("web")); err != nil {
			t.Fatal(err)
		}
		full := "3f2c1ab0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
		for _, b := range []spacepods.Build{
			{App: "web", Number: 1, GitSHA: "3f2c1ab", Branch: "feature", Image: "acme/web:1"},
			{App: "web", Number: 2, GitSHA: "aaaaaaa", Branch: "main", Image: "acme/web:2"},
			{App: "web", Number: 3, GitSHA: full, Branch: "feature", Image: "acme/web:3"},
		} {
			if _, err := s.AddBuild(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := s.BuildForSHA(ctx, "web", full); err != nil || b.Number != 3 {
			t.Fatalf("full sha: %+v %v", b, err)
		}
		if b, err := s.BuildForSHA(ctx, "web", "3f2c1ab"+"ffff"); err != nil || b.Number != 1 {
			t.Fatalf("short sha recorded, longer asked: %+v %v", b, err)
		}
		if _, err := s.BuildForSHA(ctx, "web", "bbbbbbbbbb"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("unknown sha: %v", err)
		}
	})
}

// TestStore_TestRunsAndPRPods: a test run is recorded running, then
// finished with its log; pull request pod records are upserted by (repo,
// number, app) and found by environment.
func TestStore_TestRunsAndPRPods(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("ci")
		r, err := s.AddTestRun(ctx, spacepods.TestRun{Env: "pr-1-web", App: "web", Build: 4, Image: "acme/web-tests:1", Trigger: "manual"})
		if err != nil || r.ID == 0 || r.Status != spacepods.TestRunning {
			t.Fatalf("add: %+v %v", r, err)
		}
		running, err := s.RunningTestRuns(ctx)
		if err != nil || len(running) != 1 {
			t.Fatalf("running: %+v %v", running, err)
		}
		r.Status, r.ExitCode, r.LogTail = spacepods.TestFailed, 3, "FAIL"
		if _, err := s.FinishTestRun(ctx, r, "line 1\nFAIL\n"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetTestRun(ctx, r.ID)
		if err != nil || got.Status != spacepods.TestFailed || got.ExitCode != 3 || got.Ended == nil || got.By != "ci" {
			t.Fatalf("get: %+v %v", got, err)
		}
		if log, err := s.TestRunLog(ctx, r.ID); err != nil || log != "line 1\nFAIL\n" {
			t.Fatalf("log: %q %v", log, err)
		}
		if list, err := s.ListTestRuns(ctx, "pr-1-web", "", 10); err != nil || len(list) != 1 {
			t.Fatalf("list: %+v %v", list, err)
		}
		if _, err := s.GetTestRun(ctx, 999); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("missing run: %v", err)
		}

		p := spacepods.PRPod{Repo: "acme/web", Number: 1, App: "web", Env: "pr-1-web", HeadSHA: "abc1234", State: "deploying"}
		if err := s.PutPRPod(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.HeadSHA, p.CommentID, p.Fork = "def5678", 77, true
		if err := s.PutPRPod(ctx, p); err != nil {
			t.Fatal(err)
		}
		got2, err := s.PRPodOfEnv(ctx, "pr-1-web")
		if err != nil || got2.HeadSHA != "def5678" || got2.CommentID != 77 || !got2.Fork {
			t.Fatalf("pr pod: %+v %v", got2, err)
		}
		if all, err := s.PRPods(ctx, "acme/web", 0); err != nil || len(all) != 1 {
			t.Fatalf("pr pods: %+v %v", all, err)
		}

		env, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "pr-1-web", Kind: spacepods.EnvPod, Owner: "ci", Status: spacepods.StatusCreating,
			PRURL: "http://forge/acme/web/pulls/1", NoSecrets: true})
		if err != nil {
			t.Fatal(err)
		}
		if e, err := s.GetEnvironment(ctx, env.Name); err != nil || e.PRURL == "" || !e.NoSecrets {
			t.Fatalf("environment: %+v %v", e, err)
		}
	})
}
