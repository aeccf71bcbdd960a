package cli

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// pipelineConfig is the flags of pipelines (docs/pipelines.md).
type pipelineConfig struct {
	stages string // the default pipeline
}

func (pc *pipelineConfig) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&pc.stages, "pipeline", envOr("SPACEPODS_PIPELINE", ""), "default pipeline of apps whose manifest has no pipeline: master environments in order, each with optional flags :approval, :notests, :hold, e.g. qa,staging,production:approval; empty = only apps with pipeline: in their manifest have one (env SPACEPODS_PIPELINE)")
}

// startPipeline starts the pipeline service (it needs a runtime: deploys
// and test runs) and returns what waits for it to stop.
// With a forge, each stage is a commit status on the build's SHA whose
// target is the run's page under publicURL.
func startPipeline(ctx context.Context, pc pipelineConfig, srv *server.Server, st *store.Store, fg forge.Forge, publicURL string, logger *slog.Logger) (func(), error) {
	stages, err := spacepods.ParsePipeline(pc.stages)
	if err != nil {
		return nil, err
	}
	if srv.Deploys == nil || srv.Tests == nil {
		if len(stages) > 0 {
			logger.Warn("--pipeline is ignored: pipelines deploy, and this server has no runtime (--runtime none)")
		}
		return func() {}, nil
	}
	p := &pipeline.Service{Store: st, Catalog: srv.Catalog, Deploys: srv.Deploys, Tests: srv.Tests, Default: stages, Forge: fg, BaseURL: publicURL, Logger: logger.With("component", "pipeline")}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	srv.Pipeline = p
	if len(stages) > 0 {
		logger.Info("default pipeline", "stages", pc.stages)
	}
	return p.Wait, nil
}
