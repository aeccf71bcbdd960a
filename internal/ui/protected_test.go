package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// protectProduction adds production, a protected master environment where
// web runs release 1 of build 1, made from web's current manifest.
func (f *fixture) protectProduction() {
	t := f.t
	if _, err := f.st.CreateEnvironment(admin, spacepods.Environment{Name: "production", Kind: spacepods.EnvMaster, Owner: "setup", Status: spacepods.StatusReady, Protected: true, Apps: []string{}}); err != nil {
		t.Fatal(err)
	}
	web, err := f.cat.Get(admin, "web")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := f.st.AddRelease(admin, spacepods.Release{Env: "production", App: "web", Build: 1, Image: "acme/web:1", AppVersion: web.Version})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutEnvApp(admin, spacepods.EnvApp{Env: "production", App: "web", Build: 1, Release: rel.Number, Status: "healthy"}); err != nil {
		t.Fatal(err)
	}
}

// TestUI_DeployToProtectedEnvironmentShowsTheManifestChangesForAnAdminToConfirm:
// after a developer re-registered web with a new migration, the admin's
// deploy form answers with the plan (the diff, who registered it) and a
// confirm form; confirming queues a deploy recorded as confirmed.
func TestUI_DeployToProtectedEnvironmentShowsTheManifestChangesForAnAdminToConfirm(t *testing.T) {
	f := newFixture(t, true)
	f.protectProduction()
	bob := spacepods.WithActor(admin, &spacepods.Token{Name: "bob", Role: spacepods.RoleDeveloper})
	if _, _, err := f.cat.Register(bob, []byte(webManifest+"migrate: [\"/app\", \"migrate\", \"--force\"]\n"), ""); err != nil {
		t.Fatal(err)
	}
	a := f.signIn("admin")
	status, body, _ := a.post("/deploys", url.Values{"env": {"production"}, "app": {"web"}, "build": {"2"}})
	if status != http.StatusConflict {
		t.Fatalf("unconfirmed deploy: %d\n%s", status, body)
	}
	for _, s := range []string{"Confirm manifest changes", `data-field="migrate"`, "[&#34;/app&#34;,&#34;migrate&#34;,&#34;--force&#34;]", "by <strong>bob</strong>", `id="confirm-form"`, `name="manifest_version" value="2"`} {
		if !strings.Contains(body, s) {
			t.Errorf("plan page lacks %q", s)
		}
	}
	if ds, _ := f.st.ListDeploys(admin, "production", "web", 10); len(ds) != 0 {
		t.Fatalf("an unconfirmed deploy was queued: %+v", ds)
	}

	// A developer cannot confirm (and may not deploy there at all).
	status, _, _ = f.signIn("developer").post("/deploys", url.Values{"env": {"production"}, "app": {"web"}, "build": {"2"}, "confirm": {"1"}, "manifest_version": {"2"}})
	if status != http.StatusForbidden {
		t.Fatalf("developer confirming: %d", status)
	}

	status, body, loc := a.post("/deploys", url.Values{"env": {"production"}, "app": {"web"}, "build": {"2"}, "confirm": {"1"}, "manifest_version": {"2"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/deploys/") {
		t.Fatalf("confirmed deploy: %d → %q\n%s", status, loc, body)
	}
	ds, err := f.st.ListDeploys(admin, "production", "web", 10)
	if err != nil || len(ds) != 1 || ds[0].ConfirmedBy != "t-admin" || ds[0].ManifestVersion != 2 {
		t.Fatalf("queued deploy: %+v %v", ds, err)
	}
}

// TestUI_ConfigEditor_DeveloperCannotChangeAProtectedEnvironmentsConfig:
// the set form says why, and nothing is stored.
func TestUI_ConfigEditor_DeveloperCannotChangeAProtectedEnvironmentsConfig(t *testing.T) {
	f := newFixture(t, true)
	f.protectProduction()
	dev := f.signIn("developer")
	for _, scope := range []string{"env:production", "all"} {
		status, body, _ := dev.post("/apps/api/config", url.Values{"key": {"FEATURE_X"}, "value": {"on"}, "scope": {scope}})
		if status != http.StatusForbidden || !strings.Contains(body, "Not saved.") || !strings.Contains(body, "an admin must") {
			t.Errorf("developer sets %s: %d\n%s", scope, status, body)
		}
		if _, ok := f.configVar(scope, "FEATURE_X"); ok {
			t.Errorf("a refused write to %s was stored", scope)
		}
	}
	status, body, _ := f.signIn("admin").post("/apps/api/config", url.Values{"key": {"FEATURE_X"}, "value": {"on"}, "scope": {"env:production"}})
	if status != http.StatusSeeOther {
		t.Fatalf("admin sets production: %d\n%s", status, body)
	}
}

// TestUI_DeployFormToAPodShowsTheEnginesRefusal: the deploy form has no
// rule of its own about pods; the engine's refusal is what the user sees.
func TestUI_DeployFormToAPodShowsTheEnginesRefusal(t *testing.T) {
	f := newFixture(t, true)
	status, body, _ := f.signIn("developer").post("/deploys", url.Values{"env": {"p1"}, "app": {"web"}, "build": {"2"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "p1 is a pod: pods take no direct deploys") || !strings.Contains(body, "Update on the pod") {
		t.Fatalf("deploy form to pod p1: %d\n%s", status, body)
	}
	if ds, _ := f.st.ListDeploys(admin, "p1", "web", 100); len(ds) != 1 {
		t.Fatalf("deploys of web in p1 = %d, want only the seeded one: %+v", len(ds), ds)
	}
}
