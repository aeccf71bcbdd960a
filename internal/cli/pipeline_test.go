package cli

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pipeline/pipelinetest"
	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestPipelineCommands: pipeline show, runs, run show, approve (not by a
// viewer), start and reject, against a real API and pipeline service.
func TestPipelineCommands(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	cat := catalog.NewService(st)
	a := &auth.Service{Store: st}
	admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	for _, env := range []string{"qa", "prod"} {
		if _, err := st.CreateEnvironment(admin, spacepods.Environment{Name: env, Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	m := "name: web\nrepo: acme/web\nkind: worker\npipeline:\n  - {env: qa, tests: false}\n  - {env: prod, tests: false, approval: true, approval_timeout: 4h}\n"
	if _, _, err := cat.Register(admin, []byte(m), ""); err != nil {
		t.Fatal(err)
	}
	p := &pipeline.Service{Store: st, Catalog: cat, Deploys: pipelinetest.InstantDeploys{Store: st}, Poll: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); p.Wait() })
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	notes := &releasenotes.Service{Store: st, Catalog: cat, DataDir: t.TempDir(), BaseURL: "http://sp.test"}
	srv := &server.Server{Catalog: cat, Auth: a, Store: st, Version: "test", Runtime: "docker", Pipeline: p, Notes: notes}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	s := &apiServer{url: ts.URL, tokens: map[string]string{}, dir: t.TempDir()}
	for _, role := range []string{spacepods.RoleDeveloper, spacepods.RoleViewer} {
		secret, _, err := a.Create(admin, "t-"+role, role)
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[role] = secret
	}
	waitFor := func(id int64, status string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := st.GetPipelineRun(context.Background(), id)
			if err == nil && r.Status == status {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d is %s, want %s (%v)", id, r.Status, status, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if _, err := cat.RecordBuild(admin, spacepods.Build{App: "web", Number: 3, GitSHA: "abcdef1", Branch: "main", Image: "acme/web:3"}); err != nil {
		t.Fatal(err)
	}
	waitFor(1, spacepods.RunWaiting)
	show := s.must(t, spacepods.RoleViewer, "pipeline", "show", "web")
	for _, want := range []string{"pipeline of web (from the manifest)", "qa    off", "prod  off    approval, rejected after 4h  rollback", "qa:passed prod:waiting"} {
		if !strings.Contains(show, want) {
			t.Fatalf("pipeline show lacks %q:\n%s", want, show)
		}
	}
	run := s.must(t, spacepods.RoleViewer, "pipeline", "run", "show", "1")
	for _, want := range []string{"pipeline run 1: build 3 of web (abcdef1): waiting", "waiting since", "spacepods pipeline approve 1"} {
		if !strings.Contains(run, want) {
			t.Fatalf("pipeline run show lacks %q:\n%s", want, run)
		}
	}
	if _, _, err := s.run(t, spacepods.RoleViewer, "pipeline", "approve", "1"); err == nil {
		t.Fatal("a viewer approved")
	}
	if out := s.must(t, spacepods.RoleDeveloper, "pipeline", "approve", "1", "--comment", "looks good"); !strings.Contains(out, "approved the gate of run 1 into prod") {
		t.Fatalf("approve:\n%s", out)
	}
	waitFor(1, spacepods.RunCompleted)
	if run := s.must(t, spacepods.RoleViewer, "pipeline", "run", "show", "1"); !strings.Contains(run, "approved by t-developer") {
		t.Fatalf("after the approval:\n%s", run)
	}
	if _, _, err := s.run(t, spacepods.RoleDeveloper, "pipeline", "approve", "1"); err == nil || !strings.Contains(userMessage(err), "not waiting at a gate") {
		t.Fatalf("approved a completed run: %v", err)
	}

	if _, _, err := s.run(t, spacepods.RoleDeveloper, "pipeline", "start", "web"); err == nil || !strings.Contains(userMessage(err), "--build N is required") {
		t.Fatalf("start without a build: %v", err)
	}
	if out := s.must(t, spacepods.RoleDeveloper, "pipeline", "start", "web", "--build", "3"); !strings.Contains(out, "started pipeline run 2: build 3 of web through 2 stages") {
		t.Fatalf("start:\n%s", out)
	}
	waitFor(2, spacepods.RunWaiting)
	s.must(t, spacepods.RoleDeveloper, "pipeline", "reject", "2", "--comment", "not today")
	waitFor(2, spacepods.RunRejected)
	runs := s.must(t, spacepods.RoleViewer, "pipeline", "runs", "web")
	for _, want := range []string{"2    3      rejected   qa:passed prod:rejected", "1    3      completed  qa:passed prod:passed"} {
		if !strings.Contains(runs, want) {
			t.Fatalf("pipeline runs lacks %q:\n%s", want, runs)
		}
	}

	// The notes of run 1's production deploy (deploy 2): the app names no
	// repository to read, and the notes say so.
	md := s.must(t, spacepods.RoleViewer, "deploy", "notes", "2")
	for _, want := range []string{"## Release notes: web build 3 to prod\n", "abcdef1: 0 commits by 0 contributors", "No history: web names no build.git", "[deploy logs](http://sp.test/deploys/2)"} {
		if !strings.Contains(md, want) {
			t.Fatalf("deploy notes lacks %q:\n%s", want, md)
		}
	}
	if js := s.must(t, spacepods.RoleViewer, "deploy", "notes", "2", "-o", "json"); !strings.Contains(js, `"to_sha": "abcdef1"`) {
		t.Fatalf("deploy notes -o json:\n%s", js)
	}
}
