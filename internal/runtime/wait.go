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
