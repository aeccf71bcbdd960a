// Package runtime defines the small interface every runtime driver (Docker,
// Kubernetes, ECS) implements, and the labels that tie runtime objects back
// to Spacepods environments. Drivers never import domain services.
package runtime

import (
	"context"
	"io"
	"time"
)

// Labels put on every runtime object so that Spacepods can find what it made
// from the runtime alone (stale services, leak audits, crash recovery).
const (
	LabelManaged     = "spacepods.managed" // always "true"
	LabelEnvironment = "spacepods.environment"
	LabelApp         = "spacepods.app"
	LabelRelease     = "spacepods.release"
	LabelRole        = "spacepods.role" // web | worker | task
	LabelService     = "spacepods.service"
	// LabelInstallation names the Spacepods installation that made the
	// object, so that installations sharing a Docker host or a cluster tell
	// their objects apart. Drivers configured with no installation neither
	// set nor check it.
	LabelInstallation = "spacepods.installation"
)

// Roles of runtime objects.
const (
	RoleWeb    = "web"
	RoleWorker = "worker"
	RoleTask   = "task"
)

// EnvSpec describes an environment's runtime scope (a Docker network, a
// Kubernetes namespace).
type EnvSpec struct {
	Name   string
	Labels map[string]string
}

// HealthCheck is how a driver decides that a replica is healthy.
type HealthCheck struct {
	Path     string        // HTTP path probed on Port; empty = running is healthy
	Interval time.Duration // default 1s
	Timeout  time.Duration // default 2s
}

// ServiceSpec is one release of one app (or worker process) in one environment.
//
// Command is the whole process to run: it replaces the image's ENTRYPOINT
// and CMD (Docker's Entrypoint, Kubernetes' command); empty, the image's
// ENTRYPOINT runs. Args replace the image's CMD: the arguments after
// Command, or after the image's ENTRYPOINT when Command is empty (Docker's
// Cmd, Kubernetes' args); empty, none follow a Command, and the image's CMD
// follows its ENTRYPOINT.
type ServiceSpec struct {
	Name        string // unique per environment, e.g. catalog-api-r3; a DNS label
	Environment string // EnvSpec.Name
	App         string
	Release     int
	Role        string // RoleWeb | RoleWorker
	Image       string
	Command     []string          // the whole process (replaces ENTRYPOINT and CMD); empty = the image's ENTRYPOINT
	Args        []string          // replace the image's CMD; see above
	Env         map[string]string // injected at start; values never logged
	// Secrets are the env vars whose values are secret: name → reference
	// in the secret store. The driver reads the values through its
	// SecretResolver when it starts containers and keeps them out of
	// every spec at rest (see SecretResolver).
	Secrets map[string]string
	Port    int      // container port for web services; 0 for workers
	Aliases []string // DNS names inside the environment's network, e.g. the app name
	// Hosts are extra host name → IP entries of the replicas (/etc/hosts),
	// e.g. dependencies' host names pointing at the edge router.
	Hosts    map[string]string
	Health   HealthCheck
	Replicas int
	Labels   map[string]string // extra labels
}

// Replica is one running instance of a service.
type Replica struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"` // host:port reachable from the control plane (127.0.0.1:NNNN on Docker)
	Running bool   `json:"running"`
	Healthy bool   `json:"healthy"`
	// Restarts counts how often the runtime restarted the replica's
	// process after it exited (a crash loop climbs fast).
	Restarts int `json:"restarts,omitempty"`
	// Crashes counts the times the replica's process ended: its restarts,
	// plus one while it is down after a non-zero exit. A service's process
	// is meant to run until it is stopped, and runtimes keep the code of
	// the last exit only, so every restart counts. Drivers may leave it 0
	// for a healthy replica.
	Crashes int    `json:"crashes,omitempty"`
	Error   string `json:"error,omitempty"` // last exit reason or failed health check output
}

