package docker

import (
	"context"

	"github.com/spacepods/spacepods/internal/runtime"
)

// ID is the docker driver's registry ID (`spacepods server --runtime docker`).
const ID = "docker"

func init() { runtime.Register(ID, Open) }

// The abilities the server finds by type assertion.
var (
	_ runtime.Driver             = (*Driver)(nil)
	_ runtime.Gatewayer          = (*Driver)(nil)
	_ runtime.Subnetter          = (*Driver)(nil)
	_ runtime.BridgeGatewayer    = (*Driver)(nil)
	_ runtime.ContainerSubnetter = (*Driver)(nil)
	_ runtime.ImageHost          = (*Driver)(nil)
)

// Open is the docker driver's runtime.Factory: a driver for the daemon
// named by the DOCKER_* environment variables, which must answer
// (EUNAVAILABLE otherwise). It takes no settings of its own.
func Open(ctx context.Context, cfg runtime.Config) (runtime.Driver, error) {
	d, err := New(cfg.Logger, WithInstallation(cfg.Installation), WithSecrets(cfg.Secrets), WithRegistry(cfg.Registry))
	if err != nil {
		return nil, err
	}
	if err := d.Ping(ctx); err != nil {
		_ = d.Close() // best-effort cleanup; nothing useful to do on failure
		return nil, err
	}
	return d, nil
}
