package spacepods

import (
	"context"
	"time"
)

// Environment kinds.
const (
	EnvPod    = "pod"    // personal or CI: ephemeral, wiped on update, expires
	EnvMaster = "master" // qa, staging, production: long-lived, zero-downtime rollouts
)

// Environment statuses.
const (
	StatusCreating   = "creating"
	StatusReady      = "ready"
	StatusUpdating   = "updating"
	StatusFailed     = "failed"
	StatusDestroying = "destroying"
	StatusDestroyed  = "destroyed"
)

// Environment is where apps run: a pod or a master environment.
type Environment struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`
	Owner     string         `json:"owner"`
	Status    string         `json:"status"`
	Reason    string         `json:"reason,omitempty"` // why it failed
	Protected bool           `json:"protected,omitempty"`
	Apps      []string       `json:"apps"`             // apps asked for (pods); closure is in EnvApps
	Builds    map[string]int `json:"builds,omitempty"` // pinned builds asked for
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	// PRURL is the pull request a CI pod was made for (its page links back).
	PRURL string `json:"pr_url,omitempty"`
	// NoSecrets keeps secrets and environment-scoped config out of the
	// environment's releases (the pods of fork pull requests).
	NoSecrets bool `json:"no_secrets,omitempty"`
	// Sleep says whether the pod's apps sleep when idle and which do now
	// (filled by the pods service for pods; nil for masters).
	Sleep     *PodSleep `json:"sleep,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EnvApp is one app running (or to run) in an environment.
type EnvApp struct {
	Env       string    `json:"env"`
	App       string    `json:"app"`
	Build     int       `json:"build"`
	Release   int       `json:"release"` // the live release, 0 = none yet
	Status    string    `json:"status"`  // pending, deploying, healthy, failed
	Reason    string    `json:"reason,omitempty"`
	URL       string    `json:"url,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// AsleepSince is when the app was put to sleep; nil while awake.
	AsleepSince *time.Time `json:"asleep_since,omitempty"`
}

// Event is one line of progress of an environment or deploy.
type Event struct {
	ID      int64  `json:"id"`
	Env     string `json:"env"`
	App     string `json:"app,omitempty"`
	Deploy  int64  `json:"deploy,omitempty"`
	Level   string `json:"level"` // info, warn, error
	Message string `json:"message"`
	// Output is a line of a task's output the event carries (a running
	// migration's latest line); OutputHidden says it was withheld from a
	// caller who may not read output (see MayReadOutput).
	Output       string    `json:"output,omitempty"`
	OutputHidden bool      `json:"output_hidden,omitempty"`
	At           time.Time `json:"at"`
}

// Line is the event as one line of text: its message and its output.
func (e Event) Line() string {
	if e.Output == "" {
		return e.Message
	}
	return e.Message + ": " + e.Output
}

// MayReadOutput reports whether the caller in ctx may read task and
// container output (deploy output, output lines of events, logs): it often
// carries connection strings and secrets that apps print, so viewers may
// not. A context without a caller is the system itself.
func MayReadOutput(ctx context.Context) bool {
	return RoleAtLeast(ActorRole(ctx), RoleDeveloper)
}

// HideOutput withholds a deploy's failure output from callers below
// developer: task and container output often carries connection strings
// and other secrets that the apps print.
func HideOutput(ctx context.Context, d *Deploy) {
	if d.Output == "" {
		return
	}
	if !MayReadOutput(ctx) {
		d.Output, d.OutputHidden = "", true
	}
}

// RedactEvents withholds the events' output lines from a caller who may
// not read output.
func RedactEvents(ctx context.Context, evs []Event) []Event {
	if MayReadOutput(ctx) {
		return evs
	}
	for i := range evs {
		if evs[i].Output != "" {
			evs[i].Output, evs[i].OutputHidden = "", true
		}
	}
	return evs
}

// Release is an immutable, numbered spec of what runs: the task definition.
type Release struct {
	Env    string `json:"env"`
	App    string `json:"app"`
	Number int    `json:"number"`
	Build  int    `json:"build"`
	Image  string `json:"image"`
	// PinnedImage is what the runtime runs, fixed when the release was
	// registered: repository@sha256:... for an image on a registry, the
	// image ID for one only on the Docker host. Re-pushing Image's tag
	// never changes it. "" in releases made before digests were pinned,
	// and where the runtime cannot pin (see RunImage).
	PinnedImage string            `json:"pinned_image,omitempty"`
	GitSHA      string            `json:"git_sha"`
	Vars        map[string]string `json:"vars"`                  // resolved plain env vars
	SecretRefs  map[string]string `json:"secret_refs,omitempty"` // var name → secret store reference
	Command     []string          `json:"command,omitempty"`
	Migrate     []string          `json:"migrate,omitempty"`
	Replicas    int               `json:"replicas"`
	Workers     []Worker          `json:"workers,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`

	// AppVersion is the manifest version the release was made from (0 in
	// releases made before it was recorded).
	AppVersion int `json:"app_version,omitempty"`
	// Args and MigrateTimeout are the app's (see App), as registered.
	Args           []string `json:"args,omitempty"`
	MigrateTimeout string   `json:"migrate_timeout,omitempty"`
}

