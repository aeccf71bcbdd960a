package slackbot

import (
	"context"
	"fmt"
	"strings"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Services runs slash commands on the pods service and the deploy
// engine, the services the API calls: their rules apply as they do there.
type Services struct {
	Pods    *pods.Service
	Deploys *deploy.Engine
	// PublicURL makes the replies' links absolute.
	PublicURL string
}

var _ Commands = (*Services)(nil)

func (s *Services) link(path string) string { return strings.TrimSuffix(s.PublicURL, "/") + path }

// errNoRuntime answers commands on a server that runs no runtime.
var errNoRuntime = spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs no runtime (--runtime none): pods and deploys are off")

func (s *Services) pods() error {
	if s.Pods == nil {
		return errNoRuntime
	}
	return nil
}

func (s *Services) deploys() error {
	if s.Deploys == nil {
		return errNoRuntime
	}
	return nil
}

// CreatePod starts creating a pod; the notifier says when it is ready.
func (s *Services) CreatePod(ctx context.Context, name string, apps []string) (string, error) {
	if err := s.pods(); err != nil {
		return "", err
	}
	_, env, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: apps})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(":hammer_and_wrench: Creating pod *%s* (%s) for %s: %s", env.Name, strings.Join(apps, ", "), env.Owner, s.link("/pods/"+env.Name)), nil
}

// ShowPod describes a pod.
func (s *Services) ShowPod(ctx context.Context, name string) (string, error) {
	if err := s.pods(); err != nil {
		return "", err
	}
	v, err := s.Pods.Show(ctx, name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Pod *%s* (%s, owner %s)", v.Name, v.Status, v.Owner)
	if v.ExpiresAt != nil {
		fmt.Fprintf(&b, ", expires %s", v.ExpiresAt.Format("2006-01-02 15:04 MST"))
	}
	for _, a := range v.AppStatus {
		fmt.Fprintf(&b, "\n• %s build %d: %s %s", a.App, a.Build, a.Status, a.URL)
	}
	return b.String(), nil
}

// DestroyPod starts destroying a pod.
func (s *Services) DestroyPod(ctx context.Context, name string) (string, error) {
	if err := s.pods(); err != nil {
		return "", err
	}
	if err := s.Pods.Destroy(ctx, name); err != nil {
		return "", err
	}
	return fmt.Sprintf(":wastebasket: Destroying pod *%s*", name), nil
}

// ExtendPod sets a pod's expiry to now + ttl ("" = the default TTL).
func (s *Services) ExtendPod(ctx context.Context, name, ttl string) (string, error) {
	if err := s.pods(); err != nil {
		return "", err
	}
	env, err := s.Pods.Extend(ctx, name, ttl)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(":hourglass: Pod *%s* now expires %s", env.Name, env.ExpiresAt.Format("2006-01-02 15:04 MST")), nil
}

func (s *Services) queued(d spacepods.Deploy, what string) string {
	return fmt.Sprintf(":rocket: %s: deploy %d of %s build %d to %s queued by %s: %s", what, d.ID, d.App, d.Build, d.Env, d.CreatedBy, s.link(fmt.Sprintf("/deploys/%d", d.ID)))
}

// Deploy queues a deploy, as POST /api/v1/deploys does (refused in a
// protected environment unless the user is an admin).
func (s *Services) Deploy(ctx context.Context, app, env string, build int) (string, error) {
	if err := s.deploys(); err != nil {
		return "", err
	}
	d, err := s.Deploys.Deploy(ctx, deploy.Request{Env: env, App: app, Build: build})
	if err != nil {
		return "", err
	}
	return s.queued(d, "Deploy"), nil
}

// Promote deploys to one environment the build running in another.
func (s *Services) Promote(ctx context.Context, app, from, to string) (string, error) {
	if err := s.deploys(); err != nil {
		return "", err
	}
	d, err := s.Deploys.Promote(ctx, app, from, to, 0)
	if err != nil {
		return "", err
	}
	return s.queued(d, "Promote"), nil
}

// Rollback redeploys the previous release.
func (s *Services) Rollback(ctx context.Context, app, env string) (string, error) {
	if err := s.deploys(); err != nil {
		return "", err
	}
	d, err := s.Deploys.Rollback(ctx, env, app)
	if err != nil {
		return "", err
	}
	return s.queued(d, "Rollback"), nil
}

// Status lists an app's latest deploys.
func (s *Services) Status(ctx context.Context, app string) (string, error) {
	if err := s.deploys(); err != nil {
		return "", err
	}
	ds, err := s.Deploys.List(ctx, "", app, 5)
	if err != nil {
		return "", err
	}
	if len(ds) == 0 {
		return fmt.Sprintf("%s has not been deployed yet.", app), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Latest deploys of *%s*:", app)
	for _, d := range ds {
		fmt.Fprintf(&b, "\n• %s: build %d %s (deploy %d by %s)", d.Env, d.Build, d.Status, d.ID, d.CreatedBy)
	}
	return b.String(), nil
}
