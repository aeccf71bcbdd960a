package auth

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// OIDCConfig configures sign-in to the web UI through an OpenID Connect
// provider: the forge itself when it is one (Gitea, Forgejo), or a broker
// in front of one that is not (Dex's GitHub connector for GitHub).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (discovery at
	// <Issuer>/.well-known/openid-configuration).
	Issuer       string
	ClientID     string
	ClientSecret string // never logged
	// RedirectURL is <Spacepods' public URL>/auth/oidc/callback, as
	// registered with the provider.
	RedirectURL string
	// Label names the provider on the sign-in button ("Gitea").
	Label string
	// GroupsClaim is the ID token claim that lists the user's groups
	// (default "groups": Gitea sends "org" and "org:team" entries).
	GroupsClaim string
	// Roles map groups to roles; a user gets the highest role of their
	// groups, else DefaultRole; "" refuses users in no mapped group.
	Roles       []RoleMapping
	DefaultRole string
	// HTTPClient, if set, talks to the provider.
	HTTPClient *http.Client
}

// RoleMapping gives members of Group (an org, or "org:team") Role.
type RoleMapping struct {
	Group string
	Role  string
}

// ParseRoleMappings parses --oidc-role values: GROUP=ROLE.
func ParseRoleMappings(vals []string) ([]RoleMapping, error) {
	var out []RoleMapping
	for _, v := range vals {
		g, r, ok := strings.Cut(strings.TrimSpace(v), "=")
		if !ok || g == "" || !spacepods.ValidRole(r) {
			return nil, spacepods.Errorf(spacepods.EINVALID, "--oidc-role %q: write GROUP=ROLE, e.g. acme:platform=admin or acme=viewer (roles: admin, developer, viewer)", v)
		}
		out = append(out, RoleMapping{Group: g, Role: r})
	}
	return out, nil
}

// UserStore keeps the token record that a signed-in forge user's sessions
// hang from (its role is updated at every sign-in; its secret is never
// known to anyone, so it works for no API call).
type UserStore interface {
	UpsertUserToken(ctx context.Context, name, role, hash string) (spacepods.Token, error)
}

// OIDCUserPrefix starts the token name of a user signed in through OIDC
// ("oidc:alice"): no API token can be named so (names are DNS labels).
const OIDCUserPrefix = "oidc:"

// OIDC signs users in through an OpenID Connect provider. The provider's
// discovery document is fetched at the first sign-in, and again after a
// failure, so that a provider down at start does not stop the server.
type OIDC struct {
	cfg   OIDCConfig
	auth  *Service
	users UserStore

	mu       sync.Mutex
	provider *oidc.Provider
}

// NewOIDC checks cfg and returns the sign-in flow.
func NewOIDC(cfg OIDCConfig, svc *Service, users UserStore) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.RedirectURL == "" {
		return nil, spacepods.Errorf(spacepods.EINVALID, "OIDC sign-in needs --oidc-issuer, --oidc-client-id, the client secret (--oidc-client-secret-file or SPACEPODS_OIDC_CLIENT_SECRET) and --public-url")
	}
	if cfg.DefaultRole != "" && !spacepods.ValidRole(cfg.DefaultRole) {
		return nil, spacepods.Errorf(spacepods.EINVALID, "--oidc-default-role %q: use admin, developer, viewer, or nothing to refuse users in no mapped group", cfg.DefaultRole)
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Label == "" {
		cfg.Label = "single sign-on"
	}
	return &OIDC{cfg: cfg, auth: svc, users: users}, nil
}

// Label names the provider for the sign-in button.
func (o *OIDC) Label() string { return o.cfg.Label }

func (o *OIDC) ctx(ctx context.Context) context.Context {
	if o.cfg.HTTPClient != nil {
		return oidc.ClientContext(ctx, o.cfg.HTTPClient)
	}
	return ctx
}

