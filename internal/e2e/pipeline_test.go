package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestE2E_PipelineSurvivesServerKills runs the CD pipeline of the real
// binary (`--pipeline qa,staging,production:approval`) on Docker with the
// example apps: a main build of catalog-api starts a run; the server is
// SIGKILLed while the run deploys to staging and again while it waits at
// production's gate. Each restarted server resumes the run where it was:
// qa is neither deployed nor tested again, the gate keeps waiting (same
// since), an approval through the CLI completes the run, and each stage
// ends with one completed deploy and one test run of the build. Each
// stage's deploy sends its release notes, once, to a webhook.
func TestE2E_PipelineSurvivesServerKills(t *testing.T) {
	hooks := &noticeSink{}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	cfg := filepath.Join(t.TempDir(), "notify.yaml")
	if err := os.WriteFile(cfg, []byte("webhooks:\n  ops: {url: '"+recv.URL+"', secret_env: E2E_HOOK_SECRET}\nroutes:\n  - kinds: ['release.notes']\n    to: ['webhook:ops']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every deploy pauses in its migrate step, so that a kill lands inside
	// staging's deploy however loaded the machine is.
	s := newSite(t, "SPACEPODS_TEST_DEPLOY_PAUSE=migrate=3s", "E2E_HOOK_SECRET=e2e-hook-secret")
	qa, stg, prd := s.name("qa"), s.name("stg"), s.name("prd")
	s.args = []string{"--pipeline", qa + "," + stg + "," + prd + ":approval", "--notify-config", cfg}
	s.start()
	c := s.client()
	ctx := context.Background()

	// catalog-api depends on pricing-api: each environment runs it first.
	// Its build is recorded off main, so that it starts no run of its own.
	for _, app := range []string{"pricing-api", "catalog-api"} {
		s.mustCLI("app", "register", "-f", filepath.Join("examples", app, "spacepods.yaml"))
	}
	s.mustCLI("build", "record", "pricing-api", "--number", "1", "--image", podstest.Image("pricing-api", 1), "--sha", "abcdef1", "--branch", "ci")
	var firsts []int64
	for _, env := range []string{qa, stg, prd} {
		s.mustCLI("env", "create", env)
		d, err := c.CreateDeploy(ctx, env, "pricing-api", 1)
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, d.ID)
	}
	for _, id := range firsts {
		if d := waitDeploy(t, s, id, 2*time.Minute); d.Status != spacepods.DeployCompleted {
			t.Fatalf("pricing-api deploy %d: %s %s", id, d.Status, d.Error)
		}
	}

	// A main build starts the run.
	s.mustCLI("build", "record", "catalog-api", "--number", "1", "--image", podstest.Image("catalog-api", 1), "--sha", "abcdef1", "--branch", "main")
	run := waitRun(t, s, "catalog-api", 1, time.Minute, func(r spacepods.PipelineRun) bool {
		st := r.Stages[1]
		if st.Status != spacepods.StageDeploying || st.DeployID == 0 {
			return false
		}
		d, err := c.GetDeploy(ctx, st.DeployID)
		return err == nil && d.Status == spacepods.DeployRunning && d.Step == "migrate"
	})
	if q := run.Stages[0]; q.Status != spacepods.StagePassed || q.DeployID == 0 || len(q.TestRuns) != 1 {
		t.Fatalf("qa before the kill: %+v", q)
	}
	killedDeploy := run.Stages[1].DeployID
	s.kill()
	s.start()

	run = waitRun(t, s, "catalog-api", 1, 2*time.Minute, func(r spacepods.PipelineRun) bool {
		return r.Status == spacepods.RunWaiting
	})
	if run.Stage != 2 || run.Stages[2].WaitingSince == nil || run.Stages[1].Status != spacepods.StagePassed {
		t.Fatalf("after the restart mid-staging, the run: %+v", run)
	}
	since := *run.Stages[2].WaitingSince
	s.kill()
	s.start()
	time.Sleep(3 * time.Second) // the restarted pipeline looks at the run (it polls every 2s)
	out := s.mustCLI("pipeline", "run", "show", strconv.FormatInt(run.ID, 10))
	if !strings.Contains(out, "waiting") {
		t.Fatalf("after the restart at the gate, `pipeline run show`:\n%s", out)
	}
	again, err := c.GetPipelineRun(ctx, run.ID)
	if err != nil || again.Status != spacepods.RunWaiting || !again.Stages[2].WaitingSince.Equal(since) || again.Stages[2].DeployID != 0 {
		t.Fatalf("after the restart at the gate: %+v %v", again, err)
	}
	s.mustCLI("pipeline", "approve", strconv.FormatInt(run.ID, 10), "--comment", "after two kills")
	run = waitRun(t, s, "catalog-api", 1, 2*time.Minute, func(r spacepods.PipelineRun) bool {
		return r.Status != spacepods.RunWaiting && r.Status != spacepods.RunRunning && r.Status != spacepods.RunQueued
	})
	if run.Status != spacepods.RunCompleted {
		t.Fatalf("run ended %s: %s\n%+v\nserver log:\n%s", run.Status, run.Error, run.Stages, notDebug(s.logs(), 40))
	}

	// Nothing ran twice: per environment, one completed deploy of the
	// build and one test run. Staging's killed deploy was rolled back by
	// the restarted engine and deployed once more (the only repeat
	// allowed); its tests had not started.
	for i, env := range []string{qa, stg, prd} {
		ds, err := c.ListDeploys(ctx, env, "catalog-api", 50)
		if err != nil {
			t.Fatal(err)
		}
		var completed, all int
		for _, d := range ds {
			if d.Rollback {
				continue // none expected: counted below if the engine made one
			}
			all++
			if d.Status == spacepods.DeployCompleted {
				completed++
			}
		}
		wantAll := 1
		if env == stg {
			wantAll = 2
		}
		if completed != 1 || all != wantAll || ds[0].ID != run.Stages[i].DeployID {
			t.Fatalf("%s: %d deploys of catalog-api (%d completed), want %d (1 completed, the stage's %d): %+v", env, all, completed, wantAll, run.Stages[i].DeployID, ds)
		}
		if env == stg {
			if d, err := c.GetDeploy(ctx, killedDeploy); err != nil || d.Status != spacepods.DeployRolledBack {
				t.Fatalf("staging's killed deploy %d: %+v %v", killedDeploy, d, err)
			}
		}
		trs, err := c.ListTestRuns(ctx, env, "catalog-api", 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(trs) != 1 || len(run.Stages[i].TestRuns) != 1 || trs[0].ID != run.Stages[i].TestRuns[0] || trs[0].Status != spacepods.TestPassed {
			t.Fatalf("%s: test runs %+v, the stage's %v", env, trs, run.Stages[i].TestRuns)
		}
	}
	if st := run.Stages[2]; st.DecidedBy == "" || st.Tries != 1 || !st.Approved {
		t.Fatalf("production: %+v", st)
	}
	// Release notes: one notice per stage's deploy, none for the killed one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := hooks.byDeploy()
		ok := len(got) == 3
		for i, env := range []string{qa, stg, prd} {
			n, there := got[strconv.FormatInt(run.Stages[i].DeployID, 10)]
			ok = ok && there && n.Env == env && strings.Contains(n.Fields["notes"], "Release notes: catalog-api build 1 to "+env)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("release notes notices by deploy: %+v; want one for each of deploys %d, %d, %d", got, run.Stages[0].DeployID, run.Stages[1].DeployID, run.Stages[2].DeployID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("run %d completed after kills in staging's deploy (%d) and at the gate; deploys %d, %d, %d", run.ID, killedDeploy,
		run.Stages[0].DeployID, run.Stages[1].DeployID, run.Stages[2].DeployID)
}

// waitRun waits until app's run of build satisfies ok and returns it.
func waitRun(t *testing.T, s *site, app string, build int, max time.Duration, ok func(spacepods.PipelineRun) bool) spacepods.PipelineRun {
	t.Helper()
	c := s.client()
	deadline := time.Now().Add(max)
	var last spacepods.PipelineRun
	for {
		runs, err := c.PipelineRuns(context.Background(), app, 10)
		if err == nil {
			for _, r := range runs {
				if r.Build == build {
					last = r
					if ok(r) {
						return r
					}
					if r.Status == spacepods.RunFailed || r.Status == spacepods.RunRejected || r.Status == spacepods.RunSuperseded {
						t.Fatalf("pipeline run of %s build %d ended %s: %s\n%+v\nserver log:\n%s", app, build, r.Status, r.Error, r.Stages, notDebug(s.logs(), 40))
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline run of %s build %d: not there within %s: %+v %v\nserver log:\n%s", app, build, max, last, err, notDebug(s.logs(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// notDebug is the last n lines of a server log above debug (not the
// test's polling requests).
func notDebug(log string, n int) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			keep = append(keep, l)
		}
	}
	return tail(strings.Join(keep, "\n"), n)
}

// noticeSink is an outgoing-webhook receiver: the notices it got.
type noticeSink struct {
	mu sync.Mutex
	ns []hookNotice
}

type hookNotice struct {
	NoticeID int64             `json:"notice_id"`
	Kind     string            `json:"kind"`
	Env      string            `json:"env"`
	Fields   map[string]string `json:"fields"`
}

func (h *noticeSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n hookNotice
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ns = append(h.ns, n)
}

// byDeploy returns the release.notes notices by deploy ID; a deploy with
// two different notices (not one notice retried) fails the test's check.
func (h *noticeSink) byDeploy() map[string]hookNotice {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]hookNotice{}
	for _, n := range h.ns {
		if n.Kind != spacepods.NoticeReleaseNotes {
			continue
		}
		if prev, ok := out[n.Fields["deploy"]]; ok && prev.NoticeID != n.NoticeID {
			out[n.Fields["deploy"]+" (twice)"] = n
			continue
		}
		out[n.Fields["deploy"]] = n
	}
	return out
}
