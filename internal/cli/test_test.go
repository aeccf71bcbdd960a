package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// suiteDriver runs test tasks only: web's suite fails, api's passes.
type suiteDriver struct{ runtime.Driver }

func (suiteDriver) RunTask(_ context.Context, t runtime.TaskSpec) (runtime.TaskResult, error) {
	code, word := 0, "PASS"
	if t.App == "web" {
		code, word = 1, "FAIL"
	}
	out := fmt.Sprintf("testing %s at %s\n%s\n", t.App, t.Env["API_URL"], word)
	if t.Output != nil {
		_, _ = t.Output.Write([]byte(out))
	}
	return runtime.TaskResult{ExitCode: code, LogTail: out}, nil
}

// TestPodTest_RunsSuitesWaitsAndFailsOnAFailedSuite: `pod test --wait`
// runs the app's suite and its dependents', prints the results and the
// failed run's last lines, and fails; `test show` and `test log` read a run.
func TestPodTest_RunsSuitesWaitsAndFailsOnAFailedSuite(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	cat := catalog.NewService(st)
	a := &auth.Service{Store: st}
	admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	for _, m := range []string{
		"name: api\nrepo: acme/api\nkind: web\nport: 8080\ntests: {image: acme/api-tests:1}\n",
		"name: web\nrepo: acme/web\nkind: web\nport: 8080\ndependencies: [api]\ntests: {image: acme/web-tests:1}\n",
	} {
		if _, _, err := cat.Register(admin, []byte(m), ""); err != nil {
			t.Fatal(err)
		}
	}
	exp := time.Now().Add(time.Hour)
	if _, err := st.CreateEnvironment(admin, spacepods.Environment{Name: "p1", Kind: spacepods.EnvPod, Owner: "setup", Status: spacepods.StatusReady, Apps: []string{"web"}, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"api", "web"} {
		if _, err := cat.RecordBuild(admin, spacepods.Build{App: app, Number: 3, GitSHA: "abcdef1", Branch: "main", Image: "acme/" + app + ":3"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutEnvApp(admin, spacepods.EnvApp{Env: "p1", App: app, Build: 3, Status: "healthy"}); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	engine := &deploy.Engine{Store: st, Catalog: cat, Domain: "localhost", Logger: quiet}
	tests := &gatekeeper.Service{Store: st, Catalog: cat, Driver: suiteDriver{}, Endpoints: engine, Logger: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); tests.Wait() })
	if err := tests.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Catalog: cat, Auth: a, Store: st, Version: "test", Runtime: "docker", Deploys: engine, Tests: tests,
		Pods: &pods.Service{Store: st, Catalog: cat, Engine: engine, Logger: quiet}}
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

	out, _, err := s.run(t, spacepods.RoleDeveloper, "pod", "test", "p1", "--app", "api", "--wait")
	if err == nil || !strings.Contains(userMessage(err), "tests failed: web") {
		t.Fatalf("want a failure naming web, got %v\n%s", err, out)
	}
	for _, want := range []string{"api", "passed", "web", "failed", "FAIL"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := s.run(t, spacepods.RoleViewer, "pod", "test", "p1"); err == nil {
		t.Fatal("a viewer ran tests")
	}
	runs, err := tests.List(admin, "p1", "web", 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("%+v %v", runs, err)
	}
	id := fmt.Sprint(runs[0].ID)
	show := s.must(t, spacepods.RoleViewer, "test", "show", id)
	if !strings.Contains(show, "tests of web in p1 (build 3, abcdef1): failed") || !strings.Contains(show, "exit code 1") {
		t.Fatalf("show:\n%s", show)
	}
	if log := s.must(t, spacepods.RoleViewer, "test", "log", id); !strings.Contains(log, "testing web at http://api:8080\nFAIL") {
		t.Fatalf("log:\n%s", log)
	}
	if list := s.must(t, spacepods.RoleViewer, "test", "list", "p1"); strings.Count(list, "\n") != 3 {
		t.Fatalf("list:\n%s", list)
	}
	if _, _, err := s.run(t, spacepods.RoleViewer, "test", "show", "x"); err == nil || !strings.Contains(userMessage(err), "not a positive number") {
		t.Fatalf("bad id: %v", err)
	}
}
