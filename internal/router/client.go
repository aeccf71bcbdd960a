package router

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Client talks to a router's control API.
type Client struct {
	base string
	api  *httpjson.Client
}

// NewClient returns a client of the control API at addr ("127.0.0.1:8081"
// or "http://127.0.0.1:8081") authenticating with token.
func NewClient(addr, token string) *Client {
	base := strings.TrimSuffix(addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: base, api: &httpjson.Client{
		BaseURL: base,
		Token:   token,
		Name:    "the edge router",
		HTTP: &http.Client{
			Timeout:   30 * time.Second, // a backstop; callers bound calls with ctx
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second},
		},
		Unreachable: func(err error) error {
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "the edge router at %s cannot be reached (%v): start it with `spacepods router`", base, err)
		},
	}}
}

// Addr returns the base URL of the control API.
func (c *Client) Addr() string { return c.base }

// SetGroup replaces the target set of app in env. Returns EINVALID for a bad
// spec, EUNAVAILABLE when the router cannot be reached.
func (c *Client) SetGroup(ctx context.Context, env, app string, g GroupSpec) error {
	return c.do(ctx, http.MethodPut, groupPath(env, app), g, nil)
}

// DeleteGroup removes app from env; its targets drain. Returns ENOTFOUND if
// the router has no such group.
func (c *Client) DeleteGroup(ctx context.Context, env, app string) error {
	return c.do(ctx, http.MethodDelete, groupPath(env, app), nil, nil)
}

// SetEnvironment declares env. Returns EINVALID for a bad name.
func (c *Client) SetEnvironment(ctx context.Context, env, subnet string) error {
	var body any
	if subnet != "" {
		body = EnvironmentSpec{Subnet: subnet}
	}
	return c.do(ctx, http.MethodPut, "/v1/environments/"+url.PathEscape(env), body, nil)
}

// RemoveEnvironment forgets env and deletes its groups. Returns ENOTFOUND if
// the router does not know env.
func (c *Client) RemoveEnvironment(ctx context.Context, env string) error {
	return c.do(ctx, http.MethodDelete, "/v1/environments/"+url.PathEscape(env), nil, nil)
}

// Environments lists the environments the router knows.
func (c *Client) Environments(ctx context.Context) ([]string, error) {
	var out []string
	err := c.do(ctx, http.MethodGet, "/v1/environments", nil, &out)
	return out, err
}

// Groups returns every group with per-target health and counters.
func (c *Client) Groups(ctx context.Context) ([]GroupStatus, error) {
	var out []GroupStatus
	err := c.do(ctx, http.MethodGet, "/v1/groups", nil, &out)
	return out, err
}

// Stats returns one group's targets and counters. Returns ENOTFOUND if the
// router has no such group.
func (c *Client) Stats(ctx context.Context, env, app string) (GroupStatus, error) {
	var out GroupStatus
	err := c.do(ctx, http.MethodGet, groupPath(env, app)+"/stats", nil, &out)
	return out, err
}

// Health checks that the router answers and accepts the token. Returns
// EUNAVAILABLE when it cannot be reached, EUNAUTHORIZED for a wrong token.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.Info(ctx)
	return err
}

// Info returns what the router says about itself: pid, listeners, domain.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, http.MethodGet, "/v1/healthz", nil, &out)
	return out, err
}

// WaitHealthy polls Stats until every address in addrs is a healthy target
// of the group, or ctx ends; then the error says which are not.
func (c *Client) WaitHealthy(ctx context.Context, env, app string, addrs ...string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last GroupStatus
	var lastErr error
	seen := false
	for {
		st, err := c.Stats(ctx, env, app)
		switch {
		case err == nil && st.AllHealthy(addrs...):
			return nil
		case err == nil:
			last, seen, lastErr = st, true, nil
		case ctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if !seen || lastErr != nil {
				if lastErr == nil {
					lastErr = ctx.Err()
				}
				return fmt.Errorf("wait for healthy targets of %s in %s: %w", app, env, lastErr)
			}
			var not []string
			for _, a := range addrs {
				if t, ok := last.Target(a); !ok || t.State != StateHealthy {
					not = append(not, fmt.Sprintf("%s (%s)", a, describe(t, ok)))
				}
			}
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "app %s in environment %s: targets not healthy in time: %s",
				app, env, strings.Join(not, ", "))
		case <-tick.C:
		}
	}
}

func describe(t TargetStatus, ok bool) string {
	switch {
	case !ok:
		return "not in the group"
	case t.LastError != "":
		return t.State + ": " + t.LastError
	}
	return t.State
}

func groupPath(env, app string) string {
	return "/v1/groups/" + url.PathEscape(env) + "/" + url.PathEscape(app)
}

// do sends one request and decodes the answer into out (if not nil). Errors
// of the API come back as *spacepods.Error with the router's code.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.api.Do(ctx, method, path, nil, in, out)
}
