package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// noDriver is a runtime driver that only has logs: the fixture's deploy
// engine is not started, so deploys stay queued, and nothing here touches
// containers.
type noDriver struct{ runtime.Driver }

func (noDriver) Logs(ctx context.Context, env, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("DATABASE_URL=postgres://web:pw@db/web\n")), nil
}

// newProtectedFixture is the fixture with pods and deploys (an engine
// that is not started) and two master environments: production
// (protected), where web runs release 1 made from manifest version 1, and
// staging.
func newProtectedFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	st, cat := f.srv.Store, f.srv.Catalog
	quiet := slog.New(slog.DiscardHandler)
	engine := &deploy.Engine{Store: st, Catalog: cat, Domain: "localhost", Logger: quiet}
	f.srv.Deploys = engine
	f.srv.Pods = &pods.Service{Store: st, Catalog: cat, Engine: engine, Driver: noDriver{}, Logger: quiet}
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	for _, e := range []spacepods.Environment{
		{Name: "production", Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Protected: true, Apps: []string{}},
		{Name: "staging", Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Apps: []string{}},
	} {
		if _, err := st.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	web, err := cat.Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.RecordBuild(ctx, spacepods.Build{App: "web", Number: 2, GitSHA: "abcdef2", Branch: "main", Image: "acme/web:2"}); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"production", "staging"} {
		rel, err := st.AddRelease(ctx, spacepods.Release{Env: env, App: "web", Build: 1, Image: "acme/web:1", Command: web.Command, AppVersion: web.Version})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutEnvApp(ctx, spacepods.EnvApp{Env: env, App: "web", Build: 1, Release: rel.Number, Status: "healthy"}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func errorMessage(t *testing.T, body []byte) string {
	t.Helper()
	var eb httpjson.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	return eb.Error.Message
}

// TestAPI_ProtectedEnvironmentConfigNeedsAdmin: config writes scoped to a
// protected environment, or to "all" (which reaches it), need an admin;
// developers keep pods and unprotected environments.
func TestAPI_ProtectedEnvironmentConfigNeedsAdmin(t *testing.T) {
	f := newProtectedFixture(t)
	dev, admin := f.tokens[spacepods.RoleDeveloper], f.tokens[spacepods.RoleAdmin]
	for _, c := range []struct {
		scope  string
		secret bool
		status int
		want   string
	}{
		{"env:production", false, 403, "environment production is protected: an admin must"},
		{"env:production", true, 403, "an admin must"},
		{"all", false, 403, "scope all reaches every environment, protected production included"},
		{"pods", true, 200, ""},
		{"env:staging", false, 200, ""},
	} {
		body := map[string]any{"scope": c.scope, "secret": c.secret, "vars": map[string]string{"API_TOKEN": "v1"}}
		s, out := f.do(t, "PUT", "/api/v1/apps/web/config", dev, body)
		if s != c.status || (c.want != "" && !strings.Contains(errorMessage(t, out), c.want)) {
			t.Errorf("developer sets %s: %d %s, want %d %q", c.scope, s, out, c.status, c.want)
		}
		if s, out := f.do(t, "PUT", "/api/v1/apps/web/config", admin, body); s != 200 {
			t.Errorf("admin sets %s: %d %s", c.scope, s, out)
		}
	}
	if s, out := f.do(t, "DELETE", "/api/v1/apps/web/config/API_TOKEN?scope=env:production", dev, nil); s != 403 || !strings.Contains(errorMessage(t, out), "protected") {
		t.Errorf("developer unsets in production: %d %s", s, out)
	}
	if s, out := f.do(t, "DELETE", "/api/v1/apps/web/config/API_TOKEN?scope=env:production", admin, nil); s != 204 {
		t.Errorf("admin unsets in production: %d %s", s, out)
	}
}

// TestAPI_SnapshotOfProtectedEnvironmentNeedsAdmin: a developer may not
// snapshot a protected environment's database (its data); an admin passes
// that check (this fixture has no PostgreSQL, so the admin then gets 503).
func TestAPI_SnapshotOfProtectedEnvironmentNeedsAdmin(t *testing.T) {
	f := newProtectedFixture(t)
	dev, admin := f.tokens[spacepods.RoleDeveloper], f.tokens[spacepods.RoleAdmin]
	body := map[string]any{"env": "production", "app": "web", "name": "prod-copy"}
	if s, out := f.do(t, "POST", "/api/v1/snapshots", dev, body); s != 403 || !strings.Contains(errorMessage(t, out), "environment production is protected: only an admin may snapshot") {
		t.Fatalf("developer snapshots production: %d %s", s, out)
	}
	if s, out := f.do(t, "POST", "/api/v1/snapshots", admin, body); s != 503 || !strings.Contains(errorMessage(t, out), "PostgreSQL") {
		t.Fatalf("admin snapshots production: %d %s, want past the role check (503: no PostgreSQL here)", s, out)
	}
	body["env"] = "staging"
	if s, out := f.do(t, "POST", "/api/v1/snapshots", dev, body); s != 503 {
		t.Fatalf("developer snapshots staging: %d %s, want past the role check", s, out)
	}
}

// TestAPI_ManifestChangeReachesProtectedEnvironmentOnlyWithAdminsConfirmation
// follows a developer's re-registration of web that changes its command
// and migration: the audit log records who changed which fields; a deploy
// of a new build to production is refused with the plan (the diff, who,
// the flag); the plan endpoint shows the same; a developer cannot confirm;
// an admin confirming another manifest version is refused; an admin
// confirming the version shown queues the deploy, recorded as confirmed.
// Staging (unprotected) takes the change without confirmation.
func TestAPI_ManifestChangeReachesProtectedEnvironmentOnlyWithAdminsConfirmation(t *testing.T) {
	f := newProtectedFixture(t)
	viewer, dev, admin := f.tokens[spacepods.RoleViewer], f.tokens[spacepods.RoleDeveloper], f.tokens[spacepods.RoleAdmin]
	changed := webManifest + "command: [\"/bin/sh\", \"-c\", \"/app serve\"]\nmigrate: [\"/app\", \"migrate\", \"--force\"]\n"
	if s, out := f.do(t, "POST", "/api/v1/apps", dev, spacepods.RegisterAppRequest{Manifest: changed}); s != 200 {
		t.Fatalf("re-register: %d %s", s, out)
	}
	_, out := f.do(t, "GET", "/api/v1/audit?limit=1", admin, nil)
	var es []spacepods.AuditEntry
	json.Unmarshal(out, &es)
	if len(es) != 1 || es[0].Actor != "t-developer" || es[0].Action != "app.update" ||
		!strings.Contains(es[0].Details, `migrate: (none) → ["/app","migrate","--force"]`) || !strings.Contains(es[0].Details, `command: (none) → ["/bin/sh","-c","/app serve"]`) {
		t.Fatalf("audit of the re-registration: %s", out)
	}

	req := map[string]any{"env": "production", "app": "web", "build": 2}
	s, out := f.do(t, "POST", "/api/v1/deploys", admin, req)
	msg := errorMessage(t, out)
	for _, want := range []string{`! migrate: (none) → ["/app","migrate","--force"]`, `! command: (none) → ["/bin/sh","-c","/app serve"]`, "version 2 by t-developer", "--confirm-manifest-change 2", "production is protected"} {
		if s != 409 || !strings.Contains(msg, want) {
			t.Errorf("unconfirmed deploy to production: %d, message lacks %q:\n%s", s, want, msg)
		}
	}

	s, out = f.do(t, "POST", "/api/v1/deploys/plan", viewer, req)
	var plan spacepods.DeployPlan
	if err := json.Unmarshal(out, &plan); s != 200 || err != nil {
		t.Fatalf("plan: %d %s", s, out)
	}
	if !plan.NeedsConfirmation || plan.LiveRelease != 1 || plan.LiveManifest != 1 || plan.Manifest != 2 || len(plan.Changes) != 2 ||
		len(plan.Registrations) != 1 || plan.Registrations[0].By != "t-developer" || len(plan.Registrations[0].Changes) != 2 {
		t.Fatalf("plan: %s", out)
	}

	req["confirm_manifest_version"] = 2
	if s, out := f.do(t, "POST", "/api/v1/deploys", dev, req); s != 403 {
		t.Fatalf("developer confirming: %d %s", s, out)
	}
	req["confirm_manifest_version"] = 1
	if s, out := f.do(t, "POST", "/api/v1/deploys", admin, req); s != 409 || !strings.Contains(errorMessage(t, out), "you confirmed manifest version 1, but web is at version 2") {
		t.Fatalf("admin confirming another version: %d %s", s, out)
	}
	req["confirm_manifest_version"] = 2
	s, out = f.do(t, "POST", "/api/v1/deploys", admin, req)
	var d spacepods.Deploy
	if err := json.Unmarshal(out, &d); s != 202 || err != nil || d.ConfirmedBy != "t-admin" || d.ManifestVersion != 2 || d.Status != spacepods.DeployQueued {
		t.Fatalf("confirmed deploy: %d %s", s, out)
	}
	_, out = f.do(t, "GET", "/api/v1/audit?limit=1", admin, nil)
	if !strings.Contains(string(out), "confirmed by t-admin") {
		t.Fatalf("audit of the confirmed deploy: %s", out)
	}

	// Promote and config apply into production are held to the same rule.
	if s, out := f.do(t, "POST", "/api/v1/promote", admin, map[string]any{"app": "web", "from": "staging", "to": "production"}); s != 409 || !strings.Contains(errorMessage(t, out), "--confirm-manifest-change 2") {
		t.Fatalf("unconfirmed promote: %d %s", s, out)
	}
	if s, out := f.do(t, "POST", "/api/v1/apps/web/config/apply", admin, map[string]any{"env": "production"}); s != 409 {
		t.Fatalf("unconfirmed config apply: %d %s", s, out)
	}
	if s, out := f.do(t, "POST", "/api/v1/promote", admin, map[string]any{"app": "web", "from": "staging", "to": "production", "confirm_manifest_version": 2}); s != 202 {
		t.Fatalf("confirmed promote: %d %s", s, out)
	}

	// An unprotected environment takes the change without confirmation,
	// and a rollback (an earlier release as it ran) needs none either.
	if s, out := f.do(t, "POST", "/api/v1/deploys", dev, map[string]any{"env": "staging", "app": "web", "build": 2}); s != 202 {
		t.Fatalf("deploy to staging: %d %s", s, out)
	}
	s, out = f.do(t, "POST", "/api/v1/deploys/plan", dev, map[string]any{"env": "staging", "app": "web", "build": 2})
	if err := json.Unmarshal(out, &plan); s != 200 || err != nil || plan.NeedsConfirmation || len(plan.Changes) != 2 {
		t.Fatalf("plan in staging: %d %s", s, out)
	}
}

// TestAPI_ProtectedEnvironmentLogsNeedAdmin: logs carry what apps print
// (connection strings, tokens): a protected environment's are for admins.
func TestAPI_ProtectedEnvironmentLogsNeedAdmin(t *testing.T) {
	f := newProtectedFixture(t)
	dev, admin := f.tokens[spacepods.RoleDeveloper], f.tokens[spacepods.RoleAdmin]
	if s, out := f.do(t, "GET", "/api/v1/pods/production/apps/web/logs", dev, nil); s != 403 || !strings.Contains(errorMessage(t, out), "only admins read its logs") {
		t.Fatalf("developer reads production's logs: %d %s", s, out)
	}
	if s, out := f.do(t, "GET", "/api/v1/pods/production/apps/web/logs", admin, nil); s != 200 || !strings.Contains(string(out), "DATABASE_URL") {
		t.Fatalf("admin reads production's logs: %d %s", s, out)
	}
	if s, out := f.do(t, "GET", "/api/v1/pods/staging/apps/web/logs", dev, nil); s != 200 {
		t.Fatalf("developer reads staging's logs: %d %s", s, out)
	}
}

// TestAPI_DeployToAPodIsRefusedByTheEngine: a pod takes no direct deploy
// (the engine's rule, whose error the API hands on), while a redeploy of
// what runs in it, such as a config apply, is queued.
func TestAPI_DeployToAPodIsRefusedByTheEngine(t *testing.T) {
	f := newRuntimeFixture(t, 0, nil)
	f.seedPod(t, "p1", "t-developer")
	dev := f.tokens[spacepods.RoleDeveloper]
	s, out := f.do(t, "POST", "/api/v1/deploys", dev, map[string]any{"env": "p1", "app": "web", "build": 1})
	if msg := errorMessage(t, out); s != 400 || !strings.Contains(msg, "p1 is a pod: pods take no direct deploys") || !strings.Contains(msg, "spacepods pod update p1 --build web=1") {
		t.Fatalf("deploy to pod p1: %d %s, want 400 with the engine's refusal", s, out)
	}
	if ds, _ := f.srv.Store.ListDeploys(context.Background(), "p1", "web", 10); len(ds) != 0 {
		t.Fatalf("the refused deploy was queued: %+v", ds)
	}
	if s, out := f.do(t, "POST", "/api/v1/apps/web/config/apply", dev, map[string]any{"env": "p1"}); s != 202 {
		t.Fatalf("config apply in pod p1: %d %s, want 202 (queued)", s, out)
	}
}
