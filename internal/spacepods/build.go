package spacepods

import (
	"regexp"
	"time"
)

// Build is one immutable artifact of an app, recorded by CI.
type Build struct {
	App    string `json:"app"`
	Number int    `json:"number"`
	GitSHA string `json:"git_sha"`
	Branch string `json:"branch"`
	PR     int    `json:"pr,omitempty"`
	Image  string `json:"image"`
	// Digest is the registry manifest digest pushed under Image's tag
	// (builds recorded from registry notifications); "" when CI recorded
	// the build by hand.
	Digest string `json:"digest,omitempty"`
	// Author ("Name <email>") and Message are the built commit's.
	Author    string    `json:"author,omitempty"`
	Message   string    `json:"message,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// DefaultBranch is the branch whose latest build pods use unless told otherwise.
const DefaultBranch = "main"

var (
	shaRE    = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
	branchRE = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)
	imageRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$`)
)

// Validate checks a build's fields.
func (b *Build) Validate() error {
	if err := ValidateName("app", b.App); err != nil {
		return err
	}
	switch {
	case b.Number < 1:
		return Errorf(EINVALID, "build number must be a positive integer (the CI build number), got %d", b.Number)
	case !shaRE.MatchString(b.GitSHA):
		return Errorf(EINVALID, "git sha %q is not a hex commit id: pass the full or short SHA, e.g. --sha 3f2c1ab", b.GitSHA)
	case !branchRE.MatchString(b.Branch):
		return Errorf(EINVALID, "branch %q is not a valid branch name", b.Branch)
	case b.PR < 0:
		return Errorf(EINVALID, "pr must be a positive pull request number")
	case len(b.Author) > MaxAuthorLen || len(b.Message) > MaxMessageLen:
		return Errorf(EINVALID, "author (at most %d bytes) or message (at most %d bytes) is too long", MaxAuthorLen, MaxMessageLen)
	case !imageRE.MatchString(b.Image):
		return Errorf(EINVALID, "image %q is not an image reference: write e.g. acme/catalog-api:42", b.Image)
	}
	return nil
}

// Longest commit author and message a build keeps.
const (
	MaxAuthorLen  = 500
	MaxMessageLen = 10000
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidDigest reports whether d is a sha256 content digest.
func ValidDigest(d string) bool { return digestRE.MatchString(d) }

// Registry event outcomes.
const (
	RegistryEventRecorded = "recorded" // a build was recorded
	RegistryEventRejected = "rejected" // kept with its reason; no build
)

// RegistryEvent is one tag push a registry notified, as Spacepods took it:
// the build it recorded, or why it recorded none. Kept so that no push is
// silently dropped (GET /api/v1/registry/events, the UI's Registry page).
type RegistryEvent struct {
	// ID is the registry's event ID: a retried delivery carries the same
	// one, and is taken once.
	ID         string    `json:"id"`
	Repository string    `json:"repository"`
	Tag        string    `json:"tag"`
	Digest     string    `json:"digest"`
	Status     string    `json:"status"`
	App        string    `json:"app,omitempty"`
	Build      int       `json:"build,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// RegistryHookResult answers a registry notification: how its events were
// taken.
type RegistryHookResult struct {
	Recorded  int `json:"recorded"`  // builds recorded
	Rejected  int `json:"rejected"`  // tag pushes kept as rejected events
	Ignored   int `json:"ignored"`   // pulls, blob pushes, pushes by digest
	Duplicate int `json:"duplicate"` // events already taken (retried deliveries)
}

// BuildFilter selects builds in a list.
type BuildFilter struct {
	App    string
	Branch string
	Limit  int
}
