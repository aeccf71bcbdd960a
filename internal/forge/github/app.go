package github

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	gh "github.com/google/go-github/v75/github"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// appAuth authenticates as a GitHub App installation: a JWT signed with the
// app's private key (RS256, valid 9 minutes, issued a minute in the past
// for clock drift) is exchanged for an installation token (valid an hour),
// kept until 5 minutes before it expires.
type appAuth struct {
	appID, installationID int64
	key                   *rsa.PrivateKey
	jwtClient             *gh.Client // its requests carry a fresh JWT
	now                   func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	slug    string
}

func newAppAuth(appID, installationID int64, keyPEM []byte, base *gh.Client, now func() time.Time) (*appAuth, error) {
	if appID == 0 || installationID == 0 || len(keyPEM) == 0 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "a GitHub App needs its ID (--github-app-id), its installation's ID (--github-app-installation-id) and its private key (--github-app-key-file)")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	a := &appAuth{appID: appID, installationID: installationID, key: key, now: now}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &jwtTransport{auth: a, base: http.DefaultTransport}}
	if base.Client() != nil && base.Client().Transport != nil {
		hc.Transport = &jwtTransport{auth: a, base: base.Client().Transport}
	}
	a.jwtClient = gh.NewClient(hc)
	a.jwtClient.BaseURL, a.jwtClient.UploadURL = base.BaseURL, base.UploadURL
	return a, nil
}

func parseKey(keyPEM []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the GitHub App key file holds no PEM block: give the .pem file GitHub generated for the app")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the GitHub App key file is not an RSA private key: %v", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the GitHub App key is not an RSA key: GitHub Apps sign with RS256")
	}
	return rk, nil
}

// JWT returns a fresh app JWT.
func (a *appAuth) JWT() (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: a.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := a.now()
	claims, _ := json.Marshal(map[string]any{"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": strconv.FormatInt(a.appID, 10)})
	obj, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// Token returns the installation token, making a new one when the one held
// expires within 5 minutes.
func (a *appAuth) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Add(5*time.Minute).Before(a.expires) {
		return a.token, nil
	}
	t, resp, err := a.jwtClient.Apps.CreateInstallationToken(ctx, a.installationID, nil)
	if err != nil {
		return "", wrapErr("make an installation token for installation "+strconv.FormatInt(a.installationID, 10)+" of app "+strconv.FormatInt(a.appID, 10), resp, err)
	}
	a.token, a.expires = t.GetToken(), t.GetExpiresAt().Time
	return a.token, nil
}

// Slug returns the app's slug (its comments are by "<slug>[bot]").
func (a *appAuth) Slug(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.slug != "" {
		return a.slug, nil
	}
	app, resp, err := a.jwtClient.Apps.Get(ctx, "")
	if err != nil {
		return "", wrapErr("get the GitHub App", resp, err)
	}
	a.slug = app.GetSlug()
	return a.slug, nil
}

// jwtTransport signs each request as the app.
type jwtTransport struct {
	auth *appAuth
	base http.RoundTripper
}

func (t *jwtTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	jwt, err := t.auth.JWT()
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+jwt)
	return t.base.RoundTrip(req)
}

// appTransport sends each request with the installation token.
type appTransport struct {
	auth *appAuth
	base http.RoundTripper
}

func (t *appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.auth.Token(req.Context())
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "token "+tok)
	return t.base.RoundTrip(req)
}
