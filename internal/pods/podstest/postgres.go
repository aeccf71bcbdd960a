package podstest

import (
	"context"
	"log/slog"

	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/runtime/docker"
)

// LocalPostgres starts a throwaway PostgreSQL cluster in dir as the server
// starts its own (dir must not exist; when we are root, its parent must be
// readable by the postgres user): listening on the Docker default bridge's gateway, admitting
// pods' roles from Docker's address pools. For benchmarks run without a
// PostgreSQL URL; stop it with its Stop.
func LocalPostgres(ctx context.Context, dir string, logger *slog.Logger) (*databases.Cluster, error) {
	dd, err := docker.New(logger)
	if err != nil {
		return nil, err
	}
	defer func() { _ = dd.Close() }() // best-effort cleanup; nothing useful to do on failure
	gw, err := dd.BridgeGateway(ctx)
	if err != nil {
		return nil, err
	}
	subnets, err := dd.ContainerSubnets(ctx)
	if err != nil {
		return nil, err
	}
	return databases.StartLocal(ctx, dir, logger, databases.ListenOn(gw), databases.AdmitPods(subnets...))
}
