package spacepods

// Release notes of a deploy (computed by internal/releasenotes).

// NoteCommit is one commit of a release.
type NoteCommit struct {
	SHA     string `json:"sha"`
	Short   string `json:"short"`
	Subject string `json:"subject"`
	Author  string `json:"author"` // after the mailmap
	Email   string `json:"email"`  // after the mailmap
	Type    string `json:"type,omitempty"`
	Scope   string `json:"scope,omitempty"`
	// Breaking is a Conventional Commit's "!" or BREAKING CHANGE footer.
	Breaking bool `json:"breaking,omitempty"`
}

// NoteContributor is an author of a release's commits.
type NoteContributor struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Commits int    `json:"commits"`
}

// JiraKey is a ticket a release mentions.
type JiraKey struct {
	Key string `json:"key"`
	URL string `json:"url,omitempty"`
}

// NoteGroup is the commits of one Conventional Commit type.
type NoteGroup struct {
	Type    string       `json:"type"` // "" for commits of no type
	Title   string       `json:"title"`
	Commits []NoteCommit `json:"commits"`
}

// ReleaseNotes are the release notes of one deploy.
type ReleaseNotes struct {
	App     string `json:"app"`
	Env     string `json:"env"`
	Deploy  int64  `json:"deploy,omitempty"`
	Build   int    `json:"build,omitempty"`
	FromSHA string `json:"from_sha,omitempty"` // "" for a first release
	ToSHA   string `json:"to_sha"`
	// Rollback: Commits are the commits that left.
	Rollback     bool              `json:"rollback,omitempty"`
	Commits      []NoteCommit      `json:"commits"`
	Contributors []NoteContributor `json:"contributors"`
	Jira         []JiraKey         `json:"jira"`
	Groups       []NoteGroup       `json:"groups,omitempty"` // when some commit declares a type
	CompareURL   string            `json:"compare_url,omitempty"`
	LogsURL      string            `json:"logs_url,omitempty"`
	TestsURL     string            `json:"tests_url,omitempty"`
	// Note says why the notes are partial (say, the history could not be read).
	Note string `json:"note,omitempty"`
}
