package ui_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestUI_ReleaseActionsAreOnePartial: the promote and roll-back forms are
// written once (the "release-actions" partial), and each page that shows
// them fills it with its environment and app.
func TestUI_ReleaseActionsAreOnePartial(t *testing.T) {
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{`action="/promote"`, `action="/rollback"`} {
			n := strings.Count(string(b), action)
			switch {
			case filepath.Base(f) == "partials.html" && n != 1:
				t.Errorf("%s has %d forms with %s, want 1 (in release-actions)", f, n, action)
			case filepath.Base(f) != "partials.html" && n != 0:
				t.Errorf("%s writes its own form with %s: use the release-actions partial", f, action)
			}
		}
	}

	f := newFixture(t, true)
	b := f.signIn("developer")
	qaDeploy := "/deploys/" + strconv.FormatInt(f.deploys["qa/web/2"], 10)
	form := regexp.MustCompile(`(?s)<form method="post" action="/(promote|rollback)"[^>]*>.*?</form>`)
	hidden := func(html, name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(html)
		if m == nil {
			return ""
		}
		return m[1]
	}
	for _, page := range []string{"/environments", "/environments/qa", qaDeploy} {
		status, body, _ := b.get(page)
		if status != 200 {
			t.Fatalf("%s: %d", page, status)
		}
		var promotes, rollbacks int
		for _, m := range form.FindAllStringSubmatch(body, -1) {
			html := m[0]
			if hidden(html, "csrf") != b.csrf {
				t.Errorf("%s: %s form without the session's CSRF token", page, m[1])
			}
			if hidden(html, "app") != "web" {
				continue
			}
			switch m[1] {
			case "promote":
				promotes++
				if hidden(html, "from") != "qa" || hidden(html, "to") != "staging" || !strings.Contains(html, "Promote #") {
					t.Errorf("%s: promote form %s", page, html)
				}
			case "rollback":
				rollbacks++
				if hidden(html, "env") != "qa" {
					t.Errorf("%s: rollback form %s", page, html)
				}
				if long := strings.Contains(html, `id="rollback-form"`); long != (page == qaDeploy) || long != strings.Contains(html, "to the previous release") {
					t.Errorf("%s: rollback form %s: the deploy page's (only) has the id and the long label", page, html)
				}
			}
		}
		wantPromotes := 1
		if page == qaDeploy {
			wantPromotes = 0
		}
		if promotes != wantPromotes || rollbacks != 1 {
			t.Errorf("%s: %d promote and %d rollback forms for web in qa, want %d and 1", page, promotes, rollbacks, wantPromotes)
		}
	}
}
