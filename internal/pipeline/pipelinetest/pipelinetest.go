// Package pipelinetest holds test doubles for the pipeline's neighbours.
package pipelinetest

import (
	"context"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// InstantDeploys records each deploy as completed at once (and makes its
// build what the environment runs), for tests of what surrounds the
// pipeline (commands, statuses, pages); internal/pipeline's own tests
// deploy for real on Docker.
type InstantDeploys struct{ Store *store.Store }

// Deploy records req as a completed deploy.
func (d InstantDeploys) Deploy(ctx context.Context, req deploy.Request) (spacepods.Deploy, error) {
	dep, err := d.Store.CreateDeploy(ctx, spacepods.Deploy{Env: req.Env, App: req.App, Build: req.Build, Rollback: req.Rollback > 0})
	if err != nil {
		return dep, err
	}
	dep.Status = spacepods.DeployCompleted
	if err := d.Store.SaveDeploy(ctx, dep); err != nil {
		return dep, err
	}
	return dep, d.Store.PutEnvApp(ctx, spacepods.EnvApp{Env: req.Env, App: req.App, Build: req.Build, Status: "healthy"})
}
