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
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Cookie names. TokenCookie holds the API token itself (HttpOnly), which the
// API's auth middleware accepts too; loginCookie is the pre-session nonce
// the sign-in form's CSRF token is bound to.
const (
	TokenCookie = "spacepods_token"
	loginCookie = "spacepods_login"
)

// sessionTTL is how long the browser keeps the token cookie.
const sessionTTL = 7 * 24 * time.Hour

// session is a signed-in browser.
type session struct {
	Token spacepods.Token
	CSRF  string // the token every form of this session carries
}

// session authenticates the token cookie. (nil, nil): no cookie; (nil,
// err): a cookie whose token is not (any longer) valid.
func (u *UI) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(TokenCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	tok, err := u.cfg.Auth.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &session{Token: tok, CSRF: u.sign("csrf", c.Value)}, nil
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
	got := r.PostForm.Get("csrf")
	if got == "" || !hmac.Equal([]byte(got), []byte(s.CSRF)) {
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
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/login", MaxAge: 3600, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	v := u.newView(r, "Sign in", "", loginData{Next: safeNext(next), Expired: r.URL.Query().Get("expired") != ""})
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
	if _, err := u.cfg.Auth.Authenticate(r.Context(), secret); err != nil {
		if spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			return err
		}
		return u.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid (mistyped, or revoked): copy it again, or ask an admin for a new one.")
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: secret, Path: "/", MaxAge: int(sessionTTL.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return redirect(w, r, safeNext(r.PostForm.Get("next")), "")
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return redirect(w, r, "/login", "")
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
