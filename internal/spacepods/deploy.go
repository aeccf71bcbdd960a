package spacepods

import "time"

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