// ServiceStatus is what a driver knows of a service right now.
type ServiceStatus struct {
	Name        string            `json:"name"`
	Environment string            `json:"environment"`
	App         string            `json:"app"`
	Release     int               `json:"release"`
	Role        string            `json:"role"`
	Desired     int               `json:"desired"`
	Running     int               `json:"running"`
	Healthy     int               `json:"healthy"`
	Replicas    []Replica         `json:"replicas"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// TaskSpec is a one-off run (migrations, tests) that exits with a code.
type TaskSpec struct {
	Name        string
	Environment string
	App         string
	Release     int
	Image       string
	Command     []string // as ServiceSpec.Command: the whole process
	Args        []string // as ServiceSpec.Args
	Env         map[string]string
	Secrets     map[string]string // as ServiceSpec.Secrets
	Hosts       map[string]string // as ServiceSpec.Hosts
	Timeout     time.Duration     // default 10m
	Labels      map[string]string
	// Output, when set, receives the task's stdout and stderr while it
	// runs (best effort: lines may be missed when the runtime's log stream
	// breaks). Writes come from another goroutine. TaskResult.LogTail is
	// the authoritative record.
	Output io.Writer
}

// SecretResolver reads the values of secret env vars by their references
// in the secret store (config.Service implements it). Drivers call it when
// they start containers, so that a value never rests where a spec does:
// the Kubernetes driver puts the values in a Secret per service or task
// and refers to it from the pod template; the Docker driver keeps only the
// references in a service's spec container and gives the values to the
// replicas it starts.
type SecretResolver interface {
	// ResolveSecrets returns name → value for refs (name → reference).
	// ENOTFOUND for a reference with no value; EUNAVAILABLE when the
	// secret store cannot be reached.
	ResolveSecrets(ctx context.Context, refs map[string]string) (map[string]string, error)
}

// TaskResult is how a task ended.
type TaskResult struct {
	ExitCode int    `json:"exit_code"`
	LogTail  string `json:"log_tail"` // the last lines of stdout+stderr (at most 64 KiB)
}

// LogOptions selects the log lines of a service.
type LogOptions struct {
	Follow bool
	Tail   int // 0 = all
}

// Driver runs services and tasks for Spacepods environments. Every method is
// idempotent where it can be: creating what exists or deleting what is gone
// is not an error.
type Driver interface {
	// Name returns the driver's registry ID, e.g. "docker".
	Name() string
	// EnsureEnvironment creates the environment's scope if missing.
	EnsureEnvironment(ctx context.Context, env EnvSpec) error
	// DestroyEnvironment removes the scope and everything in it.
	DestroyEnvironment(ctx context.Context, env string) error
	// CreateService starts spec.Replicas replicas of a service. ECONFLICT if
	// a service of that name exists with another spec; ENOTFOUND if the
	// environment does not exist.
	CreateService(ctx context.Context, spec ServiceSpec) error
	// ScaleService sets the desired replica count. ENOTFOUND if no such service.
	ScaleService(ctx context.Context, env, name string, replicas int) error
	// ServiceStatus reports a service's replicas. ENOTFOUND if no such service.
	ServiceStatus(ctx context.Context, env, name string) (ServiceStatus, error)
	// DeleteService stops and removes all replicas of a service.
	DeleteService(ctx context.Context, env, name string) error
	// ListServices lists services by labels; env "" = every environment.
	ListServices(ctx context.Context, env string) ([]ServiceStatus, error)
	// ListEnvironments lists the environment scopes Spacepods created.
	ListEnvironments(ctx context.Context) ([]string, error)
	// RunTask runs a one-off task to completion and removes it. A non-zero
	// exit is a result, not an error. A task still running at its Timeout is
	// killed and its result (log tail) comes back with an error. ENOTFOUND
	// if the environment does not exist.
	RunTask(ctx context.Context, task TaskSpec) (TaskResult, error)
	// Logs streams a service's logs: all replicas, every line prefixed with
	// "[<replica>] ", Tail counted per replica. ENOTFOUND if no such service.
	Logs(ctx context.Context, env, name string, opts LogOptions) (io.ReadCloser, error)
}

// Gatewayer is an optional ability: the address at which containers of an
// environment reach services on the host (e.g. PostgreSQL).
type Gatewayer interface {
	HostAddress(ctx context.Context, env string) (string, error)
}

// Ingresser is an optional ability: the runtime routes an app's host name
// (<app>.<environment>.<domain>) to a service itself, e.g. with a Kubernetes
// Ingress, instead of Spacepods' own edge router.
type Ingresser interface {
	// Route points the app's host in env at target (a service name or one
	// of its aliases), creating or replacing the app's route, and returns
	// the host. ENOTFOUND if the environment or target does not exist;
	// EINVALID if target has no port.
	Route(ctx context.Context, env, app, target string) (host string, err error)
	// Unroute removes the app's route in env. A missing route is not an error.
	Unroute(ctx context.Context, env, app string) error
}

// ServiceAddresser is an optional ability: each service has one stable
// address that balances over its ready replicas (a Kubernetes Service). The
// edge router in front of such a runtime targets these (weighted by replica
// counts) instead of the replicas' own addresses.
type ServiceAddresser interface {
	// ServiceAddr returns host:port of the service name in env, reachable
	// from the edge router. ENOTFOUND if there is no such service;
	// EINVALID if it has no port (a worker).
	ServiceAddr(ctx context.Context, env, name string) (string, error)
}

// Subnetter is an optional ability: the subnet of an environment's
// containers (its Docker network's), from which the edge router's internal
// listener admits their calls to the environment's apps.
type Subnetter interface {
	Subnet(ctx context.Context, env string) (string, error)
}

// BridgeGatewayer is an optional ability: an address of the host that the
// containers of every environment reach (Docker's default bridge gateway),
// where the edge router's internal listener and the local PostgreSQL
// cluster listen for them.
type BridgeGatewayer interface {
	// BridgeGateway returns that address. EUNAVAILABLE when the runtime
	// has none or does not answer.
	BridgeGateway(ctx context.Context) (string, error)
}

// ContainerSubnetter is an optional ability: the subnets from which
// containers of any environment connect to services on the host; the local
// PostgreSQL cluster admits pods' roles from these only.
type ContainerSubnetter interface {
	// ContainerSubnets returns them as CIDRs. EUNAVAILABLE when the
	// runtime does not answer.
	ContainerSubnets(ctx context.Context) ([]string, error)
}

// ImageHost is an optional ability: the runtime's host keeps images
// (Docker). The deploy engine pins a release whose image has no registry
// host to the image's ID there, and has a missing image pulled before it
// runs, showing the pull's progress in the deploy's events.
type ImageHost interface {
	// ImageID returns the ID (sha256:...) of the image ref on the host.
	// ENOTFOUND when it is not there.
	ImageID(ctx context.Context, ref string) (string, error)
	// EnsureImage makes sure ref is on the host: when it is not, it pulls
	// it from the registry its name gives (with the registry login the
	// driver was given for that host), calling progress with a few lines
	// on the way: one per layer and per 25% of the bytes. EINVALID for a
	// missing image that names no registry (or is an ID): it is never
	// pulled from anywhere else; EUNAVAILABLE when the registry cannot be
	// reached or refuses; ENOTFOUND when it has no such image.
	EnsureImage(ctx context.Context, ref string, progress func(string)) error
}
