package catalog

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParseManifest_Pipeline: pipeline: parses strictly (a stage is an
// environment name or a mapping) and is validated.
func TestParseManifest_Pipeline(t *testing.T) {
	base := "name: web\nrepo: acme/web\nkind: web\nport: 8080\n"
	a, err := ParseManifest([]byte(base + "pipeline:\n  - qa\n  - {env: staging, tests: false}\n  - {env: production, approval: true, approval_timeout: 2h, on_failure: hold}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(a.Pipeline)
	want := `[{"env":"qa"},{"env":"staging","tests":false},{"env":"production","approval":true,"approval_timeout":"2h","on_failure":"hold"}]`
	if string(got) != want {
		t.Fatalf("pipeline %s, want %s", got, want)
	}
	if !a.Pipeline[0].RunsTests() || a.Pipeline[1].RunsTests() || a.Pipeline[0].Policy() != "rollback" || a.Pipeline[2].Policy() != "hold" {
		t.Fatalf("defaults: %+v", a.Pipeline)
	}
	for in, want := range map[string]string{
		"pipeline: qa\n": "expected a list of stages",
		"pipeline: [{env: qa, approval: yes please}]\n":                  "pipeline[0].approval",
		"pipeline: [{env: qa, on_failure: retry}]\n":                     "pipeline[0].on_failure",
		"pipeline: [{env: qa, approval_timeout: 2h}]\n":                  "there is no approval to time out",
		"pipeline: [qa, qa]\n":                                           "qa is listed twice",
		"pipeline: [{env: qa, gate: true}]\n":                            `unknown key "gate"`,
		"pipeline: [{approval: true}]\n":                                 "env is required",
		"pipeline: [{env: qa, approval: true, approval_timeout: 1ms}]\n": "1s or more",
	} {
		if _, err := ParseManifest([]byte(base + in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", in, err, want)
		}
	}
}
