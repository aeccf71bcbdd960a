package client

import (
	"context"
	"io"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Types of the built-in builder's API.
type (
	// BuildJob is one run of the built-in builder.
	BuildJob = spacepods.BuildJob
	// RunBuildRequest asks for a build of an app at a ref.
	RunBuildRequest = spacepods.RunBuildRequest
)

// RunBuild queues a build of app at ref ("" = its default branch).
func (c *Client) RunBuild(ctx context.Context, app, ref string) (BuildJob, error) {
	var out BuildJob
	return out, c.do(ctx, "POST", "/api/v1/apps/"+esc(app)+"/builds/run", nil, RunBuildRequest{Ref: ref}, &out)
}

// ListBuildJobs lists an app's build jobs, newest first.
func (c *Client) ListBuildJobs(ctx context.Context, app string, limit int) ([]BuildJob, error) {
	var out []BuildJob
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return out, c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/builds/jobs", q, nil, &out)
}

// GetBuildJob shows a build job (with its log for developers and admins).
func (c *Client) GetBuildJob(ctx context.Context, id int64) (BuildJob, error) {
	var out BuildJob
	return out, c.do(ctx, "GET", "/api/v1/build-jobs/"+strconv.FormatInt(id, 10), nil, nil, &out)
}

// CancelBuildJob cancels a queued or running build job.
func (c *Client) CancelBuildJob(ctx context.Context, id int64) (BuildJob, error) {
	var out BuildJob
	return out, c.do(ctx, "POST", "/api/v1/build-jobs/"+strconv.FormatInt(id, 10)+"/cancel", nil, nil, &out)
}

// BuildJobLog reads a build job's log from a byte offset; with follow it
// streams until the job ends.
func (c *Client) BuildJobLog(ctx context.Context, id int64, offset int, follow bool) (io.ReadCloser, error) {
	q := url.Values{"offset": {strconv.Itoa(offset)}}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.send(ctx, "GET", "/api/v1/build-jobs/"+strconv.FormatInt(id, 10)+"/log", q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