// RunImage is the image reference the runtime runs for this release: the
// pinned one when there is one, else Image.
func (r Release) RunImage() string {
	if r.PinnedImage != "" {
		return r.PinnedImage
	}
	return r.Image
}

// ValidateEnvName checks a pod or environment name.
func ValidateEnvName(name string) error { return ValidateName("environment", name) }

// CreatePodRequest asks for a pod.
type CreatePodRequest struct {
	Name   string         `json:"name"`
	Apps   []string       `json:"apps"`
	Builds map[string]int `json:"builds,omitempty"` // app → build number; default: latest of main
	TTL    string         `json:"ttl,omitempty"`    // Go duration, e.g. 8h; default 24h
	// IdleTimeout is how long the pod's apps may go without a request
	// before they sleep (Go duration; default: the server's --idle-timeout).
	IdleTimeout string `json:"idle_timeout,omitempty"`
	// KeepAwake: the pod never sleeps.
	KeepAwake bool `json:"keep_awake,omitempty"`
	// PRURL and NoSecrets are set by the previews package (CI pods of pull
	// requests), never by the API.
	PRURL     string `json:"-"`
	NoSecrets bool   `json:"-"`
}

// PodPlan is what a pod create (or update) will make.
type PodPlan struct {
	Pod       string       `json:"pod"`
	Apps      []PodPlanApp `json:"apps"` // start order
	ExpiresAt time.Time    `json:"expires_at"`
}

// PodPlanApp is one app of a pod plan.
type PodPlanApp struct {
	App      string `json:"app"`
	Build    int    `json:"build"`
	Image    string `json:"image"`
	Branch   string `json:"branch"`
	Database string `json:"database"` // "-", "empty", "seed", "snapshot NAME"
	URL      string `json:"url,omitempty"`
	Asked    bool   `json:"asked"` // asked for, not only a dependency
}

// EnvironmentView is a pod or environment with its apps.
type EnvironmentView struct {
	Environment
	AppStatus []EnvApp `json:"app_status"`
}

// Leak is one runtime object, database or route that belongs to no live
// environment.
type Leak struct {
	Kind        string `json:"kind"` // service, network, database, route, router-environment
	Environment string `json:"environment"`
	Name        string `json:"name"`
	Removed     bool   `json:"removed,omitempty"`
	Error       string `json:"error,omitempty"`
}

// CreatePodResponse is the plan of a pod and the pod being created.
type CreatePodResponse struct {
	Plan PodPlan     `json:"plan"`
	Pod  Environment `json:"pod"`
}

// UpdatePodRequest pins builds for a pod update (others: latest of main).
type UpdatePodRequest struct {
	Builds map[string]int `json:"builds,omitempty"`
}

// ExtendPodRequest sets a pod's TTL from now.
type ExtendPodRequest struct {
	TTL string `json:"ttl"`
}

// CreateEnvironmentRequest creates a master environment.
type CreateEnvironmentRequest struct {
	Name      string `json:"name"`
	Protected bool   `json:"protected,omitempty"`
}
