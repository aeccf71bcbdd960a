package spacepods_test

import (
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// validApp is a manifest that uses every section and passes validation;
// each case below breaks one rule of it.
func validApp() spacepods.App {
	return spacepods.App{
		Name: "catalog-api", Repo: "acme/catalog-api", Kind: spacepods.KindWeb, Port: 8080, Health: "/healthz",
		Command:      []string{"/app", "serve"},
		Args:         []string{"--verbose"},
		Dependencies: []string{"pricing-api"},
		Database:     &spacepods.Database{Engine: "postgres", Seed: "seed.sql"},
		Migrate:      []string{"/app", "migrate"}, MigrateTimeout: "5m",
		Env:     map[string]string{"LOG_LEVEL": "info"},
		Rollout: spacepods.Rollout{Stages: []int{25, 50, 100}, Replicas: map[string]int{"default": 1, "production": 3}},
		Workers: []spacepods.Worker{{Name: "jobs", Command: []string{"/app", "worker"}}},
		Tests:   &spacepods.TestSuite{Image: "acme/catalog-api-tests", Timeout: "10m"},
	}
}

func TestApp_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(a *spacepods.App)
		field  string // the one field flagged; "" = valid
		msg    string // part of its message
	}{
		{"valid", func(*spacepods.App) {}, "", ""},
		{"valid worker", func(a *spacepods.App) { a.Kind, a.Port, a.Health = spacepods.KindWorker, 0, "" }, "", ""},
		{"valid without optional sections", func(a *spacepods.App) {
			*a = spacepods.App{Name: "web", Repo: "acme/web", Kind: spacepods.KindWeb, Port: 80}
		}, "", ""},
		{"valid args without command", func(a *spacepods.App) { a.Command = nil }, "", ""},
		{"valid worker with args only", func(a *spacepods.App) { a.Workers[0] = spacepods.Worker{Name: "jobs", Args: []string{"worker"}} }, "", ""},
		{"valid snapshot instead of seed", func(a *spacepods.App) { a.Database.Seed, a.Database.Snapshot = "", "prod-copy" }, "", ""},
		{"valid replicas 0", func(a *spacepods.App) { a.Rollout.Replicas["qa"] = 0 }, "", ""},

		{"name missing", func(a *spacepods.App) { a.Name = "" }, "name", "name is required"},
		{"name upper case", func(a *spacepods.App) { a.Name = "Catalog" }, "name", "is not a valid name"},
		{"name starts with digit", func(a *spacepods.App) { a.Name = "1catalog" }, "name", "is not a valid name"},
		{"name ends with dash", func(a *spacepods.App) { a.Name = "catalog-" }, "name", "is not a valid name"},
		{"name too long", func(a *spacepods.App) { a.Name = strings.Repeat("a", spacepods.MaxNameLen+1) }, "name", "is not a valid name"},
		{"name like a release", func(a *spacepods.App) { a.Name = "shop-r2" }, "name", "shop-r2 is release 2 of app shop"},
		{"repo missing", func(a *spacepods.App) { a.Repo = "" }, "repo", "repo is required"},
		{"repo not owner/name", func(a *spacepods.App) { a.Repo = "catalog-api" }, "repo", "is not owner/name"},
		{"repo with a host", func(a *spacepods.App) { a.Repo = "git.example/acme/catalog-api" }, "repo", "is not owner/name"},
		{"web port zero", func(a *spacepods.App) { a.Port = 0 }, "port", "a web app needs a port"},
		{"web port too high", func(a *spacepods.App) { a.Port = 65536 }, "port", "a web app needs a port"},
		{"health not a path", func(a *spacepods.App) { a.Health = "healthz" }, "health", "must be a path starting with '/'"},
		{"worker with port", func(a *spacepods.App) { a.Kind, a.Health = spacepods.KindWorker, "" }, "port", "a worker does not serve HTTP"},
		{"worker with health", func(a *spacepods.App) { a.Kind, a.Port = spacepods.KindWorker, 0 }, "health", "a worker has no HTTP health check"},
		{"kind missing", func(a *spacepods.App) { a.Kind = "" }, "kind", "kind is required"},
		{"kind unknown", func(a *spacepods.App) { a.Kind = "cron" }, "kind", `"cron" is not a kind`},
		{"dependency invalid", func(a *spacepods.App) { a.Dependencies = []string{"Pricing"} }, "dependencies[0]", "is not a valid app name"},
		{"dependency on itself", func(a *spacepods.App) { a.Dependencies = []string{"pricing-api", "catalog-api"} }, "dependencies[1]", "cannot depend on itself"},
		{"dependency twice", func(a *spacepods.App) { a.Dependencies = []string{"pricing-api", "pricing-api"} }, "dependencies[1]", "is listed twice"},
		{"database engine", func(a *spacepods.App) { a.Database.Engine = "mysql" }, "database.engine", "is not a supported engine"},
		{"database seed and snapshot", func(a *spacepods.App) { a.Database.Snapshot = "prod-copy" }, "database", "seed and snapshot exclude each other"},
		{"database snapshot name", func(a *spacepods.App) { a.Database.Seed, a.Database.Snapshot = "", "Prod_Copy" }, "database.snapshot", "is not a valid snapshot name"},
		{"command empty argument", func(a *spacepods.App) { a.Command = []string{"/app", ""} }, "command", "empty argument"},
		{"args empty argument", func(a *spacepods.App) { a.Args = []string{""} }, "args", "empty argument"},
		{"migrate empty argument", func(a *spacepods.App) { a.Migrate = []string{"", "migrate"} }, "migrate", "empty argument"},
		{"migrate timeout not a duration", func(a *spacepods.App) { a.MigrateTimeout = "five minutes" }, "migrate_timeout", "is not a timeout from 1s to 24h"},
		{"migrate timeout too short", func(a *spacepods.App) { a.MigrateTimeout = "500ms" }, "migrate_timeout", "is not a timeout from 1s to 24h"},
		{"migrate timeout too long", func(a *spacepods.App) { a.MigrateTimeout = "25h" }, "migrate_timeout", "is not a timeout from 1s to 24h"},
		{"migrate timeout without migrate", func(a *spacepods.App) { a.Migrate = nil }, "migrate_timeout", "there is no migrate command"},
		{"env var name invalid", func(a *spacepods.App) { a.Env = map[string]string{"1X": "y"} }, "env.1X", "is not a valid env var name"},
		{"env var standard", func(a *spacepods.App) { a.Env = map[string]string{"DATABASE_URL": "x"} }, "env.DATABASE_URL", "is set by Spacepods itself"},
		{"env var is a dependency URL", func(a *spacepods.App) { a.Env = map[string]string{"PRICING_API_URL": "x"} }, "env.PRICING_API_URL", "URL of dependency pricing-api"},
		{"stages not rising", func(a *spacepods.App) { a.Rollout.Stages = []int{50, 25, 100} }, "rollout.stages[1]", "rising percentages"},
		{"stage over 100", func(a *spacepods.App) { a.Rollout.Stages = []int{50, 150, 100} }, "rollout.stages[1]", "rising percentages"},
		{"stage zero", func(a *spacepods.App) { a.Rollout.Stages = []int{0, 100} }, "rollout.stages[0]", "rising percentages"},
		{"last stage not 100", func(a *spacepods.App) { a.Rollout.Stages = []int{25, 50} }, "rollout.stages", "the last stage must be 100"},
		{"replicas env name", func(a *spacepods.App) { a.Rollout.Replicas["Prod"] = 2 }, "rollout.replicas.Prod", "is not an environment name"},
		{"replicas negative", func(a *spacepods.App) { a.Rollout.Replicas["qa"] = -1 }, "rollout.replicas.qa", "between 0 and 100"},
		{"replicas over 100", func(a *spacepods.App) { a.Rollout.Replicas["qa"] = 101 }, "rollout.replicas.qa", "between 0 and 100"},
		{"worker name invalid", func(a *spacepods.App) { a.Workers[0].Name = "Jobs" }, "workers[0].name", "is not a valid worker name"},
		{"worker twice", func(a *spacepods.App) { a.Workers = append(a.Workers, a.Workers[0]) }, "workers[1].name", "is listed twice"},
		{"worker without command", func(a *spacepods.App) { a.Workers[0].Command = nil }, "workers[0].command", "a worker needs a command"},
		{"worker command empty argument", func(a *spacepods.App) { a.Workers[0].Command = []string{"/app", ""} }, "workers[0].command", "empty argument"},
		{"worker args empty argument", func(a *spacepods.App) { a.Workers[0].Args = []string{""} }, "workers[0].args", "empty argument"},
		{"tests without image", func(a *spacepods.App) { a.Tests.Image = "" }, "tests.image", "tests need an image"},
		{"tests command empty argument", func(a *spacepods.App) { a.Tests.Command = []string{""} }, "tests.command", "empty argument"},
		{"tests args empty argument", func(a *spacepods.App) { a.Tests.Args = []string{"run", ""} }, "tests.args", "empty argument"},
		{"tests timeout", func(a *spacepods.App) { a.Tests.Timeout = "forever" }, "tests.timeout", "is not a timeout from 1s to 24h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := validApp()
			tc.change(&a)
			errs := a.Validate()
			if tc.field == "" {
				if len(errs) != 0 {
					t.Fatalf("valid app refused: %+v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Message, tc.msg) {
				t.Fatalf("errors %+v, want exactly one on %s containing %q", errs, tc.field, tc.msg)
			}
		})
	}
}

