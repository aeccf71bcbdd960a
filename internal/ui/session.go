package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// loginCookie is the pre-session nonce the sign-in form's CSRF token is
// bound to. The session itself is in auth.SessionCookie.
const loginCookie = "spacepods_login"

// session is a signed-in browser: its token (the role), its CSRF token
// (every form carries it), and its secret ID from the cookie.
type session struct {
	ID string
	auth.Session
}

// session authenticates the session cookie. (nil, nil): no cookie; (nil,
// err): a cookie whose session is not (any longer) valid: signed out,
// expired, or its token revoked.
func (u *UI) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(auth.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ss, err := u.cfg.Auth.Session(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &session{ID: c.Value, Session: ss}, nil
}

// sign derives a token from the server's key: HMAC-SHA256(key, purpose ‖ 0 ‖ value).
func (u *UI) sign(purpose, value string) string {
	m := hmac.New(sha256.New, u.csrfKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF checks a POST: it must come from a page of this site (Origin,
// when the browser sends it) and carry the session's CSRF token.
func (u *UI) checkCSRF(r *http.Request, s *session) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	if s == nil {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "you are not signed in: sign in again at /login")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "the form could not be read: reload the page and try again")
	}
	if !s.CheckCSRF(r.PostForm.Get("csrf")) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "this form has expired or did not come from a Spacepods page (its CSRF token does not match your session): reload the page and submit it again")
	}
	return nil
}

// sameOrigin rejects requests a browser marks as coming from another site.
func sameOrigin(r *http.Request) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "this form was sent from another site: open Spacepods directly and submit it there")
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		ou, err := url.Parse(o)
		if err != nil || !strings.EqualFold(ou.Host, r.Host) {
			return spacepods.Errorf(spacepods.EFORBIDDEN, "this form was sent from %s, not from this Spacepods server: open Spacepods directly and submit it there", o)
		}
	}
	return nil
}

type loginData struct {
	Next    string
	Expired bool
	// OIDC names the sign-in provider when one is configured.
	OIDC string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) error {
	if s := sessionOf(r); s != nil {
		return redirect(w, r, safeNext(r.URL.Query().Get("next")), "")
	}
	return u.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the sign-in form with a fresh nonce cookie and the CSRF
// token bound to it.
func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, errMsg string) error {
	b := make([]byte, 16)
	rand.Read(b)
	nonce := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", MaxAge: 3600, HttpOnly: true, Secure: u.cfg.Auth.HTTPS(r), SameSite: http.SameSiteStrictMode}) //nolint:gosec // Secure follows the request (HTTPS or a TLS proxy); HttpOnly and SameSite are set
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	ld := loginData{Next: safeNext(next), Expired: r.URL.Query().Get("expired") != ""}
	if u.cfg.OIDC != nil {
		ld.OIDC = u.cfg.OIDC.Label()
	}
	v := u.newView(r, "Sign in", "", ld)
	v.User = nil
	v.CSRF = u.sign("login", nonce)
	v.Error = errMsg
	return u.render(w, status, "login", v)
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "the form could not be read: reload the page and try again")
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" {
		return u.renderLogin(w, r, http.StatusForbidden, "Your browser did not send back the sign-in cookie: allow cookies for this site, then try again.")
	}
	if got := r.PostForm.Get("csrf"); got == "" || !hmac.Equal([]byte(got), []byte(u.sign("login", c.Value))) {
		return u.renderLogin(w, r, http.StatusForbidden, "This sign-in form has expired or did not come from this server: try again on this page.")
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if secret == "" {
		return u.renderLogin(w, r, http.StatusBadRequest, "Paste your API token: it starts with sp_. The first admin token is in <data-dir>/admin.token; an admin can make more with `spacepods token create --name NAME --role developer`.")
	}
	id, ss, err := u.cfg.Auth.SignIn(r.Context(), secret)
	if err != nil {
		if spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			return err
		}
		return u.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid (mistyped, or revoked): copy it again, or ask an admin for a new one.")
	}
	if old := sessionOf(r); old != nil { // signing in again replaces this browser's session
		// The old session must end before the new one starts: else a copy
		// of its cookie would keep working.
		if err := u.cfg.Auth.SignOut(r.Context(), old.ID); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, Secure: u.cfg.Auth.HTTPS(r), SameSite: http.SameSiteStrictMode}) //nolint:gosec // Secure follows the request (HTTPS or a TLS proxy); HttpOnly and SameSite are set
	u.cfg.Auth.SetCookie(w, r, id, ss)
	return redirect(w, r, safeNext(r.PostForm.Get("next")), "")
}

// logout revokes the session, so that the cookie (and any copy of it)
// stops working, and clears it from the browser.
func (u *UI) logout(w http.ResponseWriter, r *http.Request) error {
	if s := sessionOf(r); s != nil {
		if err := u.cfg.Auth.SignOut(r.Context(), s.ID); err != nil {
			return err
		}
	}
	u.cfg.Auth.ClearCookie(w, r)
	return redirect(w, r, "/login", "")
}

// safeNext keeps a post-sign-in redirect on this site: a path of this
// server, nothing a browser could read as another host. It refuses control
// characters (browsers drop tabs and newlines, so "/\t/evil.example" would
// become "//evil.example"), backslashes (read as slashes), "//" (a host),
// and anything with a scheme or host; those go to "/".
func safeNext(next string) string {
	// The path is checked as sent and as decoded ("/%09/x" decodes to a tab).
	ok := func(p string) bool {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
			return false
		}
		for _, c := range p {
			if unicode.IsControl(c) || unicode.IsSpace(c) {
				return false
			}
		}
		return true
	}
	if !ok(next) {
		return "/"
	}
	pu, err := url.Parse(next)
	if err != nil || pu.Scheme != "" || pu.Host != "" || pu.User != nil || pu.Opaque != "" || !ok(pu.Path) {
		return "/"
	}
	return next
}
