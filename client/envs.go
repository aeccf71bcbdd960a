package client

import (
	"context"
	"io"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Types of the pods and deploys API.
type (
	// Environment is a pod or master environment.
	Environment = spacepods.Environment
	// EnvApp is one app in an environment.
	EnvApp = spacepods.EnvApp
	// Event is one progress line.
	Event = spacepods.Event
	// Deploy is one run of the deploy script.
	Deploy = spacepods.Deploy
	// DeployPlan is what a deploy would change (manifest diff, who
	// registered it, whether an admin must confirm).
	DeployPlan = spacepods.DeployPlan
	// Plan is what a pod create makes.
	Plan = spacepods.PodPlan
	// PodView is an environment with its apps.
	PodView = spacepods.EnvironmentView
	// CreatePodRequest asks for a pod.
	CreatePodRequest = spacepods.CreatePodRequest
	// Leak is something that belongs to no live environment.
	Leak = spacepods.Leak
	// Snapshot is a named database snapshot.
	Snapshot = spacepods.Snapshot
	// DeployRequest asks for a deploy (or its plan); an admin confirms the
	// manifest changes of its plan with ConfirmManifestVersion.
	DeployRequest = spacepods.DeployRequest
)

// PlanPod resolves what a pod create would make.
func (c *Client) PlanPod(ctx context.Context, req CreatePodRequest) (Plan, error) {
	var out Plan
	return out, c.do(ctx, "POST", "/api/v1/pods/plan", nil, req, &out)
}

// CreatePod starts creating a pod.
func (c *Client) CreatePod(ctx context.Context, req CreatePodRequest) (Plan, Environment, error) {
	var out spacepods.CreatePodResponse
	err := c.do(ctx, "POST", "/api/v1/pods", nil, req, &out)
	return out.Plan, out.Pod, err
}

// ListPods lists pods.
func (c *Client) ListPods(ctx context.Context) ([]Environment, error) {
	var out []Environment
	return out, c.do(ctx, "GET", "/api/v1/pods", nil, nil, &out)
}

// GetPod shows a pod (or master environment).
func (c *Client) GetPod(ctx context.Context, name string) (PodView, error) {
	var out PodView
	return out, c.do(ctx, "GET", "/api/v1/pods/"+esc(name), nil, nil, &out)
}

// PodEvents returns a pod's events after an ID.
func (c *Client) PodEvents(ctx context.Context, name string, after int64) ([]Event, error) {
	var out []Event
	return out, c.do(ctx, "GET", "/api/v1/pods/"+esc(name)+"/events", url.Values{"after": {strconv.FormatInt(after, 10)}}, nil, &out)
}

// UpdatePod wipes and redeploys a pod with builds pinned.
func (c *Client) UpdatePod(ctx context.Context, name string, builds map[string]int) (Plan, error) {
	var out Plan
	return out, c.do(ctx, "POST", "/api/v1/pods/"+esc(name)+"/update", nil, spacepods.UpdatePodRequest{Builds: builds}, &out)
}

// ExtendPod sets a pod's expiry to now + ttl.
func (c *Client) ExtendPod(ctx context.Context, name, ttl string) (Environment, error) {
	var out Environment
	return out, c.do(ctx, "POST", "/api/v1/pods/"+esc(name)+"/extend", nil, spacepods.ExtendPodRequest{TTL: ttl}, &out)
}

// DestroyPod starts destroying a pod or environment.
func (c *Client) DestroyPod(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/pods/"+esc(name), nil, nil, nil)
}

// Logs streams an app's logs in an environment.
func (c *Client) Logs(ctx context.Context, env, app string, follow bool, tail int) (io.ReadCloser, error) {
	q := url.Values{"tail": {strconv.Itoa(tail)}}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.send(ctx, "GET", "/api/v1/pods/"+esc(env)+"/apps/"+esc(app)+"/logs", q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CreateEnvironment creates a master environment.
func (c *Client) CreateEnvironment(ctx context.Context, name string, protected bool) (Environment, error) {
	var out Environment
	return out, c.do(ctx, "POST", "/api/v1/environments", nil, spacepods.CreateEnvironmentRequest{Name: name, Protected: protected}, &out)
}

// ListEnvironments lists master environments.
func (c *Client) ListEnvironments(ctx context.Context) ([]Environment, error) {
	var out []Environment
	return out, c.do(ctx, "GET", "/api/v1/environments", nil, nil, &out)
}

// GetEnvironment shows a master environment.
func (c *Client) GetEnvironment(ctx context.Context, name string) (PodView, error) {
	var out PodView
	return out, c.do(ctx, "GET", "/api/v1/environments/"+esc(name), nil, nil, &out)
}

// CreateDeploy queues a deploy to a master environment.
func (c *Client) CreateDeploy(ctx context.Context, env, app string, build int) (Deploy, error) {
	return c.SubmitDeploy(ctx, DeployRequest{Env: env, App: app, Build: build})
}

// SubmitDeploy queues a deploy to a master environment.
func (c *Client) SubmitDeploy(ctx context.Context, req DeployRequest) (Deploy, error) {
	var out Deploy
	return out, c.do(ctx, "POST", "/api/v1/deploys", nil, req, &out)
}

// PlanDeploy shows what a deploy would change, without deploying.
func (c *Client) PlanDeploy(ctx context.Context, req DeployRequest) (DeployPlan, error) {
	var out DeployPlan
	req.ConfirmManifestVersion = 0
	return out, c.do(ctx, "POST", "/api/v1/deploys/plan", nil, req, &out)
}

// ListDeploys lists deploys.
func (c *Client) ListDeploys(ctx context.Context, env, app string, limit int) ([]Deploy, error) {
	q := url.Values{}
	if env != "" {
		q.Set("env", env)
	}
	if app != "" {
		q.Set("app", app)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []Deploy
	return out, c.do(ctx, "GET", "/api/v1/deploys", q, nil, &out)
}

// GetDeploy shows a deploy.
func (c *Client) GetDeploy(ctx context.Context, id int64) (Deploy, error) {
	var out Deploy
	return out, c.do(ctx, "GET", "/api/v1/deploys/"+strconv.FormatInt(id, 10), nil, nil, &out)
}

// DeployEvents returns a deploy's events after an ID.
func (c *Client) DeployEvents(ctx context.Context, id, after int64) ([]Event, error) {
	var out []Event
	return out, c.do(ctx, "GET", "/api/v1/deploys/"+strconv.FormatInt(id, 10)+"/events", url.Values{"after": {strconv.FormatInt(after, 10)}}, nil, &out)
}

// Rollback redeploys the previous release.
func (c *Client) Rollback(ctx context.Context, env, app string) (Deploy, error) {
	var out Deploy
	return out, c.do(ctx, "POST", "/api/v1/rollback", nil, spacepods.RollbackRequest{Env: env, App: app}, &out)
}

// Promote deploys to `to` the build running in `from`; confirmVersion, when
// not 0, confirms its manifest changes (see DeployRequest).
func (c *Client) Promote(ctx context.Context, app, from, to string, confirmVersion int) (Deploy, error) {
	var out Deploy
	return out, c.do(ctx, "POST", "/api/v1/promote", nil, spacepods.PromoteRequest{App: app, From: from, To: to, ConfirmManifestVersion: confirmVersion}, &out)
}

// CreateSnapshot snapshots an app's database in an environment.
func (c *Client) CreateSnapshot(ctx context.Context, env, app, name string) (Snapshot, error) {
	var out Snapshot
	return out, c.do(ctx, "POST", "/api/v1/snapshots", nil, spacepods.CreateSnapshotRequest{Env: env, App: app, Name: name}, &out)
}

// ListSnapshots lists snapshots.
func (c *Client) ListSnapshots(ctx context.Context) ([]Snapshot, error) {
	var out []Snapshot
	return out, c.do(ctx, "GET", "/api/v1/snapshots", nil, nil, &out)
}

// Leaks lists (remove: removes) what belongs to no live environment.
func (c *Client) Leaks(ctx context.Context, remove bool) ([]Leak, error) {
	var out []Leak
	if remove {
		return out, c.do(ctx, "POST", "/api/v1/leaks/remove", nil, nil, &out)
	}
	return out, c.do(ctx, "GET", "/api/v1/leaks", nil, nil, &out)
}

// SleepPod puts a pod's web apps (app "" = all of them) to sleep now.
func (c *Client) SleepPod(ctx context.Context, name, app string) (PodView, error) {
	var out PodView
	return out, c.do(ctx, "POST", "/api/v1/pods/"+esc(name)+"/sleep", nil, spacepods.SleepPodRequest{App: app}, &out)
}

// WakePod wakes a pod's asleep apps and returns once they are routed.
func (c *Client) WakePod(ctx context.Context, name string) (PodView, error) {
	var out PodView
	return out, c.do(ctx, "POST", "/api/v1/pods/"+esc(name)+"/wake", nil, nil, &out)
}
