// Package auth issues and checks API tokens and browser sessions. Tokens
// and session IDs are random secrets; only their SHA-256 is stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TokenPrefix starts every token so that leaked ones are easy to grep for.
const TokenPrefix = "sp_"

// Store is what auth needs from the store.
type Store interface {
	CreateToken(ctx context.Context, name, role, hash string) (spacepods.Token, error)
	TokenByHash(ctx context.Context, hash string) (spacepods.Token, error)
	ListTokens(ctx context.Context) ([]spacepods.Token, error)
	DeleteToken(ctx context.Context, name string) error
	CountTokens(ctx context.Context) (int, error)
	SessionStore
}

// Service issues and checks tokens and browser sessions.
type Service struct {
	Store Store
	// SessionTTL is how long a browser session lasts (default 7 days).
	SessionTTL time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-Proto is believed
	// (--trusted-proxy): session cookies are Secure behind an HTTPS proxy.
	TrustedProxies []netip.Prefix
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Hash returns the stored form of a token secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Authenticate returns the token whose secret is given. EUNAUTHORIZED if none.
func (s *Service) Authenticate(ctx context.Context, secret string) (spacepods.Token, error) {
	if secret == "" {
		return spacepods.Token{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "missing API token: send it as 'Authorization: Bearer <token>' (the CLI reads SPACEPODS_TOKEN; the first admin token is in <data-dir>/admin.token)")
	}
	return s.Store.TokenByHash(ctx, Hash(secret))
}

// Create makes a new token and returns its secret (shown once).
func (s *Service) Create(ctx context.Context, name, role string) (string, spacepods.Token, error) {
	if err := spacepods.ValidateName("token", name); err != nil {
		return "", spacepods.Token{}, err
	}
	if !spacepods.ValidRole(role) {
		return "", spacepods.Token{}, spacepods.Errorf(spacepods.EINVALID, "role %q is not a role: use admin, developer or viewer", role)
	}
	secret := newSecret()
	t, err := s.Store.CreateToken(ctx, name, role, Hash(secret))
	return secret, t, err
}

// List lists tokens (never secrets).
func (s *Service) List(ctx context.Context) ([]spacepods.Token, error) {
	return s.Store.ListTokens(ctx)
}

// Revoke deletes a token by name.
func (s *Service) Revoke(ctx context.Context, name string) error {
	return s.Store.DeleteToken(ctx, name)
}

// Bootstrap creates the first admin token when none exists and writes it to
// <dataDir>/admin.token (mode 0600). It returns the file's path.
func (s *Service) Bootstrap(ctx context.Context, dataDir string) (string, bool, error) {
	path := filepath.Join(dataDir, "admin.token")
	n, err := s.Store.CountTokens(ctx)
	if err != nil {
		return path, false, err
	}
	if n > 0 {
		return path, false, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return path, false, fmt.Errorf("create data dir: %w", err)
	}
	secret, _, err := s.Create(spacepods.WithActor(ctx, &spacepods.Token{Name: "bootstrap", Role: spacepods.RoleAdmin}), "admin", spacepods.RoleAdmin)
	if err != nil {
		return path, false, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return path, false, fmt.Errorf("write admin token: %w", err)
	}
	return path, true, os.Rename(tmp, path)
}

// ReadTokenFile reads a token written by Bootstrap.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "no token file at %s: start the server once (spacepods server) or set SPACEPODS_TOKEN", path)
	}
	return strings.TrimSpace(string(b)), err
}
