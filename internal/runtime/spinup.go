package runtime

import (
	"context"
	"time"
)

// HealthWaiter is an optional ability: waiting for a service's replicas to
// become healthy, noticed within milliseconds, more cheaply than by polling
// ServiceStatus (Docker: one listing, then health probes from the host and
// the daemon's events, instead of a listing and an inspect per look).
type HealthWaiter interface {
	// WaitHealthy waits until n replicas of the service run and are
	// healthy (true), or one of them exits, or within passes (false). It
	// decides nothing: the caller reads ServiceStatus afterwards for the
	// replicas' addresses and errors. ENOTFOUND if no such service.
	WaitHealthy(ctx context.Context, env, name string, n int, within time.Duration) (bool, error)
}

// Preparer is an optional ability: making a service's containers ahead of
// time without starting them (while its release's migration runs, say), so
// that CreateService with the same spec then only starts them. Nothing of
// the new release runs before CreateService.
type Preparer interface {
	// PrepareService makes spec.Replicas replicas of the service, not
	// started. A service of that name with the same release and image is
	// left alone; ECONFLICT if it differs; ENOTFOUND if the environment
	// does not exist; EINVALID for a bad spec or a missing image. On an
	// error nothing of it is left. Whatever finds services by labels
	// (DeleteService, ListServices) sees a prepared one.
	PrepareService(ctx context.Context, spec ServiceSpec) error
}
