package catalog

import (
	"strings"
	"testing"
)

// TestParseManifest_Previews: the previews: policy parses strictly and is
// validated.
func TestParseManifest_Previews(t *testing.T) {
	base := "name: web\nrepo: acme/web\nkind: web\nport: 8080\n"
	a, err := ParseManifest([]byte(base + "previews: {when: label, label: deploy-me, ttl: 48h}\n"))
	if err != nil || a.Previews == nil || a.Previews.When != "label" || a.Previews.Label != "deploy-me" || a.Previews.TTL != "48h" {
		t.Fatalf("%+v %v", a.Previews, err)
	}
	for in, want := range map[string]string{
		"previews: {when: sometimes}\n": "previews.when",
		"previews: {ttl: forever}\n":    "previews.ttl",
		"previews: {labels: x}\n":       `unknown key "labels"`,
		"previews: label\n":             "previews",
	} {
		if _, err := ParseManifest([]byte(base + in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", in, err, want)
		}
	}
}
