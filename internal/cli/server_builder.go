package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/forgebuild"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/store"
)

// builderConfig is the built-in builder's flags.
type builderConfig struct {
	concurrency int
}

// startBuilder starts the built-in builder when the server has a registry
// to push to (--registry: the embedded one, or an existing one with its
// login), and gives it to the API. It stops when ctx ends; wait waits for
// its running jobs to reach their end.
//
// With a forge (fg), an app whose manifest has build: without git is
// cloned from the forge's clone URL of its repo:.
func startBuilder(ctx context.Context, dataDir string, cfg builderConfig, st *store.Store, srv *server.Server, fg forge.Forge, logger *slog.Logger) (wait func(), err error) {
	if srv.Registry == nil {
		logger.Info("built-in builder off: --registry none, no registry to push images to")
		return func() {}, nil
	}
	reg := srv.Registry.Images.Registry
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("builder: Docker client: %w", err)
	}
	var sources builder.Sources // nil: the manifest's build.git
	if fg != nil {
		sources = forgebuild.Sources{Forge: fg}
	}
	b, err := builder.New(builder.Config{
		Store: st, Docker: dc, Registry: reg, Sources: sources,
		DataDir: dataDir, Concurrency: cfg.concurrency, Logger: logger.With("component", "builder"),
	})
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	srv.Builder = b
	logger.Info("built-in builder ready", "registry", reg.Host, "concurrency", b.Concurrency())
	return func() { b.Wait(); _ = dc.Close() }, nil
}
