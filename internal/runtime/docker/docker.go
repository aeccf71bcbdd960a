// Package docker is the Docker Engine runtime driver: one bridge network per
// environment, one container per replica, ports published on 127.0.0.1.
//
// The driver keeps no state of its own: everything it needs (which services
// exist, their spec, their desired count) is read back from container and
// network labels, so a restarted control plane finds everything from Docker
// alone. Replicas 1..N each hold the service's full spec (labels, env,
// command). A service scaled to zero keeps it in a "spec" container
// (replica 0), created but never started, made as the last replicas go, so
// that it can be scaled up again (rollback); a service's first start makes
// none (one container less on every deploy's critical path). The desired
// count is the number of replica containers (labels are immutable in
// Docker, so a count label would go stale on every scale).
//
// Secret env vars (ServiceSpec.Secrets) never rest in a spec container:
// it holds their references only (a label), and the driver reads the
// values through its SecretResolver when it starts replicas, or copies
// them from a replica that has them, so that all replicas of a service
// see the same values. A started container's env does hold the values:
// Docker outside Swarm has no secret store to refer to (docs/secrets.md).
//
// Health is probed by the driver itself, from the host, on each replica's
// published loopback port when ServiceStatus or ListServices asks (scratch
// images have no shell or curl for a Docker HEALTHCHECK); so
// HealthCheck.Interval is not used. Replicas restart unless stopped (a crashed
// replica comes back, and so do all after a dockerd restart); a restarted
// replica may get another host port, which the next status reports.
package docker

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

var (
	_ runtime.Driver    = (*Driver)(nil)
	_ runtime.Gatewayer = (*Driver)(nil)
)

// Driver-internal labels, next to the shared ones in package runtime.
const (
	labelReplica       = "spacepods.replica" // "0" = spec container, never started
	labelPort          = "spacepods.port"
	labelAliases       = "spacepods.aliases" // comma-separated
	labelHealthPath    = "spacepods.health.path"
	labelHealthTimeout = "spacepods.health.timeout"
	labelSecrets       = "spacepods.secrets" // JSON: secret env var name → reference (never a value)
)

const (
	stopGrace      = 5 * time.Second // SIGTERM, then SIGKILL after this
	defaultTimeout = 2 * time.Second // health probe timeout
	errorLogLines  = 10              // log lines quoted in Replica.Error
)

// Driver runs Spacepods services and tasks as Docker containers. It is safe
// for concurrent use.
type Driver struct {
	client *client.Client
	logger *slog.Logger
	probe  *http.Client
	locks  [64]sync.Mutex // striped per (environment, service)

	probeSlots chan struct{}  // bounds concurrent replica probes
	cleanups   sync.WaitGroup // removals of finished tasks' containers (see RunTask)

	installation string                 // see WithInstallation
	secrets      runtime.SecretResolver // see WithSecrets
	registry     runtime.RegistryLogin  // see WithRegistry
}

// Option configures New.
type Option func(*Driver)

// WithInstallation labels everything the driver makes with the
// installation's ID and makes it see only what carries that ID: two
// installations sharing a Docker daemon do not see each other's
// environments (nor take them for leaks).
func WithInstallation(id string) Option { return func(d *Driver) { d.installation = id } }

// WithSecrets makes the driver read the values of secret env vars
// (ServiceSpec.Secrets, TaskSpec.Secrets) through r when it starts
// containers. Without it, a spec that names secrets is refused with
// EUNAVAILABLE.
func WithSecrets(r runtime.SecretResolver) Option { return func(d *Driver) { d.secrets = r } }

// New returns a driver for the daemon named by the DOCKER_* environment
// variables (default: the local socket). It does not connect; see Ping.
func New(logger *slog.Logger, opts ...Option) (*Driver, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "docker client: %v: check DOCKER_HOST and the other DOCKER_* variables", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Driver{
		client:     c,
		logger:     logger.With("driver", "docker"),
		probeSlots: make(chan struct{}, 32),
		probe: &http.Client{
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// Name returns the driver's registry ID.
func (d *Driver) Name() string { return ID }

// Ping checks that the daemon answers. EUNAVAILABLE if it does not.
func (d *Driver) Ping(ctx context.Context) error {
	_, err := d.client.Ping(ctx)
	return d.wrap(err, "ping")
}

// Close waits for the removals of finished tasks' containers, then
// releases the client's connections.
func (d *Driver) Close() error {
	d.cleanups.Wait()
	return d.client.Close()
}

// wrap turns a Docker client error into the Spacepods error vocabulary.
func (d *Driver) wrap(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case client.IsErrConnectionFailed(err):
		return spacepods.Errorf(spacepods.EUNAVAILABLE,
			"cannot reach the Docker daemon at %s: start it (dockerd) or set DOCKER_HOST", d.client.DaemonHost())
	case cerrdefs.IsConflict(err):
		return spacepods.Errorf(spacepods.ECONFLICT, "docker: %s: %v", what, err)
	}
	return fmt.Errorf("docker: %s: %w", what, err)
}

// lock serializes changes to one service within this process.
func (d *Driver) lock(env, name string) func() {
	h := fnv.New32a()
	h.Write([]byte(env + "\x00" + name))
	m := &d.locks[h.Sum32()%uint32(len(d.locks))]
	m.Lock()
	return m.Unlock
}

func networkName(env string) string { return "spacepods-" + env }

// containerName is unambiguous across environments and services (see
// runtime.ObjectName). Containers are found by labels, never by name, so
// those an older version named spacepods-<env>-<service>-<n> are still
// found, scaled and removed.
func containerName(env, service string, replica int) string {
	return runtime.ObjectName("spacepods", env, service, strconv.Itoa(replica))
}
