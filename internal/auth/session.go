package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// SessionCookie holds a browser's session ID (HttpOnly). The UI and, for
// reads, the REST API accept it.
const SessionCookie = "spacepods_session"

// sessionPrefix starts every session ID, so that one is not mistaken for an
// API token (and a token pasted into the cookie is no session).
const sessionPrefix = "sps_"

// DefaultSessionTTL is how long a session lasts when Service.SessionTTL is 0.
const DefaultSessionTTL = 7 * 24 * time.Hour

// SessionStore is what sessions need from the store.
type SessionStore interface {
	CreateSession(ctx context.Context, hash string, tokenID int64, expires time.Time) (spacepods.Session, error)
	SessionByHash(ctx context.Context, hash string) (spacepods.Session, error)
	RevokeSession(ctx context.Context, hash string) error
}

// Session is a live browser session and what it may do.
type Session struct {
	spacepods.Session
	// CSRF is the token every form and unsafe request of the session
	// carries: derived from the session's secret ID, so it is stable for the
	// session, useless after it, and never tells the ID.
	CSRF string
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SignIn checks an API token and opens a session for it. It returns the
// session's secret ID (for the cookie, never stored) and the session.
// EUNAUTHORIZED for a bad token.
func (s *Service) SignIn(ctx context.Context, tokenSecret string) (string, Session, error) {
	tok, err := s.Authenticate(ctx, tokenSecret)
	if err != nil {
		return "", Session{}, err
	}
	return s.openSession(ctx, tok)
}

// openSession opens a session of tok: its secret ID and the session.
func (s *Service) openSession(ctx context.Context, tok spacepods.Token) (string, Session, error) {
	id := sessionPrefix + strings.TrimPrefix(newSecret(), TokenPrefix)
	ss, err := s.Store.CreateSession(ctx, Hash(id), tok.ID, s.now().Add(s.sessionTTL()))
	if err != nil {
		return "", Session{}, err
	}
	ss.Token = tok
	return id, Session{Session: ss, CSRF: CSRFToken(id)}, nil
}

// Session returns the live session of a session ID. EUNAUTHORIZED when it
// is unknown, expired, signed out, or its token was revoked.
func (s *Service) Session(ctx context.Context, id string) (Session, error) {
	if !strings.HasPrefix(id, sessionPrefix) {
		return Session{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "your session cookie is not a Spacepods session: sign in again at /login")
	}
	ss, err := s.Store.SessionByHash(ctx, Hash(id))
	if err != nil {
		return Session{}, err
	}
	return Session{Session: ss, CSRF: CSRFToken(id)}, nil
}

// SignOut revokes a session: its cookie, even a copy, stops working.
func (s *Service) SignOut(ctx context.Context, id string) error {
	return s.Store.RevokeSession(ctx, Hash(id))
}

// CSRFToken derives a session's CSRF token from its secret ID.
func CSRFToken(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("spacepods csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether got is the session's CSRF token.
func (ss Session) CheckCSRF(got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(ss.CSRF))
}

// SetCookie gives the browser its session cookie: HttpOnly, SameSite=Lax
// (links from other sites still arrive signed in; their POSTs do not carry
// it), Secure when the request came over HTTPS.
func (s *Service) SetCookie(w http.ResponseWriter, r *http.Request, id string, ss Session) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", Expires: ss.ExpiresAt, MaxAge: int(time.Until(ss.ExpiresAt).Seconds()), //nolint:gosec // Secure follows the request (HTTPS or a TLS proxy): plain-HTTP local setups need it off; HttpOnly and SameSite are set
		HttpOnly: true, Secure: s.HTTPS(r), SameSite: http.SameSiteLaxMode})
}

// ClearCookie removes the session cookie from the browser.
func (s *Service) ClearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.HTTPS(r), SameSite: http.SameSiteLaxMode}) //nolint:gosec // Secure follows the request (HTTPS or a TLS proxy); HttpOnly and SameSite are set
}

// HTTPS reports whether the browser reached the server over HTTPS: the
// connection is TLS, or it comes from a trusted proxy (TrustedProxies) that
// says so in X-Forwarded-Proto. Anyone else's X-Forwarded-Proto is ignored.
func (s *Service) HTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if len(s.TrustedProxies) == 0 || !s.fromTrustedProxy(r) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

func (s *Service) fromTrustedProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses --trusted-proxy values: CIDRs or single
// addresses.
func ParseTrustedProxies(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "--trusted-proxy %q is not an address or CIDR: write e.g. 127.0.0.1/32 or 10.0.0.0/8", v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
