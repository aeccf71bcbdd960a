package client

import (
	"context"
	"net/url"

	"github.com/spacepods/spacepods/internal/spacepods"
)

type (
	// ConfigVar is one env var or secret of an app in a scope.
	ConfigVar = spacepods.ConfigVar
	// SetConfigRequest sets vars in a scope.
	SetConfigRequest = spacepods.SetConfigRequest
	// EffectiveConfig is what a deploy would get.
	EffectiveConfig = spacepods.EffectiveConfig
	// KeyRotation is what a master key rotation did.
	KeyRotation = spacepods.KeyRotation
)

// SetConfig sets vars (or secrets) of an app.
func (c *Client) SetConfig(ctx context.Context, app string, req SetConfigRequest) ([]ConfigVar, error) {
	var out []ConfigVar
	return out, c.do(ctx, "PUT", "/api/v1/apps/"+esc(app)+"/config", nil, req, &out)
}

// UnsetConfig removes a var in a scope ("" = all).
func (c *Client) UnsetConfig(ctx context.Context, app, scope, key string) error {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	return c.do(ctx, "DELETE", "/api/v1/apps/"+esc(app)+"/config/"+esc(key), q, nil, nil)
}

// ListConfig lists an app's vars; reveal (admins) includes secret values.
func (c *Client) ListConfig(ctx context.Context, app, scope string, reveal bool) ([]ConfigVar, error) {
	q := url.Values{}
	if scope != "" {
		q.Set("scope", scope)
	}
	if reveal {
		q.Set("reveal", "true")
	}
	var out []ConfigVar
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/config", q, nil, &out)
}

// EffectiveConfig returns what a deploy of app to env would get.
func (c *Client) EffectiveConfig(ctx context.Context, app, env string) (EffectiveConfig, error) {
	var out EffectiveConfig
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/config/effective", url.Values{"env": {env}}, nil, &out)
}

// ApplyConfig redeploys app's running build in env with the current config
// (and manifest); confirmVersion, when not 0, confirms its manifest changes
// (see DeployRequest).
func (c *Client) ApplyConfig(ctx context.Context, app, env string, confirmVersion int) (Deploy, error) {
	var out Deploy
	return out, c.do(ctx, "POST", "/api/v1/apps/"+esc(app)+"/config/apply", nil, spacepods.ApplyConfigRequest{Env: env, ConfirmManifestVersion: confirmVersion}, &out)
}

// RotateSecretsKey re-wraps every secret under a new master key.
func (c *Client) RotateSecretsKey(ctx context.Context) (KeyRotation, error) {
	var out KeyRotation
	return out, c.do(ctx, "POST", "/api/v1/secrets/rotate-key", nil, nil, &out)
}
