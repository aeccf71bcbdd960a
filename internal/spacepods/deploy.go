package spacepods

import (
	"fmt"
	"strings"
	"time"
)

// Deploy statuses.
const (
	DeployQueued     = "queued"
	DeployRunning    = "running"
	DeployCompleted  = "completed"
	DeployRolledBack = "rolled_back"
	DeployFailed     = "failed"    // could not even roll back cleanly; see events
	DeployCancelled  = "cancelled" // stopped because its environment was destroyed or wiped
)

// The five steps of the deploy script, in order.
var DeploySteps = []string{"clear_stale", "register_release", "migrate", "create_service", "rollout"}

// Deploy is one durable run of the deploy script for (environment, app).
type Deploy struct {
	ID          int64        `json:"id"`
	Env         string       `json:"env"`
	App         string       `json:"app"`
	Build       int          `json:"build"`
	Release     int          `json:"release,omitempty"`      // registered in step 2
	FromRelease int          `json:"from_release,omitempty"` // what was live before
	Rollback    bool         `json:"rollback,omitempty"`     // redeploys an earlier release
	Status      string       `json:"status"`
	Step        string       `json:"step,omitempty"` // current or last step
	Error       string       `json:"error,omitempty"`
	Output      string       `json:"output,omitempty"` // failing task/container output kept for the user
	CreatedBy   string       `json:"created_by"`
	CreatedAt   time.Time    `json:"created_at"`
	StartedAt   *time.Time   `json:"started_at,omitempty"`
	EndedAt     *time.Time   `json:"ended_at,omitempty"`
	Steps       []DeployStep `json:"steps,omitempty"`

	// OutputHidden says that Output was withheld from a viewer: task and
	// container output often carries connection strings.
	OutputHidden bool `json:"output_hidden,omitempty"`
	// ManifestVersion is the app's manifest version the deploy was asked
	// for with; ConfirmedBy names the admin who confirmed its changes to
	// what runs in a protected environment (see DeployPlan).
	ManifestVersion int    `json:"manifest_version,omitempty"`
	ConfirmedBy     string `json:"confirmed_by,omitempty"`
}

// DeployStep is one step's record.
type DeployStep struct {
	Name      string     `json:"name"`
	Status    string     `json:"status"` // pending, running, done, failed, skipped
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Detail    string     `json:"detail,omitempty"`
}

// Done reports whether the deploy has ended.
func (d *Deploy) Done() bool {
	return d.Status == DeployCompleted || d.Status == DeployRolledBack || d.Status == DeployFailed || d.Status == DeployCancelled
}

// DeployPlan is what a deploy of a build would change in an environment:
// the manifest fields that differ between the live release and the app's
// current manifest, and who registered each version in between. In a
// protected environment a change that alters what runs takes effect only
// on a deploy an admin confirms, naming the manifest version of the plan.
type DeployPlan struct {
	Env       string `json:"env"`
	App       string `json:"app"`
	Build     int    `json:"build"`
	Image     string `json:"image,omitempty"`
	Protected bool   `json:"protected"`
	// LiveRelease is the release running now (0: none yet), made from
	// build LiveBuild and manifest version LiveManifest.
	LiveRelease  int `json:"live_release,omitempty"`
	LiveBuild    int `json:"live_build,omitempty"`
	LiveManifest int `json:"live_manifest_version,omitempty"`
	// Manifest is the manifest version the deploy would run.
	Manifest int `json:"manifest_version"`
	// Changes lists every manifest field that differs, live → new.
	Changes []ManifestChange `json:"changes"`
	// Registrations are the manifest versions after the live one, oldest
	// first: who registered each and what it changed.
	Registrations []Registration `json:"registrations"`
	// NeedsConfirmation is set when the environment is protected, something
	// runs there already and a change alters what runs: the deploy must be
	// confirmed by an admin.
	NeedsConfirmation bool `json:"needs_confirmation"`
	// Note explains a limit of the comparison, if any.
	Note string `json:"note,omitempty"`
}

// Registration is one registration of an app's manifest.
type Registration struct {
	Version int              `json:"version"`
	By      string           `json:"by"`
	At      time.Time        `json:"at"`
	Changes []ManifestChange `json:"changes"` // from the version before
}

// ConfirmFlag is how a CLI user confirms a deploy's manifest changes: it
// takes the manifest version the plan showed.
const ConfirmFlag = "--confirm-manifest-change"

// String renders the plan for people: the changes that alter what runs,
// then who registered them.
func (p DeployPlan) String() string {
	var b strings.Builder
	switch {
	case p.LiveRelease == 0:
		fmt.Fprintf(&b, "%s runs no release of %s yet: this deploy starts manifest version %d (build %d)\n", p.Env, p.App, p.Manifest, p.Build)
	case len(p.Changes) == 0:
		fmt.Fprintf(&b, "%s in %s: build %d → %d; the manifest is unchanged (version %d)\n", p.App, p.Env, p.LiveBuild, p.Build, p.Manifest)
	default:
		live := "unknown"
		if p.LiveManifest > 0 {
			live = fmt.Sprint(p.LiveManifest)
		}
		fmt.Fprintf(&b, "%s in %s: build %d → %d; manifest version %s → %d, changed fields:\n", p.App, p.Env, p.LiveBuild, p.Build, live, p.Manifest)
		for _, c := range p.Changes {
			mark := "  "
			if c.AltersRun {
				mark = "! "
			}
			fmt.Fprintf(&b, "  %s%s\n", mark, c)
		}
	}
	if len(p.Registrations) > 0 && p.LiveRelease > 0 {
		b.WriteString("registered since the live release:\n")
		for _, r := range p.Registrations {
			fmt.Fprintf(&b, "  version %d by %s at %s: %s\n", r.Version, r.By, r.At.UTC().Format(time.RFC3339), SummarizeChanges(r.Changes, 300))
		}
	}
	if p.Note != "" {
		b.WriteString("note: " + p.Note + "\n")
	}
	if p.NeedsConfirmation {
		fmt.Fprintf(&b, "%s is protected: the changes marked ! alter what runs there and take effect only on a deploy an admin confirms (%s %d)\n", p.Env, ConfirmFlag, p.Manifest)
	}
	return b.String()
}

// DeployRequest asks for a deploy of a build to a master environment (or
// for its plan).
type DeployRequest struct {
	Env   string `json:"env"`
	App   string `json:"app"`
	Build int    `json:"build"`
	// ConfirmManifestVersion is an admin's confirmation of the manifest
	// changes the deploy's plan shows: the manifest version the plan was of.
	// A protected environment refuses a deploy that changes what runs
	// without it (409, with the plan), or with another version.
	ConfirmManifestVersion int `json:"confirm_manifest_version,omitempty"`
}

// RollbackRequest asks to redeploy the previous release.
type RollbackRequest struct {
	Env string `json:"env"`
	App string `json:"app"`
}

// PromoteRequest deploys the build running in From to To.
type PromoteRequest struct {
	App  string `json:"app"`
	From string `json:"from"`
	To   string `json:"to"`
	// ConfirmManifestVersion: as in DeployRequest.
	ConfirmManifestVersion int `json:"confirm_manifest_version,omitempty"`
}
