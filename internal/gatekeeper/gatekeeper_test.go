package gatekeeper_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

var admin = spacepods.WithActor(context.Background(), &spacepods.Token{Name: "admin", Role: spacepods.RoleAdmin})

// setup registers pricing-api ← catalog-api ← storefront (and a worker
// depending on catalog-api), catalog-api and storefront declaring tests,
// and a ready pod running all four.
func setup(t *testing.T) (*store.Store, *gatekeeper.Service) {
	st := storetest.MustOpenSQLite(t)
	cat := catalog.NewService(st)
	for _, m := range []string{
		"name: pricing-api\nrepo: acme/pricing-api\nkind: web\nport: 8080\n",
		"name: catalog-api\nrepo: acme/catalog-api\nkind: web\nport: 8080\ndependencies: [pricing-api]\ntests: {image: acme/catalog-tests:1, command: [/t], args: [-v], timeout: 90s}\n",
		"name: storefront\nrepo: acme/storefront\nkind: web\nport: 3000\ndependencies: [catalog-api]\ntests: {image: acme/storefront-tests:1}\n",
		"name: mailer\nrepo: acme/mailer\nkind: worker\ndependencies: [catalog-api]\n",
	} {
		if _, _, err := cat.Register(admin, []byte(m), ""); err != nil {
			t.Fatal(err)
		}
	}
	exp := time.Now().Add(time.Hour)
	if _, err := st.CreateEnvironment(admin, spacepods.Environment{Name: "pod1", Kind: spacepods.EnvPod, Owner: "admin", Status: spacepods.StatusReady, Apps: []string{"storefront", "mailer"}, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	for i, a := range []string{"pricing-api", "catalog-api", "storefront", "mailer"} {
		if _, err := cat.RecordBuild(admin, spacepods.Build{App: a, Number: 4 + i, GitSHA: "abcdef1", Branch: "main", Image: "acme/" + a + ":1"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutEnvApp(admin, spacepods.EnvApp{Env: "pod1", App: a, Build: 4 + i, Status: "healthy"}); err != nil {
			t.Fatal(err)
		}
	}
	eng := &deploy.Engine{Store: st, Catalog: cat, Domain: "spacepods.test", InternalRouter: "172.17.0.1:8081"}
	return st, &gatekeeper.Service{Store: st, Catalog: cat, Endpoints: eng, Logger: slog.New(slog.DiscardHandler)}
}

func names(apps []spacepods.App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	slices.Sort(out)
	return out
}

// TestSuites_ChangedAppAndItsDependentsThatDeclareTests: the suites of the
// changed app and of the environment's apps that depend on it, directly or
// not, run; apps without tests: are skipped.
func TestSuites_ChangedAppAndItsDependentsThatDeclareTests(t *testing.T) {
	_, g := setup(t)
	cases := []struct {
		app  string
		want []string
	}{
		{"pricing-api", []string{"catalog-api", "storefront"}},
		{"catalog-api", []string{"catalog-api", "storefront"}},
		{"storefront", []string{"storefront"}},
		{"", []string{"catalog-api", "storefront"}},
	}
	for _, c := range cases {
		got, err := g.Suites(admin, "pod1", c.app)
		if err != nil || !slices.Equal(names(got), c.want) {
			t.Errorf("Suites(%q) = %v, %v; want %v", c.app, names(got), err, c.want)
		}
	}
	if _, err := g.Suites(admin, "pod1", "mailer"); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Errorf("an app with no tests and no dependent that has some: %v", err)
	}
	if _, err := g.Suites(admin, "pod1", "nope"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("an app not in the pod: %v", err)
	}
}

// TestTaskSpec_GetsEveryAppURLAndTheStandardVars: the suite's task gets
// <APP>_URL for every web app of the environment (the URLs the apps get,
// through the router's internal listener), host names resolving there,
// SPACEPODS_* of the tested app, its command, args and timeout.
func TestTaskSpec_GetsEveryAppURLAndTheStandardVars(t *testing.T) {
	st, g := setup(t)
	cat := catalog.NewService(st)
	var apps []spacepods.App
	for _, n := range []string{"pricing-api", "catalog-api", "storefront", "mailer"} {
		a, err := cat.Get(admin, n)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	spec, err := g.TaskSpec(spacepods.TestRun{ID: 9, Env: "pod1", App: "catalog-api", Build: 5, GitSHA: "abcdef1"}, apps[1], apps)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PRICING_API_URL": "http://pricing-api.pod1.spacepods.test:8081", "CATALOG_API_URL": "http://catalog-api.pod1.spacepods.test:8081",
		"STOREFRONT_URL": "http://storefront.pod1.spacepods.test:8081", "SPACEPODS_ENV": "pod1", "SPACEPODS_APP": "catalog-api",
		"SPACEPODS_BUILD": "5", "SPACEPODS_GIT_SHA": "abcdef1", "SPACEPODS_TEST_RUN": "9",
	}
	for k, v := range want {
		if spec.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, spec.Env[k], v)
		}
	}
	if _, ok := spec.Env["MAILER_URL"]; ok {
		t.Error("a worker has no URL")
	}
	if spec.Hosts["catalog-api.pod1.spacepods.test"] != "172.17.0.1" || len(spec.Secrets) != 0 {
		t.Errorf("hosts %v, secrets %v", spec.Hosts, spec.Secrets)
	}
	if spec.Image != "acme/catalog-tests:1" || !slices.Equal(spec.Command, []string{"/t"}) || !slices.Equal(spec.Args, []string{"-v"}) || spec.Timeout != 90*time.Second || spec.Environment != "pod1" {
		t.Errorf("spec %+v", spec)
	}
}

// TestBegin_NeedsAReadyEnvironmentAndStart: tests run against healthy apps
// only; runs a restart cut short end as errors.
func TestBegin_NeedsAReadyEnvironmentAndStart(t *testing.T) {
	st, g := setup(t)
	if err := st.SetEnvironmentStatus(admin, "pod1", spacepods.StatusUpdating, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Begin(admin, "pod1", "catalog-api", ""); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("an updating pod: %v", err)
	}
	r, err := st.AddTestRun(admin, spacepods.TestRun{Env: "pod1", App: "catalog-api", Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := g.Get(admin, r.ID)
	if err != nil || got.Status != spacepods.TestError || got.Ended == nil {
		t.Fatalf("a run left running by a dead process: %+v %v", got, err)
	}
}

func TestSummary(t *testing.T) {
	ok, line := gatekeeper.Summary([]spacepods.TestRun{{App: "a", Status: spacepods.TestPassed}, {App: "b", Status: spacepods.TestPassed}})
	if !ok || line != "2 passed" {
		t.Fatalf("%v %q", ok, line)
	}
	ok, line = gatekeeper.Summary([]spacepods.TestRun{{App: "a", Status: spacepods.TestPassed}, {App: "b", Status: spacepods.TestFailed, ExitCode: 3}, {App: "c", Status: spacepods.TestError}})
	if ok || line != "2 of 3 failed: b (exit 3), c (did not run)" {
		t.Fatalf("%v %q", ok, line)
	}
}
