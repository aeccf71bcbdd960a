package cli

import (
	"context"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// pipelineConfig is the flags of pipelines (docs/pipelines.md).
type pipelineConfig struct {
	stages       string // the default pipeline
	jiraURL      string
	jiraProjects []string
}

func (pc *pipelineConfig) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&pc.stages, "pipeline", envOr("SPACEPODS_PIPELINE", ""), "default pipeline of apps whose manifest has no pipeline: master environments in order, each with optional flags :approval, :notests, :hold, e.g. qa,staging,production:approval; empty = only apps with pipeline: in their manifest have one (env SPACEPODS_PIPELINE)")
	f.StringVar(&pc.jiraURL, "jira-url", envOr("SPACEPODS_JIRA_URL", ""), "Jira base URL: Jira keys in release notes link to <url>/browse/KEY; empty = listed, not linked (env SPACEPODS_JIRA_URL)")
	var projects []string
	if v := envOr("SPACEPODS_JIRA_PROJECTS", ""); v != "" {
		projects = strings.Split(v, ",")
	}
	f.StringSliceVar(&pc.jiraProjects, "jira-projects", projects, "Jira project keys release notes recognise, e.g. SHOP,OPS (other KEY-123 look-alikes such as UTF-8 are ignored); empty = any (repeat or comma-separate; env SPACEPODS_JIRA_PROJECTS)")
}

// startPipeline starts the pipeline service (it needs a runtime: deploys
// and test runs) and returns what waits for it to stop.
// With a forge, each stage is a commit status on the build's SHA whose
// target is the run's page under publicURL.
// Release notes of deploys read the git caches in dataDir; bridge
// tells the notifier of the pipeline's events and of its deploys' notes.
func startPipeline(ctx context.Context, pc pipelineConfig, dataDir string, srv *server.Server, st *store.Store, fg forge.Forge, publicURL string, bridge *pipelineBridge, logger *slog.Logger) (func(), error) {
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
	srv.Notes = &releasenotes.Service{Store: st, Catalog: srv.Catalog, DataDir: dataDir, Forge: fg, BaseURL: publicURL,
		Options: releasenotes.Options{JiraURL: pc.jiraURL, JiraProjects: pc.jiraProjects}}
	bridge.notes = srv.Notes
	p := &pipeline.Service{Store: st, Catalog: srv.Catalog, Deploys: srv.Deploys, Tests: srv.Tests, Default: stages, Forge: fg, BaseURL: publicURL, Notifier: bridge, Logger: logger.With("component", "pipeline")}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	srv.Pipeline = p
	if len(stages) > 0 {
		logger.Info("default pipeline", "stages", pc.stages)
	}
	return p.Wait, nil
}
