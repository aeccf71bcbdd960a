package ui_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestUI_PodPageShowsTestRunsAndLinksBackToThePR: a pull request's pod page
// links to the PR, says when it gets no secrets, and lists its test runs,
// each linking to a page with the run's whole output (the target of the
// PR's spacepods/tests status).
func TestUI_PodPageShowsTestRunsAndLinksBackToThePR(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if _, err := f.st.CreateEnvironment(admin, spacepods.Environment{Name: "pr-7-web", Kind: spacepods.EnvPod, Owner: "previews", Status: spacepods.StatusReady,
		Apps: []string{"web"}, ExpiresAt: &exp, PRURL: "http://forge.test/acme/web/pulls/7", NoSecrets: true}); err != nil {
		t.Fatal(err)
	}
	run, err := f.st.AddTestRun(admin, spacepods.TestRun{Env: "pr-7-web", App: "web", Build: 2, Image: "acme/web-tests:1", Trigger: "pr acme/web#7"})
	if err != nil {
		t.Fatal(err)
	}
	run.Status, run.ExitCode, run.LogTail = spacepods.TestFailed, 1, "FAIL checkout"
	if _, err := f.st.FinishTestRun(ctx, run, "ok   GET /\nFAIL checkout <script>\n"); err != nil {
		t.Fatal(err)
	}
	b := f.signIn(spacepods.RoleViewer)
	status, body, _ := b.get("/pods/pr-7-web")
	if status != 200 {
		t.Fatalf("pod page: %d\n%s", status, body)
	}
	for _, want := range []string{`id="pr-link" href="http://forge.test/acme/web/pulls/7"`, "no secrets", `href="/tests/` + strconv.FormatInt(run.ID, 10) + `"`, `s-failed`} {
		if !strings.Contains(body, want) {
			t.Fatalf("pod page lacks %q", want)
		}
	}
	status, body, _ = b.get("/tests/" + strconv.FormatInt(run.ID, 10))
	if status != 200 || !strings.Contains(body, "FAIL checkout &lt;script&gt;") || !strings.Contains(body, `href="/pods/pr-7-web"`) {
		t.Fatalf("test page: %d\n%s", status, body)
	}
	if status, _, _ := b.get("/tests/999"); status != 404 {
		t.Fatalf("missing run: %d", status)
	}
}