// TestApp_ValidateReportsEveryProblem: a manifest with several mistakes gets
// all of them at once, each with its field, so one edit fixes them all.
func TestApp_ValidateReportsEveryProblem(t *testing.T) {
	a := spacepods.App{Kind: "cron", Dependencies: []string{"x", "x"}, Rollout: spacepods.Rollout{Stages: []int{50}}}
	want := []string{"name", "repo", "kind", "dependencies[1]", "rollout.stages"}
	errs := a.Validate()
	if len(errs) != len(want) {
		t.Fatalf("got %d errors %+v, want %d (%v)", len(errs), errs, len(want), want)
	}
	for i, e := range errs {
		if e.Field != want[i] || e.Message == "" {
			t.Errorf("error %d = %+v, want field %s with a message", i, e, want[i])
		}
	}
}

func TestApp_ReplicasAndStagesDefaults(t *testing.T) {
	a := validApp()
	for _, tc := range []struct {
		name, env string
		want      int
	}{
		{"named environment", "production", 3},
		{"default", "staging", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Replicas(tc.env); got != tc.want {
				t.Fatalf("Replicas(%s) = %d, want %d", tc.env, got, tc.want)
			}
		})
	}
	bare := spacepods.App{}
	if bare.Replicas("qa") != 1 {
		t.Errorf("no replicas declared: %d, want 1", bare.Replicas("qa"))
	}
	if got := bare.Stages(); len(got) != 3 || got[2] != 100 {
		t.Errorf("no stages declared: %v, want the defaults", got)
	}
}

