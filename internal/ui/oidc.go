package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// oidcCookie carries one sign-in's state, nonce and next page from
// /auth/oidc/login to the callback, signed with the UI's key. SameSite=Lax:
// the provider sends the browser back with a top-level GET.
const oidcCookie = "spacepods_oidc"

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// oidcLogin starts a sign-in through the provider.
func (u *UI) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	if u.cfg.OIDC == nil {
		return spacepods.Errorf(spacepods.ENOTFOUND, "sign-in through a provider is not configured on this server: sign in with an API token, or start the server with --oidc-issuer (docs/forges.md)")
	}
	state, nonce := randomToken(), randomToken()
	next := safeNext(r.URL.Query().Get("next"))
	target, err := u.cfg.OIDC.AuthCodeURL(r.Context(), state, nonce)
	if err != nil {
		return err
	}
	val := state + "." + nonce + "." + base64.RawURLEncoding.EncodeToString([]byte(next))
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: val + "." + u.sign("oidc", val), Path: "/auth/oidc/", MaxAge: 600, //nolint:gosec // Secure follows the request (HTTPS or a TLS proxy); HttpOnly and SameSite are set
		HttpOnly: true, Secure: u.cfg.Auth.HTTPS(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// oidcCallback finishes it: the state must be this browser's, the ID token
// must check out, and the user's groups must give a role.
func (u *UI) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if u.cfg.OIDC == nil {
		return spacepods.Errorf(spacepods.ENOTFOUND, "sign-in through a provider is not configured on this server")
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return u.renderLogin(w, r, http.StatusUnauthorized, "The sign-in provider said no ("+e+": "+q.Get("error_description")+"). Try again, or sign in with an API token.")
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return u.renderLogin(w, r, http.StatusBadRequest, "This sign-in did not start here, or took over 10 minutes: start again with the button below.")
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 || !hmac.Equal([]byte(parts[3]), []byte(u.sign("oidc", strings.Join(parts[:3], ".")))) ||
		!hmac.Equal([]byte(parts[0]), []byte(q.Get("state"))) {
		return u.renderLogin(w, r, http.StatusBadRequest, "This sign-in's state does not match the one this browser started: start again with the button below.")
	}
	nextRaw, _ := base64.RawURLEncoding.DecodeString(parts[2])
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: u.cfg.Auth.HTTPS(r), SameSite: http.SameSiteLaxMode}) //nolint:gosec // Secure follows the request; HttpOnly and SameSite are set
	id, ss, who, err := u.cfg.OIDC.Finish(r.Context(), q.Get("code"), parts[1])
	if err != nil {
		switch spacepods.ErrorCode(err) {
		case spacepods.EFORBIDDEN, spacepods.EUNAUTHORIZED:
			u.log.Info("sign-in through the provider refused", "user", who.User, "groups", who.Groups, "err", spacepods.ErrorMessage(err))
			return u.renderLogin(w, r, http.StatusForbidden, spacepods.ErrorMessage(err))
		}
		return err
	}
	if old := sessionOf(r); old != nil { // as with a token: the old session ends first
		if err := u.cfg.Auth.SignOut(r.Context(), old.ID); err != nil {
			return err
		}
	}
	u.cfg.Auth.SetCookie(w, r, id, ss)
	return redirect(w, r, safeNext(string(nextRaw)), "")
}
