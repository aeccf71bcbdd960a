package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/spacepods/spacepods/internal/auth"
)

// TestUI_SignInAgainFailsWhenTheOldSessionCannotBeRevoked: signing in
// again from a signed-in browser first revokes its session; when that
// fails, the sign-in fails too (it used to go on, leaving the old session
// alive beside the new one).
func TestUI_SignInAgainFailsWhenTheOldSessionCannotBeRevoked(t *testing.T) {
	f := newFixture(t, false)
	old := f.signIn("developer")
	// A signed-in browser is sent away from /login: take a fresh sign-in
	// form, then hand the browser the old session's cookie (as a tab
	// opened before signing in would have).
	b := f.browser()
	status, body, _ := b.get("/login")
	if status != 200 {
		t.Fatalf("GET /login: %d", status)
	}
	csrf := csrfOf(t, body)
	site, _ := url.Parse(f.ts.URL)
	b.c.Jar.SetCookies(site, old.c.Jar.Cookies(site))
	// SQLite: a trigger refuses the revoke (an UPDATE); new sessions (INSERTs) still work.
	if _, err := f.st.DB().ExecContext(context.Background(), `CREATE TRIGGER no_revoke BEFORE UPDATE OF revoked_at ON sessions BEGIN SELECT RAISE(ABORT, 'read-only'); END`); err != nil {
		t.Fatal(err)
	}
	resp := b.postRaw("/login", url.Values{"token": {f.tokens["admin"]}, "csrf": {csrf}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("sign-in went on although the old session was not revoked: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie && c.Value != "" {
			t.Fatalf("a new session cookie was set: %+v", c)
		}
	}
}
