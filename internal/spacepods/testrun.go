package spacepods

import "time"

// Test run statuses.
const (
	TestRunning = "running"
	TestPassed  = "passed"
	TestFailed  = "failed" // the suite ran and exited non-zero (or timed out)
	TestError   = "error"  // the suite could not run (image missing, runtime down, restart)
)

// TestRun is one run of an app's Gatekeeper test suite (the manifest's
// tests:) against an environment.
type TestRun struct {
	ID       int64      `json:"id"`
	Env      string     `json:"env"`
	App      string     `json:"app"`   // whose suite ran
	Build    int        `json:"build"` // the app's build in the environment when it ran
	GitSHA   string     `json:"git_sha,omitempty"`
	Image    string     `json:"image"` // the test image
	Status   string     `json:"status"`
	ExitCode int        `json:"exit_code"`
	Error    string     `json:"error,omitempty"` // why it could not run or was cut short
	LogTail  string     `json:"log_tail,omitempty"`
	Trigger  string     `json:"trigger,omitempty"` // "manual", "pr acme/catalog-api#12", "pipeline"…
	Started  time.Time  `json:"started_at"`
	Ended    *time.Time `json:"ended_at,omitempty"`
	Duration float64    `json:"duration_seconds"`
	By       string     `json:"created_by,omitempty"`
}

// Done reports whether the run has ended.
func (r TestRun) Done() bool { return r.Status != TestRunning }

// RunTestsRequest asks to run the test suites of an environment's app (and
// of the apps there that depend on it), or of every app of the environment
// that declares tests when App is "".
type RunTestsRequest struct {
	App string `json:"app,omitempty"`
}

// MaxTestLog is how much of a test run's output is kept (its end).
const MaxTestLog = 1 << 20

// TestLogTailLines is how many last lines of output a run shows by itself.
const TestLogTailLines = 40

// Preview policies of an app (manifest previews.when): which pull requests
// get a CI pod.
const (
	PreviewAll         = "all"          // every PR, unless labelled with the opt-out label
	PreviewLabel       = "label"        // only PRs labelled with the opt-in label
	PreviewUnlessLabel = "unless-label" // every PR not labelled with the opt-out label
	PreviewNever       = "never"        // none, except on a /spacepods preview command
)

// Default preview labels.
const (
	DefaultPreviewLabel   = "preview"    // opt-in (when: label), and what makes a draft get a pod
	DefaultNoPreviewLabel = "no-preview" // opt-out (when: all or unless-label)
)

// Previews is an app's pull request preview policy (manifest previews:).
type Previews struct {
	When  string `json:"when,omitempty" yaml:"when"`   // all (default) | label | unless-label | never
	Label string `json:"label,omitempty" yaml:"label"` // the opt-in or opt-out label
	TTL   string `json:"ttl,omitempty" yaml:"ttl"`     // the pod's TTL (default: the server's pod TTL)
}

// PolicyWhen returns when (default all).
func (p *Previews) PolicyWhen() string {
	if p == nil || p.When == "" {
		return PreviewAll
	}
	return p.When
}

// OptInLabel is the label that asks for a pod (when: label) or makes a
// draft get one.
func (p *Previews) OptInLabel() string {
	if p != nil && p.When == PreviewLabel && p.Label != "" {
		return p.Label
	}
	return DefaultPreviewLabel
}

// OptOutLabel is the label that keeps a PR from getting a pod.
func (p *Previews) OptOutLabel() string {
	if p != nil && p.When != PreviewLabel && p.Label != "" {
		return p.Label
	}
	return DefaultNoPreviewLabel
}

// PRPod is the CI pod of one pull request and app: what the previews
// package knows about it between events.
type PRPod struct {
	Repo      string    `json:"repo"`
	Number    int       `json:"number"`
	App       string    `json:"app"`
	Env       string    `json:"env"`
	HeadSHA   string    `json:"head_sha"` // the head the pod was last made for
	Build     int       `json:"build"`    // the PR app's build in the pod
	Fork      bool      `json:"fork"`
	OnDemand  bool      `json:"on_demand,omitempty"` // made by a /spacepods preview command, whatever the policy
	WebURL    string    `json:"web_url"`
	CommentID int64     `json:"comment_id,omitempty"`
	State     string    `json:"state"` // see the PRPod* states
	Detail    string    `json:"detail,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// States of a pull request's pod (PRPod.State).
const (
	PRPodWaiting   = "waiting"   // for a build of the head
	PRPodDeploying = "deploying" // the pod is being made or updated
	PRPodTesting   = "testing"   // the test suites run
	PRPodReady     = "ready"     // up, tests passed
	PRPodFailed    = "failed"    // no build, the pod failed, or tests failed (Detail says)
	PRPodClosed    = "closed"    // destroyed: the PR closed, or /spacepods destroy
)

// Active reports whether the record stands for a pod that exists (or is
// being made).
func (p PRPod) Active() bool { return p.State != PRPodClosed && p.State != "" }
