package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/testenv"
	"github.com/spacepods/spacepods/internal/ui"
)

// oidcSite is a UI that offers sign-in through the real test Gitea, as an
// OAuth2 application registered there, with the role mapping given.
func oidcSite(t *testing.T, g *testenv.GiteaForge, roles []string) (*fixture, string) {
	t.Helper()
	f := newFixture(t, false)
	var mu sync.Mutex
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hh := h
		mu.Unlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	g.API(t, "", "POST", "/user/applications/oauth2", map[string]any{"name": testenv.Unique("spacepods"),
		"redirect_uris": []string{ts.URL + "/auth/oidc/callback"}, "confidential_client": true}, &app)
	mappings, err := auth.ParseRoleMappings(roles)
	if err != nil {
		t.Fatal(err)
	}
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: g.URL, ClientID: app.ClientID, ClientSecret: app.ClientSecret,
		RedirectURL: ts.URL + "/auth/oidc/callback", Label: "Gitea", Roles: mappings}, f.auth, f.st)
	if err != nil {
		t.Fatal(err)
	}
	u := ui.New(ui.Config{Catalog: f.cat, Auth: f.auth, Config: f.config, Store: f.st, Version: "test", OIDC: o, Streams: f.streams})
	t.Cleanup(u.Close)
	mu.Lock()
	h = u
	mu.Unlock()
	return f, ts.URL
}

// signInThroughGitea drives Chromium from Spacepods' sign-in page through
// Gitea's own sign-in form and its "authorize application" page.
func signInThroughGitea(t *testing.T, base string, user testenv.GiteaUser) context.Context {
	t.Helper()
	ctx := newBrowser(t)
	step(t, ctx, 30*time.Second, "open Spacepods' sign-in page and choose Gitea",
		chromedp.Navigate(base+"/apps"),
		chromedp.WaitVisible(chromedp.ID("sign-in-oidc")),
		chromedp.Click(chromedp.ID("sign-in-oidc")),
		chromedp.WaitReady(chromedp.ID("user_name")),
	)
	step(t, ctx, 30*time.Second, "sign in on Gitea's form",
		chromedp.SendKeys(chromedp.ID("user_name"), user.Login),
		chromedp.SendKeys(chromedp.ID("password"), user.Password),
		chromedp.Submit(chromedp.ID("password")),
	)
	step(t, ctx, 30*time.Second, "authorize the application on Gitea",
		chromedp.WaitReady(chromedp.ID("authorize-app")),
		chromedp.Click(chromedp.ID("authorize-app")),
	)
	return ctx
}

func TestOIDC_SignInThroughGiteaInChromium(t *testing.T) {
	g := testenv.Gitea(t)
	org := testenv.Unique("acme")
	g.CreateOrg(t, org)
	var team struct {
		ID int64 `json:"id"`
	}
	g.API(t, "", "POST", "/orgs/"+org+"/teams", map[string]any{"name": "platform", "permission": "write",
		"units": []string{"repo.code", "repo.pulls"}}, &team)
	alice := g.CreateUser(t, testenv.Unique("alice"))
	bob := g.CreateUser(t, testenv.Unique("bob"))
	g.API(t, "", "PUT", "/teams/"+strconv.FormatInt(team.ID, 10)+"/members/"+alice.Login, nil, nil)

	f, base := oidcSite(t, g, []string{org + ":platform=developer", org + ":owners=admin"})

	// Alice is in acme:platform: she signs in as a developer, and lands on
	// the page she asked for.
	b := signInThroughGitea(t, base, alice)
	step(t, b, 30*time.Second, "come back signed in", chromedp.WaitVisible(chromedp.CSS(`.who`)))
	who := eval[string](t, b, `document.querySelector('.who').textContent`)
	if !strings.Contains(who, "oidc:"+alice.Login) || !strings.Contains(who, "developer") {
		t.Fatalf("signed in as %q, want oidc:%s developer", who, alice.Login)
	}
	if loc := eval[string](t, b, `location.pathname`); loc != "/apps" {
		t.Fatalf("landed on %s, want /apps", loc)
	}
	toks, err := f.st.ListTokens(admin)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, tk := range toks {
		found = found || (tk.Name == "oidc:"+alice.Login && tk.Role == "developer")
	}
	if !found {
		t.Fatalf("no developer token record for alice: %+v", toks)
	}

	// Bob is in no mapped group: refused, with why.
	bb := signInThroughGitea(t, base, bob)
	step(t, bb, 30*time.Second, "come back refused", chromedp.WaitVisible(chromedp.CSS(`.flash.err`)))
	msg := eval[string](t, bb, `document.querySelector('.flash.err').innerText`)
	if !strings.Contains(msg, bob.Login+" is in none of the groups") {
		t.Fatalf("bob's refusal says %q", msg)
	}
	if n := eval[int](t, bb, `document.querySelectorAll('.who').length`); n != 0 {
		t.Fatal("bob is signed in")
	}
}

// A callback that this browser did not start (no state cookie, or another
// state) is refused before any code is exchanged.
func TestOIDC_CallbackRefusesAStateThisBrowserDidNotStart(t *testing.T) {
	f := newFixture(t, false)
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s", RedirectURL: "http://sp/cb", Label: "Gitea"}, f.auth, f.st)
	if err != nil {
		t.Fatal(err)
	}
	u := ui.New(ui.Config{Catalog: f.cat, Auth: f.auth, Store: f.st, Version: "test", OIDC: o, Streams: f.streams})
	ts := httptest.NewServer(u)
	t.Cleanup(ts.Close)
	t.Cleanup(u.Close)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(ts.URL + "/auth/oidc/callback?code=stolen&state=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback without this browser's state: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie && ck.Value != "" {
			t.Fatal("a session was opened")
		}
	}
	req, _ := http.NewRequest("GET", ts.URL+"/auth/oidc/callback?code=stolen&state=abc", nil)
	req.AddCookie(&http.Cookie{Name: "spacepods_oidc", Value: "abc.nonce.Lw.forged-signature"})
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback with a forged state cookie: %d", resp.StatusCode)
	}
	// The sign-in page offers the provider.
	resp, err = c.Get(ts.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	_, _ = io.Copy(body, resp.Body)
	if !strings.Contains(body.String(), `id="sign-in-oidc"`) || !strings.Contains(body.String(), "Sign in with Gitea") {
		t.Fatal("the sign-in page does not offer Gitea")
	}
}
