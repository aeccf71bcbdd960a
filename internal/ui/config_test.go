package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

const secretValue = "s3cr3t-Value-9f2c"

// seedConfig sets, as an admin, a plain var for all environments and a
// secret for qa on the app api.
func (f *fixture) seedConfig() {
	f.t.Helper()
	app, err := f.cat.Get(admin, "api")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.config.Set(admin, app, spacepods.SetConfigRequest{Scope: "all", Vars: map[string]string{"LOG_FORMAT": "json"}}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.config.Set(admin, app, spacepods.SetConfigRequest{Scope: "env:qa", Vars: map[string]string{"API_TOKEN": secretValue}, Secret: true}); err != nil {
		f.t.Fatal(err)
	}
}

// configVar returns the stored var (secret values stay in the secret store).
func (f *fixture) configVar(scope, key string) (spacepods.ConfigVar, bool) {
	f.t.Helper()
	vars, err := f.st.ConfigVars(context.Background(), "api")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, v := range vars {
		if v.Scope == scope && v.Key == key {
			return v, true
		}
	}
	return spacepods.ConfigVar{}, false
}

func (f *fixture) audits(action string) []spacepods.AuditEntry {
	f.t.Helper()
	all, err := f.st.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []spacepods.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func TestUI_ConfigEditor_ViewerSeesTheTablesButNoFormsAndNoSecretValues(t *testing.T) {
	f := newFixture(t, true)
	f.seedConfig()
	v := f.signIn("viewer")
	status, body, _ := v.get("/apps/api")
	if status != 200 {
		t.Fatalf("%d\n%s", status, body)
	}
	for _, s := range []string{`data-scope="all"`, `data-scope="pods"`, `data-scope="env:qa"`, "LOG_FORMAT", "<code class=\"wrap\">json</code>", "API_TOKEN", `<span class="tag secret">secret</span>`, "set by setup"} {
		if !strings.Contains(body, s) {
			t.Errorf("viewer's app page lacks %q", s)
		}
	}
	if strings.Contains(body, secretValue) {
		t.Fatal("the viewer's page holds the secret value")
	}
	if forms := mutatingForms(body); len(forms) > 0 {
		t.Errorf("viewer sees forms: %v", forms)
	}
	status, body, _ = v.post("/apps/api/config", url.Values{"key": {"X"}, "value": {"1"}})
	if status != http.StatusForbidden || !strings.Contains(body, "has the role viewer") {
		t.Fatalf("viewer set: %d\n%s", status, body)
	}
	if _, ok := f.configVar("all", "X"); ok {
		t.Fatal("the viewer's POST set a var")
	}
}

func TestUI_ConfigEditor_DeveloperSetsVarsAndSecretsButNeverSeesSecretValues(t *testing.T) {
	f := newFixture(t, true)
	f.seedConfig()
	dev := f.signIn("developer")

	// Without the session's CSRF token the form is refused.
	resp := dev.postRaw("/apps/api/config", url.Values{"key": {"FEATURE_X"}, "value": {"on"}, "scope": {"all"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(readAll(resp), "reload the page") {
		t.Fatalf("set without CSRF: %d", resp.StatusCode)
	}
	if _, ok := f.configVar("all", "FEATURE_X"); ok {
		t.Fatal("a POST without CSRF token set a var")
	}

	status, body, loc := dev.post("/apps/api/config", url.Values{"key": {"FEATURE_X"}, "value": {"on"}, "scope": {"all"}})
	if status != http.StatusSeeOther || loc != "/apps/api?done=config-set#env-vars" {
		t.Fatalf("set: %d → %q\n%s", status, loc, body)
	}
	if v, ok := f.configVar("all", "FEATURE_X"); !ok || v.Value != "on" || v.UpdatedBy != "t-developer" {
		t.Fatalf("stored: %+v %v", v, ok)
	}
	// A secret for a pod, named in the free-text field (a new scope).
	status, body, _ = dev.post("/apps/api/config", url.Values{"key": {"DB_PASSWORD"}, "value": {"hunter2-" + secretValue}, "scope": {"all"}, "env": {"p1"}, "secret": {"1"}})
	if status != http.StatusSeeOther {
		t.Fatalf("set secret: %d\n%s", status, body)
	}
	v, ok := f.configVar("env:p1", "DB_PASSWORD")
	if !ok || !v.Secret || v.Value != "" || f.secrets.Value(v.SecretRef) != "hunter2-"+secretValue {
		t.Fatalf("the secret is not stored as one: %+v %v", v, ok)
	}

	status, body, _ = dev.get("/apps/api?done=config-set")
	if status != 200 {
		t.Fatalf("%d\n%s", status, body)
	}
	for _, s := range []string{"Saved.", "FEATURE_X", `data-scope="env:p1"`, "DB_PASSWORD", `<span class="tag secret">secret</span>`, "set by t-developer"} {
		if !strings.Contains(body, s) {
			t.Errorf("developer's app page lacks %q", s)
		}
	}
	forms := mutatingForms(body)
	for _, want := range []string{"/apps/api/config#env-vars", "/apps/api/config/unset#env-vars"} {
		if !slices.Contains(forms, want) {
			t.Errorf("developer has no form to %s: %v", want, forms)
		}
	}
	if slices.Contains(forms, "/apps/api/config/reveal#env-vars") || strings.Contains(body, `name="override"`) {
		t.Error("developer sees admin-only reveal or override controls")
	}
	// Developers cannot reveal, nor override a standard var.
	status, body, _ = dev.post("/apps/api/config/reveal", url.Values{"scope": {"env:qa"}, "key": {"API_TOKEN"}})
	if status != http.StatusForbidden {
		t.Fatalf("developer reveal: %d\n%s", status, body)
	}
	status, body, _ = dev.post("/apps/api/config", url.Values{"key": {"PORT"}, "value": {"1"}, "override": {"1"}})
	if status != http.StatusForbidden || !strings.Contains(body, "only admins may override") {
		t.Fatalf("developer override: %d\n%s", status, body)
	}
	if n := len(f.audits("config.reveal")); n != 0 {
		t.Fatalf("%d config.reveal audit entries after a developer's attempts", n)
	}
	// No page a developer can open holds a secret value.
	for _, p := range []string{"/", "/apps", "/apps/api", "/apps/web", "/pods/p1", "/environments/qa"} {
		_, page, _ := dev.get(p)
		if strings.Contains(page, secretValue) {
			t.Errorf("developer's %s holds a secret value", p)
		}
	}

	// Unset from the row's button.
	status, _, loc = dev.post("/apps/api/config/unset", url.Values{"scope": {"all"}, "key": {"FEATURE_X"}})
	if status != http.StatusSeeOther || loc != "/apps/api?done=config-unset#env-vars" {
		t.Fatalf("unset: %d → %q", status, loc)
	}
	if _, ok := f.configVar("all", "FEATURE_X"); ok {
		t.Fatal("unset left the var")
	}
	status, _, _ = dev.post("/apps/api/config/unset", url.Values{"scope": {"env:p1"}, "key": {"DB_PASSWORD"}})
	if ok := f.secrets.Value(v.SecretRef) != ""; status != http.StatusSeeOther || ok {
		t.Fatalf("unset secret: %d, still in the secret store: %v", status, ok)
	}
}

func TestUI_ConfigEditor_AdminRevealShowsTheValueAndIsAudited(t *testing.T) {
	f := newFixture(t, true)
	f.seedConfig()
	a := f.signIn("admin")
	_, body, _ := a.get("/apps/api")
	if strings.Contains(body, secretValue) {
		t.Fatal("the admin's page shows the secret before a reveal")
	}
	if !slices.Contains(mutatingForms(body), "/apps/api/config/reveal#env-vars") {
		t.Fatalf("admin has no reveal form: %v", mutatingForms(body))
	}
	if n := len(f.audits("config.reveal")); n != 0 {
		t.Fatalf("%d reveal audit entries before any reveal", n)
	}
	// Without CSRF token: refused, nothing revealed, nothing audited.
	resp := a.postRaw("/apps/api/config/reveal", url.Values{"scope": {"env:qa"}, "key": {"API_TOKEN"}})
	if page := readAll(resp); resp.StatusCode != http.StatusForbidden || strings.Contains(page, secretValue) {
		t.Fatalf("reveal without CSRF: %d", resp.StatusCode)
	}
	status, body, _ := a.post("/apps/api/config/reveal", url.Values{"scope": {"env:qa"}, "key": {"API_TOKEN"}})
	if status != 200 || !strings.Contains(body, `<code class="wrap revealed">`+secretValue+`</code>`) || !strings.Contains(body, "revealed (audited)") {
		t.Fatalf("reveal: %d\n%s", status, body)
	}
	got := f.audits("config.reveal")
	if len(got) != 1 || got[0].Actor != "t-admin" || got[0].Target != "api" || !strings.Contains(got[0].Details, "env:qa") {
		t.Fatalf("reveal audit entries: %+v", got)
	}
	// An admin may override a standard var on purpose.
	status, body, _ = a.post("/apps/api/config", url.Values{"key": {"PORT"}, "value": {"9090"}, "scope": {"env:qa"}, "override": {"1"}})
	if v, ok := f.configVar("env:qa", "PORT"); status != http.StatusSeeOther || !ok || !v.Override {
		t.Fatalf("admin override: %d %+v\n%s", status, v, body)
	}
}

func TestUI_ConfigEditor_BadInputShowsTheServicesMessage(t *testing.T) {
	f := newFixture(t, true)
	dev := f.signIn("developer")
	cases := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"invalid name", url.Values{"key": {"1BAD-NAME"}, "value": {"x"}}, 400, "is not a valid env var name"},
		{"empty name", url.Values{"key": {""}, "value": {"x"}}, 400, "is not a valid env var name"},
		{"standard var", url.Values{"key": {"PORT"}, "value": {"1"}}, 400, "PORT is set by Spacepods itself"},
		{"dependency URL", url.Values{"key": {"API_URL"}, "value": {"x"}}, 200, ""}, // api has no dependencies: allowed
		{"too large", url.Values{"key": {"BIG"}, "value": {strings.Repeat("x", spacepods.MaxConfigValue+1)}}, 413, "over the limit"},
		{"bad scope", url.Values{"key": {"OK_NAME"}, "value": {"x"}, "env": {"Bad_Env"}}, 400, "Bad_Env"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := dev.post("/apps/api/config", tc.form)
			if tc.want == "" {
				if status != http.StatusSeeOther {
					t.Fatalf("%d\n%s", status, body)
				}
				return
			}
			if status != tc.status || !strings.Contains(body, `id="config-error"`) || !strings.Contains(body, tc.want) || !strings.Contains(body, `id="config-form"`) {
				t.Fatalf("%d, want %d with %q on the app page:\n%s", status, tc.status, tc.want, body)
			}
			if k := tc.form.Get("key"); k != "" && !strings.Contains(body, `value="`+k+`"`) {
				t.Errorf("the form lost the name %s", k)
			}
		})
	}
	vars, _ := f.st.ConfigVars(context.Background(), "api")
	if len(vars) != 1 || vars[0].Key != "API_URL" {
		t.Fatalf("bad input stored vars: %+v", vars)
	}
	// A failed secret is not echoed back.
	status, body, _ := dev.post("/apps/api/config", url.Values{"key": {"PORT"}, "value": {secretValue}, "secret": {"1"}})
	if status != 400 || strings.Contains(body, secretValue) {
		t.Fatalf("failed secret: %d, value echoed: %v", status, strings.Contains(body, secretValue))
	}
}
