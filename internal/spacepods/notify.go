package spacepods

import (
	"context"
	"time"
)

// Notice kinds: what the notifier tells people about. The part before the
// dot is the kind's group ("deploy.*" in routing rules).
const (
	NoticePodReady         = "pod.ready"
	NoticePodFailed        = "pod.failed"
	NoticePodExpiring      = "pod.expiring"
	NoticeTestsPassed      = "tests.passed"
	NoticeTestsFailed      = "tests.failed"
	NoticeDeployStarted    = "deploy.started"
	NoticeDeployCompleted  = "deploy.completed"
	NoticeDeployFailed     = "deploy.failed"
	NoticeDeployRolledBack = "deploy.rolled_back"
	NoticePipelineWaiting  = "pipeline.waiting"
	NoticePipelineApproved = "pipeline.approved"
	NoticePipelineRejected = "pipeline.rejected"
	NoticePipelineStopped  = "pipeline.stopped"
	NoticeReleaseNotes     = "release.notes"
)

// NoticeKinds lists every notice kind, in the order the docs show them.
var NoticeKinds = []string{
	NoticePodReady, NoticePodFailed, NoticePodExpiring, NoticeTestsPassed, NoticeTestsFailed,
	NoticeDeployStarted, NoticeDeployCompleted, NoticeDeployFailed, NoticeDeployRolledBack,
	NoticePipelineWaiting, NoticePipelineApproved, NoticePipelineRejected, NoticePipelineStopped,
	NoticeReleaseNotes,
}

// Notice is one domain event that people are told about (the notifier's
// "event"; Event is taken by environment events). It is stored before any
// delivery is tried, so it survives a crash.
type Notice struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	// Key makes recording idempotent: a notice whose key is already stored
	// is not stored again. Receivers get it too (deduplicate on it: delivery
	// is at least once). Empty: one is made from the kind, subject and time.
	Key string `json:"key"`
	// Subject is what the notice is about, as "<type>:<id>" ("deploy:42",
	// "pod:alice-1", "pipeline:7"): messages of one subject share a Slack
	// thread.
	Subject string `json:"subject"`
	Text    string `json:"text"` // one line for people
	App     string `json:"app,omitempty"`
	Env     string `json:"env,omitempty"`
	// Owner is the user the subject belongs to (a pod's creator, a
	// deploy's requester): their notices can go to a direct message.
	Owner string `json:"owner,omitempty"`
	// URL is the main link (the pod, the deploy's output, the test run).
	URL string `json:"url,omitempty"`
	// Fields carry the kind's details (reason, build, release, run, urls…),
	// listed per kind in docs/notifications.md.
	Fields map[string]string `json:"fields,omitempty"`
	At     time.Time         `json:"at"`
}

// Notifier records notices. Notify never blocks on a delivery and never
// fails its caller: a notice that cannot be stored is logged.
type Notifier interface {
	Notify(ctx context.Context, n Notice)
}

// Notify hands n to notifier unless notifier is nil, so that domain
// services can leave their notifier unset.
func Notify(ctx context.Context, notifier Notifier, n Notice) {
	if notifier != nil {
		notifier.Notify(context.WithoutCancel(ctx), n)
	}
}

// Notice delivery states.
const (
	NoticePending = "pending" // waiting for its turn or its next attempt
	NoticeSending = "sending"
	NoticeSent    = "sent"
	NoticeDead    = "dead" // gave up after the last attempt, or the target refused it for good
)

// NoticeDelivery is one notice's delivery to one target.
type NoticeDelivery struct {
	ID       int64  `json:"id"`
	NoticeID int64  `json:"notice_id"`
	Kind     string `json:"kind"`
	Key      string `json:"key"`
	// Target is "<type>:<name>": "webhook:ops", "slack:#deploys",
	// "slack-dm:alice".
	Target     string     `json:"target"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	NextAt     time.Time  `json:"next_attempt_at"`
	LastError  string     `json:"last_error,omitempty"`
	Result     string     `json:"result,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// SlackUser maps a Slack user to a Spacepods user and role: what slash
// commands and buttons from that Slack user may do.
type SlackUser struct {
	SlackUser string    `json:"slack_user"` // Slack's user ID (U…)
	Username  string    `json:"username"`   // the Spacepods user (token name) it acts as
	Role      string    `json:"role"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// LinkSlackUserRequest maps a Slack user (its ID in the path) to a
// Spacepods user and role.
type LinkSlackUserRequest struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}
