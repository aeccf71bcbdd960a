package spacepods

import (
	"regexp"
	"time"
)

// Build job statuses: queued → running → succeeded | failed; queued or
// running → canceled.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCanceled  = "canceled"
)

// BuildJob is one run of the built-in builder: fetch an app's git repository
// at a ref, build its image, push it, record the build. A job that does not
// succeed records no build.
type BuildJob struct {
	ID  int64  `json:"id"`
	App string `json:"app"`
	// Ref is what was asked for (a branch, tag or commit; "" = the
	// repository's default branch); SHA, Branch, Author and Message are
	// what it resolved to, once fetched.
	Ref     string `json:"ref"`
	SHA     string `json:"sha,omitempty"`
	Branch  string `json:"branch,omitempty"`
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
	Status  string `json:"status"`
	// Error says why a failed or canceled job ended; its log has the detail.
	Error string `json:"error,omitempty"`
	// Image and Digest are what was pushed; BuildNumber is the build the
	// job recorded (0 until it succeeds).
	Image       string `json:"image,omitempty"`
	Digest      string `json:"digest,omitempty"`
	BuildNumber int    `json:"build_number,omitempty"`
	// QueuePosition is 1 for the next queued job to run (0 when not queued).
	QueuePosition int        `json:"queue_position,omitempty"`
	CreatedBy     string     `json:"created_by"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	// Log is the build's output (git, Docker build steps, push); only in
	// GET of one job, and only for developers and admins.
	Log string `json:"log,omitempty"`
}

// Done reports whether the job has ended.
func (j *BuildJob) Done() bool {
	return j.Status == JobSucceeded || j.Status == JobFailed || j.Status == JobCanceled
}

// RunBuildRequest asks the builder to build an app at a ref.
type RunBuildRequest struct {
	// Ref is a branch, tag or commit SHA; "" = the default branch.
	Ref string `json:"ref,omitempty"`
}

var refRE = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)

// Validate checks the ref's shape (whether it exists is the repository's say).
func (r *RunBuildRequest) Validate() error {
	if r.Ref != "" && (!refRE.MatchString(r.Ref) || r.Ref[0] == '-' || r.Ref[0] == '/') {
		return Errorf(EINVALID, "ref %q is not a branch, tag or commit: write e.g. --ref main or --ref 3f2c1ab", r.Ref)
	}
	return nil
}
