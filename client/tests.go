package client

import (
	"context"
	"io"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestRun is one run of an app's Gatekeeper test suite.
type TestRun = spacepods.TestRun

// RunTests starts the test suites of app in env (and of the apps there that
// depend on it; app "": every app that declares tests). It returns the runs
// at once, still running: poll them with GetTestRun.
func (c *Client) RunTests(ctx context.Context, env, app string) ([]TestRun, error) {
	var out []TestRun
	err := c.do(ctx, "POST", "/api/v1/envs/"+esc(env)+"/tests", nil, spacepods.RunTestsRequest{App: app}, &out)
	return out, err
}

// ListTestRuns lists an environment's test runs, newest first.
func (c *Client) ListTestRuns(ctx context.Context, env, app string, limit int) ([]TestRun, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if app != "" {
		q.Set("app", app)
	}
	var out []TestRun
	err := c.do(ctx, "GET", "/api/v1/envs/"+esc(env)+"/tests", q, nil, &out)
	return out, err
}

// GetTestRun returns one test run.
func (c *Client) GetTestRun(ctx context.Context, id int64) (TestRun, error) {
	var out TestRun
	err := c.do(ctx, "GET", "/api/v1/tests/"+strconv.FormatInt(id, 10), nil, nil, &out)
	return out, err
}

// TestLog returns a test run's whole kept output.
func (c *Client) TestLog(ctx context.Context, id int64) (string, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/tests/"+strconv.FormatInt(id, 10)+"/log", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
