package ui_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pipeline/pipelinetest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/ui"
)

// TestUI_PipelineApprovedInChromium: a run waits at the staging gate on
// the app's pipeline page; a developer clicks Approve in Chromium and the
// page, updating itself, shows the run completed. A viewer sees no button.
func TestUI_PipelineApprovedInChromium(t *testing.T) {
	b := newBrowser(t)
	var p *pipeline.Service
	f := newFixtureWith(t, true, func(cfg *ui.Config) {
		p = &pipeline.Service{Store: cfg.Store, Catalog: cfg.Catalog, Deploys: pipelinetest.InstantDeploys{Store: cfg.Store}, Poll: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
		cfg.Pipeline = p
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); p.Wait() })
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// jobs' newest main build (2) starts a run once jobs has a pipeline.
	if _, _, err := f.cat.Register(admin, []byte(jobsManifest+"pipeline:\n  - {env: qa, tests: false}\n  - {env: staging, tests: false, approval: true}\n"), ""); err != nil {
		t.Fatal(err)
	}
	waitRun := func(status string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := f.st.GetPipelineRun(context.Background(), 1)
			if err == nil && r.Status == status {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("run 1 is %s, want %s (%v)", r.Status, status, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitRun("waiting")

	// A viewer sees the gate but no button.
	_, body, _ := f.signIn("viewer").get("/apps/jobs/pipeline")
	if !strings.Contains(body, `data-stage="staging" data-stage-status="waiting"`) || strings.Contains(body, `id="approve-1"`) {
		t.Fatalf("viewer's pipeline page:\n%s", body)
	}

	base := f.ts.URL
	step(t, b, 20*time.Second, "sign in as a developer",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), f.tokens["developer"]),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.CSS(`.who`)),
	)
	step(t, b, 20*time.Second, "open the app's pipeline from its page",
		chromedp.Navigate(base+"/apps/jobs"),
		chromedp.Click(chromedp.ID("pipeline-link")),
		chromedp.WaitVisible(chromedp.ID("approve-1")),
	)
	if got := eval[string](t, b, `document.querySelector('#run-1 [data-stage=qa]').getAttribute('data-stage-status')`); got != "passed" {
		t.Fatalf("qa stage: %s", got)
	}
	step(t, b, 20*time.Second, "approve", chromedp.Click(chromedp.ID("approve-1")))
	// The form posts and redirects back to the page: wait for it (looks
	// during the navigation fail, and are made again).
	for deadline := time.Now().Add(20 * time.Second); ; {
		sctx, scancel := context.WithTimeout(b, 2*time.Second)
		href, err := chromedp.Run(sctx, chromedp.Evaluate[string](`document.readyState === 'complete' ? location.href : ''`))
		scancel()
		if err == nil && strings.Contains(href, "done=approved") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no redirect after the approval: %q %v", href, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The page updates itself (Server-Sent Events) as the run moves on.
	pctx, pcancel := context.WithTimeout(b, 30*time.Second)
	defer pcancel()
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`(function(){ var r = document.querySelector('#run-1'); return !!r && r.getAttribute('data-status') === 'completed' && document.querySelector('#run-1 [data-stage=staging]').textContent.indexOf('approved by t-developer') >= 0; })()`,
		chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("the page never showed the run completed: %v\n%s", err, eval[string](t, b, `location.href + "\\n" + document.body.innerText`))
	}
	waitRun("completed")
	if got := eval[bool](t, b, `!!document.querySelector('#approve-1')`); got {
		t.Fatal("the approve button is still there")
	}

	// Live, without a reload: a new build's run appears, waits at the gate,
	// is approved elsewhere (the CLI, say) and shows completed. A mark on
	// the window shows that the page was not loaded again.
	eval[int](t, b, `window.spacepodsMark = 7`)
	if _, err := f.cat.RecordBuild(admin, spacepods.Build{App: "jobs", Number: 3, GitSHA: "fedcba9876", Branch: "main", Image: "acme/jobs:3"}); err != nil {
		t.Fatal(err)
	}
	live := func(what, expr string) {
		t.Helper()
		lctx, lcancel := context.WithTimeout(b, 30*time.Second)
		defer lcancel()
		if _, err := chromedp.Run(lctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, eval[string](t, b, `location.href + "\\n" + document.body.innerText`))
		}
	}
	live("run 2 waits at the gate", `!!document.querySelector('#approve-2')`)
	if _, err := p.Decide(spacepods.WithActor(context.Background(), &spacepods.Token{Name: "t-admin", Role: spacepods.RoleAdmin}), 2, true, ""); err != nil {
		t.Fatal(err)
	}
	live("run 2 completed", `(function(){ var r = document.querySelector('#run-2'); return !!r && r.getAttribute('data-status') === 'completed' && !document.querySelector('#approve-2'); })()`)
	if got := eval[int](t, b, `window.spacepodsMark || 0`); got != 7 {
		t.Fatal("the page was loaded again rather than updated in place")
	}
}
