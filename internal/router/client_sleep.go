package router

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Activity returns the last request time of every group.
func (c *Client) Activity(ctx context.Context) ([]Activity, error) {
	var out []Activity
	err := c.do(ctx, http.MethodGet, "/v1/activity", nil, &out)
	return out, err
}

// WaitWakes long-polls the wake requests numbered after seq, waiting up to
// wait for one; an empty list means none came in time.
func (c *Client) WaitWakes(ctx context.Context, after uint64, wait time.Duration) ([]WakeRequest, error) {
	var out []WakeRequest
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/wakes?after=%d&wait=%s", after, wait), nil, &out)
	return out, err
}

// FinishWake releases the requests held for app in env: forwarded when
// errMsg is empty, else answered with a page naming the app and errMsg.
func (c *Client) FinishWake(ctx context.Context, env, app, errMsg string) error {
	return c.do(ctx, http.MethodPost, "/v1/wakes/"+url.PathEscape(env)+"/"+url.PathEscape(app), WakeResult{Error: errMsg}, nil)
}
