package auth_test

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestSessions_AreTheirOwnRevocableRecords: a session is a random ID (not
// the token), stored hashed; it ends on sign-out, at expiry, and when its
// token is revoked; each has its own CSRF token.
func TestSessions_AreTheirOwnRevocableRecords(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	now := time.Now()
	svc := &auth.Service{Store: st, SessionTTL: time.Hour, Now: func() time.Time { return now }}
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	secret, _, err := svc.Create(ctx, "dev", spacepods.RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SignIn(ctx, "sp_wrong"); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("sign in with a bad token: %v", err)
	}
	id, sess, err := svc.SignIn(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(id, strings.TrimPrefix(secret, auth.TokenPrefix)) || !strings.HasPrefix(id, "sps_") || len(id) < 40 {
		t.Fatalf("session ID %q is not a fresh random secret", id)
	}
	var stored int
	st.DB().QueryRow(`SELECT count(*) FROM sessions WHERE hash = ?`, auth.Hash(id)).Scan(&stored)
	var raw int
	st.DB().QueryRow(`SELECT count(*) FROM sessions WHERE hash = ?`, id).Scan(&raw)
	if stored != 1 || raw != 0 {
		t.Fatalf("the store must hold the ID's hash only: hashed %d, raw %d", stored, raw)
	}
	if !sess.ExpiresAt.Equal(now.Add(time.Hour)) || sess.Token.Name != "dev" {
		t.Fatalf("session: %+v", sess)
	}
	got, err := svc.Session(ctx, id)
	if err != nil || got.Token.Role != spacepods.RoleDeveloper || got.CSRF != sess.CSRF || !got.CheckCSRF(sess.CSRF) || got.CheckCSRF("") {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	id2, sess2, _ := svc.SignIn(ctx, secret)
	if sess2.CSRF == sess.CSRF || got.CheckCSRF(sess2.CSRF) {
		t.Fatal("two sessions share a CSRF token")
	}
	if _, err := svc.Session(ctx, secret); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("the API token is no session ID: %v", err)
	}
	if err := svc.SignOut(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Session(ctx, id); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("after sign-out: %v", err)
	}
	if _, err := svc.Session(ctx, id2); err != nil {
		t.Fatalf("signing out one session ended another: %v", err)
	}
	if err := svc.Revoke(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Session(ctx, id2); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("after the token was revoked: %v", err)
	}
}

// TestHTTPS_BelievesXForwardedProtoOnlyFromTrustedProxies covers the Secure
// flag's input.
func TestHTTPS_BelievesXForwardedProtoOnlyFromTrustedProxies(t *testing.T) {
	proxies, err := auth.ParseTrustedProxies([]string{"10.0.0.0/8", " 192.168.1.7 ", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &auth.Service{TrustedProxies: proxies}
	cases := []struct {
		name, remote, proto string
		tls, want           bool
	}{
		{name: "tls", remote: "203.0.113.9:5000", tls: true, want: true},
		{name: "plain", remote: "203.0.113.9:5000"},
		{name: "untrusted says https", remote: "203.0.113.9:5000", proto: "https"},
		{name: "trusted CIDR says https", remote: "10.1.2.3:5000", proto: "https", want: true},
		{name: "trusted address says https", remote: "192.168.1.7:5000", proto: "HTTPS", want: true},
		{name: "trusted IPv6 says https", remote: "[::1]:5000", proto: "https", want: true},
		{name: "trusted, first of a chain", remote: "10.1.2.3:5000", proto: "https, http", want: true},
		{name: "trusted says http", remote: "10.1.2.3:5000", proto: "http"},
		{name: "next door to the trusted address", remote: "192.168.1.8:5000", proto: "https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := svc.HTTPS(r); got != c.want {
				t.Fatalf("HTTPS = %v, want %v", got, c.want)
			}
		})
	}
	if _, err := auth.ParseTrustedProxies([]string{"proxy.example"}); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "--trusted-proxy") {
		t.Fatalf("a host name: %v", err)
	}
}
