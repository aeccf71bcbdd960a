package docker

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/spacepods/spacepods/internal/runtime"
)

var _ runtime.Suspender = (*Driver)(nil)

// SuspendService stops the service's replicas (SIGTERM, then SIGKILL after
// the stop grace) and keeps the containers: their restart policy
// (unless-stopped) keeps them stopped across daemon restarts, and
// ResumeService starts them without creating anything. ENOTFOUND if no
// such service.
func (d *Driver) SuspendService(ctx context.Context, env, name string) error {
	defer d.lock(env, name)()
	s, err := d.findService(ctx, env, name)
	if err != nil {
		return err
	}
	grace := int(stopGrace / time.Second)
	err = runtime.Parallel(len(s.replicas), func(i int) error {
		if s.replicas[i].State != container.StateRunning && s.replicas[i].State != container.StateRestarting {
			return nil
		}
		if err := d.client.ContainerStop(ctx, s.replicas[i].ID, container.StopOptions{Timeout: &grace}); err != nil {
			return d.wrap(err, "stop container")
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.logger.Info("service suspended", "env", env, "service", name, "replicas", len(s.replicas))
	return nil
}

// ResumeService starts the service's stopped replicas. Each gets a new
// loopback port (ports are published on any free one). ENOTFOUND if no
// such service.
func (d *Driver) ResumeService(ctx context.Context, env, name string) error {
	defer d.lock(env, name)()
	s, err := d.findService(ctx, env, name)
	if err != nil {
		return err
	}
	err = runtime.Parallel(len(s.replicas), func(i int) error {
		if s.replicas[i].State == container.StateRunning {
			return nil
		}
		if err := d.client.ContainerStart(ctx, s.replicas[i].ID, container.StartOptions{}); err != nil {
			return d.wrap(err, "start container")
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.logger.Info("service resumed", "env", env, "service", name, "replicas", len(s.replicas))
	return nil
}
