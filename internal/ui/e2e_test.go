package ui_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/ui"
)

// TestUI_EndToEndInChromium drives the UI in headless chromium against a
// whole real stack in-process (SQLite store, catalog with the example apps
// and their image builds, Docker driver, edge router on loopback ports,
// databases on the test PostgreSQL, deploy engine and pods service): an
// admin signs in through the form, creates qa and staging, deploys and
// promotes pricing-api, creates a storefront pod through the New pod form,
// watches it become ready, opens the storefront through the router, sets an
// env var from the app page's editor, then a viewer finds no mutating buttons, and the admin destroys the pod. With
// SPACEPODS_UI_SCREENSHOTS=1 it saves the screenshots in docs/screenshots.
func TestUI_EndToEndInChromium(t *testing.T) {
	requireChromium(t)
	began := time.Now()
	lap := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	stack := podstest.Start(t, podstest.Config{})
	lap("stack up")

	ctx := context.Background()
	a := &auth.Service{Store: stack.Store}
	sys := spacepods.WithActor(ctx, &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	adminSecret, _, err := a.Create(sys, "ada", spacepods.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	viewerSecret, _, err := a.Create(sys, "vic", spacepods.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	webUI := ui.New(ui.Config{Catalog: stack.Catalog, Auth: a, Config: &config.Service{Store: stack.Store}, Pods: stack.Pods, Deploys: stack.Engine(), Store: stack.Store,
		Logger: stack.Logger.With("component", "ui"), Version: "e2e"})
	srv := &server.Server{Catalog: stack.Catalog, Auth: a, Pods: stack.Pods, Deploys: stack.Engine(), Store: stack.Store, Logger: slog.New(slog.DiscardHandler), Version: "e2e", UI: webUI}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(webUI.Close) // runs first: ends live streams so that ts.Close need not wait
	base := ts.URL

	b := newBrowser(t)
	lap("chromium up")
	shots := newScreenshots(t)
	qa, staging, pod := stack.EnvName("qa"), stack.EnvName("staging"), stack.EnvName("pod")

	signIn := func(secret, who string) {
		step(t, b, 20*time.Second, "sign in as "+who,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), secret),
			chromedp.Click(chromedp.ID("sign-in")),
			chromedp.WaitVisible(chromedp.CSS(`.who`)),
		)
		if got := eval[string](t, b, `document.querySelector('.who').textContent`); !strings.Contains(got, who) {
			t.Fatalf("signed in as %q, want %s", got, who)
		}
	}
	signOut := func() {
		step(t, b, 20*time.Second, "sign out", chromedp.Click(chromedp.CSS(`form.logout button`)), chromedp.WaitVisible(chromedp.ID("token")))
	}
	// waitStatus waits until #status says one of the final statuses (the
	// page updates itself over Server-Sent Events) and returns it.
	waitStatus := func(what string, d time.Duration, final ...string) string {
		t.Helper()
		list := `['` + strings.Join(final, `','`) + `']`
		expr := `(function(){ var s = document.querySelector('#status'); if (!s) return false; var v = s.getAttribute('data-status'); return ` + list + `.indexOf(v) >= 0 && s.textContent.trim().replace('_',' ').indexOf(v.replace('_',' ')) >= 0 ? v : false; })()`
		sctx, cancel := context.WithTimeout(b, d+5*time.Second)
		defer cancel()
		got, err := chromedp.Run(sctx, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(200*time.Millisecond)))
		if err != nil {
			text := eval[string](t, b, `document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 4000) : document.location.href`)
			t.Fatalf("%s: %v\npage:\n%s", what, err, text)
		}
		return got
	}
	postForms := func() []string {
		return eval[[]string](t, b, `Array.from(document.querySelectorAll('form[method=post]')).filter(function(f){ return !f.classList.contains('logout') }).map(function(f){ return f.getAttribute('action') })`)
	}

	// 1. Admin signs in through the form and makes two master environments.
	signIn(adminSecret, "ada")
	for _, env := range []string{qa, staging} {
		step(t, b, 20*time.Second, "create environment "+env,
			chromedp.Navigate(base+"/environments"),
			chromedp.SendKeys(chromedp.ID("env-name"), env),
			chromedp.Click(chromedp.CSS(`#create-env-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.ID("summary")),
		)
	}
	lap("qa and staging created")

	// 2. Deploy pricing-api build 1 to qa from its app page, watch the
	// deploy page finish, then promote it to staging.
	step(t, b, 20*time.Second, "deploy pricing-api to qa",
		chromedp.Navigate(base+"/apps/pricing-api"),
		chromedp.SetValue(chromedp.ID("deploy-env"), qa),
		chromedp.Click(chromedp.CSS(`#deploy-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("timeline")),
	)
	if got := waitStatus("deploy to qa", 60*time.Second, "completed", "rolled_back", "failed"); got != "completed" {
		t.Fatalf("deploy to qa ended %s", got)
	}
	step(t, b, 20*time.Second, "promote pricing-api to staging",
		chromedp.Navigate(base+"/environments"),
		chromedp.Click(chromedp.CSS(`#env-`+qa+` button[data-promote="pricing-api"]`)),
		chromedp.WaitVisible(chromedp.ID("timeline")),
	)
	if got := waitStatus("promote to staging", 60*time.Second, "completed", "rolled_back", "failed"); got != "completed" {
		t.Fatalf("promote to staging ended %s", got)
	}
	lap("pricing-api deployed to qa and promoted to staging")

	// 3. New pod: pick storefront, look at the plan, create, watch it become ready.
	step(t, b, 20*time.Second, "plan a storefront pod",
		chromedp.Navigate(base+"/pods/new"),
		chromedp.SetValue(chromedp.ID("name"), pod),
		chromedp.Click(chromedp.CSS(`input[name=app][value=storefront]`)),
		chromedp.Click(chromedp.ID("show-plan")),
		chromedp.WaitVisible(chromedp.ID("plan")),
	)
	planned := eval[[]string](t, b, `Array.from(document.querySelectorAll('#plan tbody tr td.strong')).map(function(td){ return td.firstChild.textContent.trim() })`)
	if !slices.Equal(planned, []string{"pricing-api", "catalog-api", "storefront"}) {
		t.Fatalf("plan lists %v, want pricing-api, catalog-api, storefront in start order", planned)
	}
	if n := eval[int](t, b, `document.querySelectorAll('#plan svg.graph g.node').length`); n != 3 {
		t.Fatalf("the plan's dependency tree has %d boxes, want 3", n)
	}
	shots.take(b, "new-pod")
	step(t, b, 20*time.Second, "create the pod",
		chromedp.Click(chromedp.ID("create-pod")),
		chromedp.WaitVisible(chromedp.ID("summary")),
	)
	lap("pod create submitted")
	if got := waitStatus("pod "+pod+" ready", 150*time.Second, "ready", "failed"); got != "ready" {
		t.Fatalf("pod ended %s", got)
	}
	lap("pod ready (seen on the pod page)")
	if n := eval[int](t, b, `document.querySelectorAll('#apps .badge.s-healthy').length`); n != 3 {
		t.Errorf("%d apps shown healthy, want 3", n)
	}
	// The status and the progress lines come as separate stream events: on
	// a loaded machine the last line may land a moment after the badge.
	if _, err := chromedp.Run(b, chromedp.Poll[chromedp.Void](`Array.from(document.querySelectorAll('#events .msg')).some(function(m){ return m.textContent.indexOf('create done') >= 0 })`,
		chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Errorf("the progress list does not show the create finishing within 15 s: %v", err)
	}

	// 4. The storefront answers through the router: from Go with the Host
	// header, and in chromium through the link on the pod page.
	status, body, err := stack.Get(podstest.Context(t, 20*time.Second), pod, "storefront", "/")
	if err != nil || status != 200 || !strings.Contains(body, "Spacepods Store") {
		t.Fatalf("storefront through the router: %d %v\n%s", status, err, body)
	}
	link := eval[string](t, b, `document.querySelector('#app-storefront a.app-url').href`)
	if !strings.HasPrefix(link, "http://storefront."+pod+".localhost:") {
		t.Fatalf("the pod page links the storefront as %q", link)
	}
	step(t, b, 20*time.Second, "open the storefront", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("h1")))
	if title := eval[string](t, b, `document.title`); title != "Spacepods Store" {
		t.Fatalf("storefront title %q", title)
	}

	// 5. Logs follow live; the pod's catalog-api deploy shows its five steps.
	step(t, b, 20*time.Second, "follow storefront logs",
		chromedp.Navigate(base+"/logs/"+pod+"/storefront"),
		chromedp.Poll[chromedp.Void](`document.getElementById('log-state').textContent.indexOf('following') >= 0 && document.getElementById('log').textContent.length > 0`, chromedp.WithPollingTimeout(15*time.Second)),
	)
	shots.take(b, "logs")
	ds, err := stack.Engine().List(ctx, pod, "catalog-api", 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("catalog-api deploy of the pod: %v %v", ds, err)
	}
	podDeploy := "/deploys/" + strconv.FormatInt(ds[0].ID, 10)
	step(t, b, 20*time.Second, "open the pod's catalog-api deploy", chromedp.Navigate(base+podDeploy), chromedp.WaitVisible(chromedp.ID("timeline")))
	if n := eval[int](t, b, `document.querySelectorAll('#timeline li.step.st-done').length`); n != 5 {
		t.Errorf("the deploy page shows %d steps done, want 5", n)
	}
	shots.take(b, "deploy")

	// 6. Set an env var from the app page's editor; it is listed under its scope.
	step(t, b, 20*time.Second, "set an env var of storefront",
		chromedp.Navigate(base+"/apps/storefront"),
		chromedp.SendKeys(chromedp.ID("config-key"), "GREETING"),
		chromedp.SendKeys(chromedp.ID("config-value"), "hello from the UI"),
		chromedp.Click(chromedp.CSS(`#config-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-scope="all"] tr[data-key="GREETING"]`)),
	)
	if got := eval[string](t, b, `document.querySelector('[data-scope="all"] tr[data-key="GREETING"] td[data-label="Value"]').textContent.trim()`); got != "hello from the UI" {
		t.Fatalf("the editor lists GREETING as %q", got)
	}

	// 7. Screenshots of the other main pages.
	for _, p := range []struct{ path, wait, name string }{
		{"/", "#matrix", "dashboard"},
		{"/pods/" + pod, "#summary", "pod"},
		{"/apps", "table", "apps"},
		{"/apps/storefront", "svg.graph", "app"},
		{"/environments", "#env-" + qa, "environments"},
		{"/audit", "table.audit", "audit"},
	} {
		step(t, b, 20*time.Second, "open "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		shots.take(b, p.name)
	}
	if got := eval[string](t, b, `document.querySelector('main').innerText`); !strings.Contains(got, "pod.create") && !strings.Contains(got, "deploy.create") {
		t.Errorf("the audit log shows no pod or deploy creation:\n%s", got)
	}
	step(t, b, 20*time.Second, "pod page on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/pods/"+pod),
		chromedp.WaitVisible(chromedp.ID("summary")),
	)
	if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the pod page is %dpx wide on a 390px phone: it must not scroll sideways", w)
	}
	shots.take(b, "pod-phone")
	step(t, b, 10*time.Second, "back to a laptop", chromedp.ResetViewport())
	lap("pages checked and screenshots taken")

	// 8. A viewer sees no button that would fail.
	signOut()
	signIn(viewerSecret, "vic")
	qaDeploys, _ := stack.Engine().List(ctx, qa, "pricing-api", 1)
	for _, p := range []string{"/pods/" + pod, podDeploy, "/deploys/" + strconv.FormatInt(qaDeploys[0].ID, 10), "/environments", "/environments/" + qa} {
		step(t, b, 20*time.Second, "viewer opens "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if forms := postForms(); len(forms) > 0 {
			t.Errorf("viewer sees forms on %s: %v", p, forms)
		}
		if n := eval[int](t, b, `document.querySelectorAll('#destroy-form, #extend-form, #update-form, #rollback-form, [data-promote], #create-env, #new-pod-link').length`); n != 0 {
			t.Errorf("viewer sees %d mutating controls on %s", n, p)
		}
	}
	signOut()
	lap("viewer checked")

	// 9. The admin destroys the pod from its page and watches it go.
	signIn(adminSecret, "ada")
	step(t, b, 20*time.Second, "destroy the pod",
		chromedp.Navigate(base+"/pods/"+pod),
		chromedp.Click(chromedp.ID("destroy-open")),
		chromedp.Click(chromedp.ID("destroy-confirm")),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")), // only on the page the destroy redirects to
	)
	waitStatus("pod destroyed", 90*time.Second, "destroyed")
	step(t, b, 5*time.Second, "the page says the pod is gone", chromedp.WaitVisible(chromedp.ID("gone")))
	if err := stack.WaitDestroyed(podstest.Context(t, 30*time.Second), pod); err != nil {
		t.Fatal(err)
	}
	lap("pod destroyed")
}