func TestTaskTimeout(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"empty is the default", "", true},
		{"minimum", "1s", true},
		{"maximum", "24h", true},
		{"compound", "1h30m", true},
		{"below the minimum", "999ms", false},
		{"above the maximum", "24h1s", false},
		{"no unit", "90", false},
		{"negative", "-5m", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := spacepods.TaskTimeout(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("TaskTimeout(%q) = %s, %v", tc.in, d, err)
			}
			if tc.in == "" && d != spacepods.DefaultTaskTimeout {
				t.Fatalf("TaskTimeout(\"\") = %s, want the default", d)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"simple", "qa", true},
		{"with digits and dashes", "pr-42-web", true},
		{"longest", strings.Repeat("a", spacepods.MaxNameLen), true},
		{"too long", strings.Repeat("a", spacepods.MaxNameLen+1), false},
		{"empty", "", false},
		{"upper case", "QA", false},
		{"underscore", "my_pod", false},
		{"leading digit", "1pod", false},
		{"leading dash", "-pod", false},
		{"trailing dash", "pod-", false},
		{"dot", "a.b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := spacepods.ValidateEnvName(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateEnvName(%q) = %v", tc.in, err)
			}
			if err != nil && (spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), "environment")) {
				t.Fatalf("error %v: want EINVALID naming the environment", err)
			}
		})
	}
}

func TestValidEnvVarName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"upper", "LOG_LEVEL", true},
		{"leading underscore", "_X", true},
		{"lower", "log_level", true},
		{"leading digit", "1X", false},
		{"dash", "LOG-LEVEL", false},
		{"empty", "", false},
		{"equals", "A=B", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := spacepods.ValidEnvVarName(tc.in); got != tc.ok {
				t.Fatalf("ValidEnvVarName(%q) = %v", tc.in, got)
			}
		})
	}
	if got := spacepods.EnvVarName("catalog-api"); got != "CATALOG_API" {
		t.Errorf("EnvVarName(catalog-api) = %s", got)
	}
}
