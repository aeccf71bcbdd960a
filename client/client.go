// Package client is the public Go client of the Spacepods REST API. The CLI
// is built on it; CI systems and tools can use it too.
package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Client talks to one Spacepods server.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:7070
	Token   string
	HTTP    *http.Client
}

// New returns a client for baseURL authenticating with token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 0}}
}

// Error is an API error; it unwraps to a *spacepods.Error with the code.
type Error = spacepods.Error

// do sends a request and decodes a JSON response into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.api().Do(ctx, method, path, query, in, out)
}

// send sends a request and returns the response when its status is 2xx;
// otherwise the API error.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	return c.api().Send(ctx, method, path, query, in)
}

// api is the JSON client of c's current fields (callers may set them after New).
func (c *Client) api() *httpjson.Client {
	return &httpjson.Client{
		BaseURL: c.BaseURL, Token: c.Token, HTTP: c.HTTP, Name: "the Spacepods server",
		Unreachable: func(err error) error {
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "cannot reach the Spacepods server at %s: %v (start it with `spacepods server`, or set SPACEPODS_SERVER)", c.BaseURL, err)
		},
	}
}

func esc(s string) string { return url.PathEscape(s) }

// Whoami returns the caller's token.
func (c *Client) Whoami(ctx context.Context) (spacepods.Token, error) {
	var t spacepods.Token
	return t, c.do(ctx, "GET", "/api/v1/whoami", nil, nil, &t)
}

// RegisterApp registers or updates an app from manifest text (plus the
// content of its seed file, if any). It reports whether the app was new.
func (c *Client) RegisterApp(ctx context.Context, manifest []byte, seedSQL string) (spacepods.App, bool, error) {
	var out spacepods.RegisterAppResponse
	err := c.do(ctx, "POST", "/api/v1/apps", nil, spacepods.RegisterAppRequest{Manifest: string(manifest), SeedSQL: seedSQL}, &out)
	return out.App, out.Created, err
}

// ListApps lists apps by name after `after`, at most limit (0 = server default).
func (c *Client) ListApps(ctx context.Context, after string, limit int) ([]spacepods.App, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []spacepods.App
	return out, c.do(ctx, "GET", "/api/v1/apps", q, nil, &out)
}

// GetApp returns one app.
func (c *Client) GetApp(ctx context.Context, name string) (spacepods.App, error) {
	var out spacepods.App
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(name), nil, nil, &out)
}

// AppVersions returns an app's registration history.
func (c *Client) AppVersions(ctx context.Context, name string) ([]spacepods.AppVersion, error) {
	var out []spacepods.AppVersion
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(name)+"/versions", nil, nil, &out)
}

// AppDeps returns an app's dependency tree.
func (c *Client) AppDeps(ctx context.Context, name string) (Deps, error) {
	var out Deps
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(name)+"/deps", nil, nil, &out)
}

// RecordBuild records a build of an app.
func (c *Client) RecordBuild(ctx context.Context, b spacepods.Build) (spacepods.Build, error) {
	var out spacepods.Build
	return out, c.do(ctx, "POST", "/api/v1/apps/"+esc(b.App)+"/builds", nil, b, &out)
}

// ListBuilds lists builds of an app, newest first.
func (c *Client) ListBuilds(ctx context.Context, app, branch string, limit int) ([]spacepods.Build, error) {
	q := url.Values{}
	if branch != "" {
		q.Set("branch", branch)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []spacepods.Build
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/builds", q, nil, &out)
}

// GetBuild returns one build.
func (c *Client) GetBuild(ctx context.Context, app string, number int) (spacepods.Build, error) {
	var out spacepods.Build
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/builds/"+strconv.Itoa(number), nil, nil, &out)
}

// LatestBuild returns the latest build of branch ("" = main).
func (c *Client) LatestBuild(ctx context.Context, app, branch string) (spacepods.Build, error) {
	q := url.Values{}
	if branch != "" {
		q.Set("branch", branch)
	}
	var out spacepods.Build
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/builds/latest", q, nil, &out)
}

// CreateToken creates a token and returns its secret (shown once).
func (c *Client) CreateToken(ctx context.Context, name, role string) (string, spacepods.Token, error) {
	var out spacepods.CreateTokenResponse
	err := c.do(ctx, "POST", "/api/v1/tokens", nil, spacepods.CreateTokenRequest{Name: name, Role: role}, &out)
	return out.Secret, out.Token, err
}

// ListTokens lists tokens.
func (c *Client) ListTokens(ctx context.Context) ([]spacepods.Token, error) {
	var out []spacepods.Token
	return out, c.do(ctx, "GET", "/api/v1/tokens", nil, nil, &out)
}

// RevokeToken revokes a token by name.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/tokens/"+esc(name), nil, nil, nil)
}

// Audit returns audit entries, newest first, older than before (0 = newest).
func (c *Client) Audit(ctx context.Context, before int64, limit int) ([]spacepods.AuditEntry, error) {
	q := url.Values{}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []spacepods.AuditEntry
	return out, c.do(ctx, "GET", "/api/v1/audit", q, nil, &out)
}

// Healthz checks that the server answers.
func (c *Client) Healthz(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.do(ctx, "GET", "/healthz", nil, nil, nil)
}

// Domain types, re-exported so that users outside this module can name them.
type (
	// App is a registered application.
	App = spacepods.App
	// Build is a recorded build.
	Build = spacepods.Build
	// Token is an API token (never its secret).
	Token = spacepods.Token
	// AuditEntry is one audit log entry.
	AuditEntry = spacepods.AuditEntry
	// TreeNode is one app of a dependency tree.
	TreeNode = spacepods.TreeNode
	// Deps is an app's dependency tree and closure in start order.
	Deps = spacepods.AppDeps
)

// ErrorCode returns the API error code of err ("" for nil).
func ErrorCode(err error) string { return spacepods.ErrorCode(err) }
