// Package forgetest is an in-memory forge.Forge for tests: it holds
// repositories, pull requests and collaborators that a test sets, and
// records every commit status and pull request comment written to it.
package forgetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Forge is the fake. The zero value is not usable: call New.
type Forge struct {
	// WebURL is the base of the web URLs it hands out (default
	// "http://forge.test").
	WebURL string

	mu       sync.Mutex
	repos    map[string]forge.Repo
	prs      map[string]forge.PullRequest // "owner/name#n"
	collabs  map[string]bool              // "owner/name user"
	statuses []StatusWrite
	comments map[string]*Comment // "owner/name#n marker"
	nextID   int64
	changed  chan struct{}
}

// StatusWrite is one SetStatus call.
type StatusWrite struct {
	Repo, SHA string
	forge.Status
	At time.Time
}

// Comment is a pull request comment as it stands, with how many times it
// was written.
type Comment struct {
	ID     int64
	Repo   string
	Number int
	Marker string
	Body   string
	Writes int
}

var _ forge.Forge = (*Forge)(nil)

// New returns an empty fake forge.
func New() *Forge {
	return &Forge{WebURL: "http://forge.test", repos: map[string]forge.Repo{}, prs: map[string]forge.PullRequest{},
		collabs: map[string]bool{}, comments: map[string]*Comment{}, changed: make(chan struct{})}
}

func prKey(repo string, n int) string { return fmt.Sprintf("%s#%d", repo, n) }

// signal wakes waiters (mu held).
func (f *Forge) signal() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// AddRepo adds a repository (default branch main).
func (f *Forge) AddRepo(fullName string) forge.Repo {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := forge.Repo{FullName: fullName, DefaultBranch: "main", WebURL: f.WebURL + "/" + fullName, CloneURL: f.WebURL + "/" + fullName + ".git"}
	f.repos[fullName] = r
	return r
}

// AddCollaborator lets user push to repo.
func (f *Forge) AddCollaborator(repo, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.collabs[repo+" "+user] = true
}

// SetPR stores a pull request as the forge's current state of it (its
// WebURL and Repo filled in if empty) and returns it.
func (f *Forge) SetPR(pr forge.PullRequest) forge.PullRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pr.WebURL == "" {
		pr.WebURL = fmt.Sprintf("%s/%s/pulls/%d", f.WebURL, pr.Repo, pr.Number)
	}
	if pr.HeadRepo == "" {
		pr.HeadRepo = pr.Repo
	}
	if pr.State == "" {
		pr.State = "open"
	}
	f.prs[prKey(pr.Repo, pr.Number)] = pr
	return pr
}

// Kind implements forge.Forge.
func (f *Forge) Kind() string { return "fake" }

// Repo implements forge.Forge.
func (f *Forge) Repo(_ context.Context, repo string) (forge.Repo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.repos[repo]
	if !ok {
		return r, spacepods.Errorf(spacepods.ENOTFOUND, "fake forge: no repository %s", repo)
	}
	return r, nil
}

// PullRequest implements forge.Forge.
func (f *Forge) PullRequest(_ context.Context, repo string, number int) (forge.PullRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pr, ok := f.prs[prKey(repo, number)]
	if !ok {
		return pr, spacepods.Errorf(spacepods.ENOTFOUND, "fake forge: no pull request %s#%d", repo, number)
	}
	return pr, nil
}

// SetStatus implements forge.Forge.
func (f *Forge) SetStatus(_ context.Context, repo, sha string, s forge.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, StatusWrite{Repo: repo, SHA: sha, Status: s, At: time.Now()})
	f.signal()
	return nil
}

// UpsertComment implements forge.Forge.
func (f *Forge) UpsertComment(_ context.Context, repo string, number int, marker, body string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !strings.Contains(body, marker) {
		body = marker + "\n" + body
	}
	k := prKey(repo, number) + " " + marker
	c, ok := f.comments[k]
	if !ok {
		f.nextID++
		c = &Comment{ID: f.nextID, Repo: repo, Number: number, Marker: marker}
		f.comments[k] = c
	}
	c.Body = body
	c.Writes++
	f.signal()
	return c.ID, nil
}

// IsCollaborator implements forge.Forge.
func (f *Forge) IsCollaborator(_ context.Context, repo, user string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.collabs[repo+" "+user], nil
}

// CompareURL implements forge.Forge.
func (f *Forge) CompareURL(repo, oldSHA, newSHA string) string {
	return fmt.Sprintf("%s/%s/compare/%s...%s", f.WebURL, repo, oldSHA, newSHA)
}

// CloneURL implements forge.Forge.
func (f *Forge) CloneURL(_ context.Context, repo string) (string, error) {
	r, err := f.Repo(context.Background(), repo)
	return r.CloneURL, err
}

// Statuses returns every status written on sha, oldest first.
func (f *Forge) Statuses(repo, sha string) []StatusWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []StatusWrite
	for _, s := range f.statuses {
		if s.Repo == repo && s.SHA == sha {
			out = append(out, s)
		}
	}
	return out
}

// Latest returns the latest status of context on sha (ok false if none).
func (f *Forge) Latest(repo, sha, context string) (forge.Status, bool) {
	st := f.Statuses(repo, sha)
	for i := len(st) - 1; i >= 0; i-- {
		if st[i].Context == context {
			return st[i].Status, true
		}
	}
	return forge.Status{}, false
}

// Comments returns the comments of a pull request.
func (f *Forge) Comments(repo string, number int) []Comment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Comment
	for _, c := range f.comments {
		if c.Repo == repo && c.Number == number {
			out = append(out, *c)
		}
	}
	slices.SortFunc(out, func(a, b Comment) int { return int(a.ID - b.ID) })
	return out
}

// WaitStatus waits until the latest status of context on sha is one of
// states, and returns it; an error naming what it saw when ctx ends first.
func (f *Forge) WaitStatus(ctx context.Context, repo, sha, context string, states ...forge.StatusState) (forge.Status, error) {
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		s, ok := f.Latest(repo, sha, context)
		if ok && slices.Contains(states, s.State) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("status %s on %s@%s is %q (%s), want one of %v: %w", context, repo, sha, s.State, s.Description, states, ctx.Err())
		case <-ch:
		}
	}
}
