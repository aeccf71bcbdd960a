// Package forge talks to code forges (GitHub, Gitea/Forgejo): commit
// statuses, pull request comments, compare links and clone URLs, and turns
// their webhook deliveries into the normalized events below. Implementations
// live in forge/github and forge/gitea; the previews package (pull request →
// CI pod) and the pipeline use only this package's types.
package forge

import (
	"context"
	"time"
)

// Forge is one configured code forge installation.
type Forge interface {
	// Kind is "github" or "gitea".
	Kind() string
	// Repo returns what Spacepods needs to know about a repository
	// ("owner/name"). ENOTFOUND (spacepods error code) if it does not exist
	// or the token cannot see it.
	Repo(ctx context.Context, repo string) (Repo, error)
	// PullRequest returns one pull request.
	PullRequest(ctx context.Context, repo string, number int) (PullRequest, error)
	// SetStatus sets a commit status (context e.g. "spacepods/pod") on sha.
	SetStatus(ctx context.Context, repo, sha string, s Status) error
	// UpsertComment creates the pull request comment that carries marker (an
	// invisible HTML comment such as "<!-- spacepods:pr-pod -->") or edits
	// the one that already does, so that a PR never gets one comment per
	// push. It returns the comment's ID.
	UpsertComment(ctx context.Context, repo string, number int, marker, body string) (int64, error)
	// IsCollaborator reports whether user may push to repo (commands in
	// comments are honoured only from collaborators).
	IsCollaborator(ctx context.Context, repo, user string) (bool, error)
	// CompareURL is the web page comparing two commits:
	// <web>/<owner>/<repo>/compare/<old>...<new> (the same on GitHub and Gitea).
	CompareURL(repo, oldSHA, newSHA string) string
	// CloneURL is the URL git clones repo from, with credentials if the
	// forge needs them for a private repository (never logged).
	CloneURL(ctx context.Context, repo string) (string, error)
}

// Repo is a repository on a forge.
type Repo struct {
	FullName      string `json:"full_name"` // "owner/name"
	DefaultBranch string `json:"default_branch"`
	WebURL        string `json:"web_url"`
	CloneURL      string `json:"clone_url"` // without credentials
	Private       bool   `json:"private"`
}

// StatusState is a commit status state, the same words on GitHub and Gitea.
type StatusState string

// Commit status states.
const (
	StatusPending StatusState = "pending"
	StatusSuccess StatusState = "success"
	StatusFailure StatusState = "failure"
	StatusError   StatusState = "error"
)

// Status is one commit status.
type Status struct {
	Context     string      `json:"context"` // "spacepods/pod", "spacepods/tests", "spacepods/qa", …
	State       StatusState `json:"state"`
	Description string      `json:"description"` // short (GitHub cuts at 140 characters)
	TargetURL   string      `json:"target_url,omitempty"`
}

// PullRequest is the part of a pull request Spacepods acts on.
type PullRequest struct {
	Repo    string   `json:"repo"` // base repository, "owner/name"
	Number  int      `json:"number"`
	Title   string   `json:"title"`
	Body    string   `json:"body"`
	Author  string   `json:"author"`
	IsBot   bool     `json:"is_bot"` // the author is a bot account
	Draft   bool     `json:"draft"`
	Labels  []string `json:"labels"`
	State   string   `json:"state"` // "open" or "closed"
	Merged  bool     `json:"merged"`
	HeadSHA string   `json:"head_sha"`
	HeadRef string   `json:"head_ref"` // branch name in the head repository
	// HeadRepo is the head repository ("owner/name"); it differs from Repo
	// for a pull request from a fork. Fork pods get no secrets.
	HeadRepo string `json:"head_repo"`
	Fork     bool   `json:"fork"`
	BaseRef  string `json:"base_ref"`
	WebURL   string `json:"web_url"`
}

// EventKind is a normalized webhook event kind.
type EventKind string

// Normalized event kinds.
const (
	EventPing        EventKind = "ping"
	EventPush        EventKind = "push"
	EventPullRequest EventKind = "pull_request"
	EventComment     EventKind = "issue_comment"
)

// Event is a verified webhook delivery, normalized across forges.
type Event struct {
	DeliveryID string    `json:"delivery_id"`
	Kind       EventKind `json:"kind"`
	// Action is the pull request or comment action, normalized: "opened",
	// "reopened", "synchronize" (Gitea's "synchronized" too), "closed",
	// "labeled", "unlabeled", "edited"; for comments "created".
	Action   string    `json:"action,omitempty"`
	Repo     string    `json:"repo"` // "owner/name"
	Sender   string    `json:"sender"`
	Received time.Time `json:"received"`

	// Push events.
	Ref     string   `json:"ref,omitempty"` // "refs/heads/main"
	After   string   `json:"after,omitempty"`
	Before  string   `json:"before,omitempty"`
	Commits []Commit `json:"commits,omitempty"`

	// Pull request events, and comments on pull requests (Comment is set).
	PR      *PullRequest `json:"pr,omitempty"`
	Label   string       `json:"label,omitempty"` // for labeled/unlabeled
	Comment *Comment     `json:"comment,omitempty"`
}

// Commit is a pushed commit.
type Commit struct {
	SHA     string `json:"sha"`
	Message string `json:"message"`
	Author  string `json:"author"`
	Email   string `json:"email"`
}

// Comment is a comment on a pull request.
type Comment struct {
	ID     int64  `json:"id"`
	Body   string `json:"body"`
	Author string `json:"author"`
}

// Handler acts on verified, deduplicated events (the previews package for
// pull requests and comments, the builder and pipeline for pushes). It is
// called from the durable delivery worker, not the HTTP handler: an error
// is recorded in the delivery log. The returned summary ("created pod
// pr-12-catalog-api", "ignored: draft") goes to the delivery log too.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event) (summary string, err error)
}
