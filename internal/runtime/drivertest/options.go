package drivertest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
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
	// NoDataPlane, when set, says why the runtime runs nothing at all: an
	// emulator that answers the runtime's API only (moto for ECS), whose
	// services never get tasks and whose tasks stop at once with exit code
	// 0. The suite then skips, with this reason, every case that needs
	// replicas or tasks that run, and runs those that the API alone
	// answers (environments, services' identity, labels, listing, not
	// found, installations).
	NoDataPlane string
	// Installation, when set, returns a driver of the same runtime
	// configured for installation id (its objects labelled with it, and
	// only those seen). The suite then checks that two installations
	// sharing the runtime neither see nor touch each other's environments.
	Installation func(t *testing.T, id string) runtime.Driver
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
	// Process returns the command and the arguments that the runtime runs
	// in the containers of a service (e.g. its Deployment's command and
	// args).
	Process func(ctx context.Context, env, service string) (command, args []string, err error)
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

// testInstallations: installation b neither lists a's environment and
// service, nor takes it over, nor destroys it.
func testInstallations(t *testing.T, s *suite) {
	if s.opts.Installation == nil {
		t.Skip("the driver has no installation setting")
	}
	ctx := s.ctx(t)
	suffix := uniqueName("")
	a, b := s.opts.Installation(t, "a"+suffix), s.opts.Installation(t, "b"+suffix)
	env := uniqueName("inst")
	if err := a.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.DestroyEnvironment(context.Background(), env) }) // best-effort cleanup; nothing useful to do on failure
	idle := s.web(env, "web", nil)
	idle.Replicas = 0
	if err := a.CreateService(ctx, idle); err != nil {
		t.Fatal(err)
	}
	if envs, err := b.ListEnvironments(ctx); err != nil || slices.Contains(envs, env) {
		t.Errorf("installation b lists environments %v (%v): must not include a's %s", envs, err, env)
	}
	if svcs, err := b.ListServices(ctx, ""); err != nil {
		t.Error(err)
	} else {
		for _, sv := range svcs {
			if sv.Environment == env {
				t.Errorf("installation b lists a's service %s/%s", env, sv.Name)
			}
		}
	}
	err := b.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env})
	wantCode(t, err, spacepods.ECONFLICT, "EnsureEnvironment of another installation's environment")
	if err != nil && !strings.Contains(err.Error(), "another Spacepods installation") {
		t.Errorf("the conflict does not say that another installation has it: %v", err)
	}
	if err := b.DestroyEnvironment(ctx, env); err != nil && spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Errorf("installation b destroying a's environment: %v, want nothing done (or a conflict)", err)
	}
	if _, err := a.ServiceStatus(ctx, env, "web"); err != nil {
		t.Errorf("a's service after b's attempts: %v", err)
	}
	if envs, err := a.ListEnvironments(ctx); err != nil || !slices.Contains(envs, env) {
		t.Errorf("installation a lists %v (%v): missing its own %s", envs, err, env)
	}
}
