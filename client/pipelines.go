package client

import (
	"context"
	"io"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// PipelineRun is one build moving through an app's pipeline.
type PipelineRun = spacepods.PipelineRun

// PipelineView is an app's pipeline and its latest runs.
type PipelineView = spacepods.PipelineView

// Pipeline returns app's pipeline and its latest limit runs.
func (c *Client) Pipeline(ctx context.Context, app string, limit int) (PipelineView, error) {
	var out PipelineView
	err := c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/pipeline", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &out)
	return out, err
}

// PipelineRuns lists app's runs, newest first.
func (c *Client) PipelineRuns(ctx context.Context, app string, limit int) ([]PipelineRun, error) {
	var out []PipelineRun
	err := c.do(ctx, "GET", "/api/v1/apps/"+esc(app)+"/pipeline/runs", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &out)
	return out, err
}

// StartPipelineRun starts a run of build of app by hand.
func (c *Client) StartPipelineRun(ctx context.Context, app string, build int) (PipelineRun, error) {
	var out PipelineRun
	err := c.do(ctx, "POST", "/api/v1/apps/"+esc(app)+"/pipeline/runs", nil, spacepods.StartPipelineRunRequest{Build: build}, &out)
	return out, err
}

// GetPipelineRun returns one run.
func (c *Client) GetPipelineRun(ctx context.Context, id int64) (PipelineRun, error) {
	var out PipelineRun
	err := c.do(ctx, "GET", "/api/v1/pipeline/runs/"+strconv.FormatInt(id, 10), nil, nil, &out)
	return out, err
}

// DecidePipelineRun approves (or rejects) the gate run id waits at.
func (c *Client) DecidePipelineRun(ctx context.Context, id int64, approve bool, comment string) (PipelineRun, error) {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	var out PipelineRun
	err := c.do(ctx, "POST", "/api/v1/pipeline/runs/"+strconv.FormatInt(id, 10)+"/"+verb, nil, spacepods.PipelineDecisionRequest{Comment: comment}, &out)
	return out, err
}

// ReleaseNotes are a deploy's release notes.
type ReleaseNotes = spacepods.ReleaseNotes

// DeployNotes returns the release notes of deploy id.
func (c *Client) DeployNotes(ctx context.Context, id int64) (ReleaseNotes, error) {
	var out ReleaseNotes
	err := c.do(ctx, "GET", "/api/v1/deploys/"+strconv.FormatInt(id, 10)+"/notes", nil, nil, &out)
	return out, err
}

// DeployNotesMarkdown returns the release notes of deploy id as Markdown.
func (c *Client) DeployNotesMarkdown(ctx context.Context, id int64) (string, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/deploys/"+strconv.FormatInt(id, 10)+"/notes", url.Values{"format": {"markdown"}}, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
