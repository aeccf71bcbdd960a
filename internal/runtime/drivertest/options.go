package drivertest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
)

// Options adapt the suite to what a driver's runtime can do. The zero value
// is a runtime that really runs the test image (Docker): see Run.
type Options struct {
	// Simulated, when set, declares a runtime with no data plane: its
	// replicas and tasks are simulated (e.g. a Kubernetes control plane
	// whose nodes are kwok's fake ones), so no program answers at a replica
	// address and tasks print no output of their own. The suite then sends
	// no traffic to replicas and expects no program output; it checks what
	// traffic would have shown through the runtime's API instead.
	Simulated *Simulation
}

// Simulation is how the suite looks into a runtime with no data plane.
type Simulation struct {
	// Env returns the environment variables that the runtime gives the
	// containers of a service (e.g. from its Deployment).
	Env func(ctx context.Context, env, service string) (map[string]string, error)
	// Resolve returns the replica addresses (host:port) that a DNS name
	// leads to inside an environment (e.g. from a Service's endpoints); none
	// if the name does not resolve there.
	Resolve func(ctx context.Context, env, name string) ([]string, error)
}

// RunWithOptions is Run for a runtime that opts describe.
func RunWithOptions(t *testing.T, newDriver func(t *testing.T) runtime.Driver, images Images, opts Options) {
	run(t, newDriver, images, opts)
}

// simulated reports whether the runtime has no data plane.
func (s *suite) simulated() bool { return s.opts.Simulated != nil }

// resolveEventually polls Simulation.Resolve until want(addrs) holds, for
// at most 45 s, and returns the last answer.
func (s *suite) resolveEventually(t *testing.T, env, name string, want func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		addrs, err := s.opts.Simulated.Resolve(s.ctx(t), env, name)
		if err != nil {
			t.Fatalf("Resolve(%s, %s): %v", env, name, err)
		}
		if want(addrs) || time.Now().After(deadline) {
			return addrs
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