func (o *OIDC) setup(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		dctx, cancel := context.WithTimeout(o.ctx(ctx), 15*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(dctx, o.cfg.Issuer)
		if err != nil {
			return nil, nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the sign-in provider at %s does not answer its discovery document: %v (check --oidc-issuer)", o.cfg.Issuer, err)
		}
		o.provider = p
	}
	oc := &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email", o.cfg.GroupsClaim}}
	return o.provider, oc, nil
}

// AuthCodeURL is where the browser goes to sign in: the provider's
// authorization endpoint with state and nonce (both random, kept by the
// browser in a short-lived cookie and checked at the callback).
func (o *OIDC) AuthCodeURL(ctx context.Context, state, nonce string) (string, error) {
	_, oc, err := o.setup(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce)), nil
}

// Identity is who signed in, and the role their groups give.
type Identity struct {
	User   string
	Groups []string
	Role   string
}

// Finish exchanges the callback's code, verifies the ID token (signature,
// issuer, audience, expiry, nonce), maps the groups to a role, and opens a
// session. EFORBIDDEN when no group maps to a role and there is no default;
// EUNAUTHORIZED when the provider or the token does not check out.
func (o *OIDC) Finish(ctx context.Context, code, nonce string) (string, Session, Identity, error) {
	p, oc, err := o.setup(ctx)
	if err != nil {
		return "", Session{}, Identity{}, err
	}
	tok, err := oc.Exchange(o.ctx(ctx), code)
	if err != nil {
		return "", Session{}, Identity{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "the sign-in provider refused the code: %v (sign in again)", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return "", Session{}, Identity{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "the sign-in provider sent no ID token: is %s an OpenID Connect provider?", o.cfg.Issuer)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}).Verify(o.ctx(ctx), raw)
	if err != nil {
		return "", Session{}, Identity{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "the ID token does not check out: %v", err)
	}
	if idt.Nonce != nonce {
		return "", Session{}, Identity{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "the ID token is not for this sign-in (its nonce differs): sign in again")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return "", Session{}, Identity{}, err
	}
	id := Identity{User: claimString(claims, "preferred_username"), Groups: claimStrings(claims, o.cfg.GroupsClaim)}
	if id.User == "" {
		id.User = idt.Subject
	}
	id.Role = o.role(id.Groups)
	if id.Role == "" {
		return "", Session{}, id, spacepods.Errorf(spacepods.EFORBIDDEN, "%s is in none of the groups that give a Spacepods role (%s): ask an admin to add you to one, or to map one of yours with --oidc-role", id.User, strings.Join(o.groups(), ", "))
	}
	sid, ss, err := o.signIn(ctx, id)
	return sid, ss, id, err
}

// role is the highest role among the user's groups' mappings, else the default.
func (o *OIDC) role(groups []string) string {
	best := ""
	for _, m := range o.cfg.Roles {
		for _, g := range groups {
			if strings.EqualFold(g, m.Group) && (best == "" || spacepods.RoleAtLeast(m.Role, best)) {
				best = m.Role
			}
		}
	}
	if best == "" {
		return o.cfg.DefaultRole
	}
	return best
}

func (o *OIDC) groups() []string {
	out := make([]string, 0, len(o.cfg.Roles))
	for _, m := range o.cfg.Roles {
		out = append(out, m.Group+"→"+m.Role)
	}
	return out
}

// signIn records the user's token (role as of now) and opens a session.
func (o *OIDC) signIn(ctx context.Context, id Identity) (string, Session, error) {
	if id.User == "" || strings.ContainsAny(id.User, " \t\r\n") || len(id.User) > 200 {
		return "", Session{}, spacepods.Errorf(spacepods.EUNAUTHORIZED, "the sign-in provider gave no usable user name")
	}
	actx := spacepods.WithActor(ctx, &spacepods.Token{Name: OIDCUserPrefix + id.User, Role: id.Role})
	tok, err := o.users.UpsertUserToken(actx, OIDCUserPrefix+id.User, id.Role, Hash(newSecret()))
	if err != nil {
		return "", Session{}, err
	}
	return o.auth.openSession(ctx, tok)
}

func claimString(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}

// claimStrings reads a claim that is a list of strings (or one string).
func claimStrings(c map[string]any, k string) []string {
	switch v := c[k].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
