// Package releasenotes computes the release notes of a deploy from real git
// history: the commits between the previously released SHA and the new one
// (or, for a rollback, the commits that left), their contributors
// deduplicated by email with the repository's .mailmap applied, the Jira
// keys their messages (and the branch names and pull request titles given)
// mention, and the Conventional Commit types they declare.
package releasenotes

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// The notes' types are the domain's (the API client uses them).
type (
	// Commit is one commit of a release.
	Commit = spacepods.NoteCommit
	// Contributor is an author of a release's commits.
	Contributor = spacepods.NoteContributor
	// JiraKey is a ticket a release mentions.
	JiraKey = spacepods.JiraKey
	// Group is the commits of one Conventional Commit type.
	Group = spacepods.NoteGroup
	// Notes are the release notes of one deploy.
	Notes = spacepods.ReleaseNotes
)

// Options shape the notes.
type Options struct {
	// JiraURL is the Jira base URL: keys link to <JiraURL>/browse/KEY
	// ("" = keys are listed, not linked).
	JiraURL string
	// JiraProjects, when set, is the allow-list of project keys (SHOP,
	// OPS): other KEY-123 look-alikes (UTF-8, ISO-8601) are ignored.
	JiraProjects []string
	// Texts are more places Jira keys are read from: branch names, pull
	// request titles.
	Texts []string
}

// Compute reads the history between from (the SHA released before; "" for
// a first release) and to. With rollback, to is older: the notes list the
// commits of from that are not in to.
func Compute(repo *git.Repository, from, to string, rollback bool, o Options) (Notes, error) {
	n := Notes{FromSHA: from, ToSHA: to, Rollback: rollback, Commits: []Commit{}, Contributors: []Contributor{}, Jira: []JiraKey{}}
	head, base := to, from
	if rollback {
		head, base = from, to
	}
	headC, err := commitOf(repo, head)
	if err != nil {
		return n, err
	}
	exclude := map[plumbing.Hash]bool{}
	if base != "" {
		baseC, err := commitOf(repo, base)
		if err != nil {
			return n, err
		}
		if err := ancestors(baseC, exclude); err != nil {
			return n, err
		}
	}
	var commits []*object.Commit
	seen := map[plumbing.Hash]bool{}
	queue := []*object.Commit{headC}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c.Hash] || exclude[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		commits = append(commits, c)
		err := c.Parents().ForEach(func(p *object.Commit) error {
			queue = append(queue, p)
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	sort.SliceStable(commits, func(i, j int) bool {
		a, b := commits[i].Committer.When, commits[j].Committer.When
		if !a.Equal(b) {
			return a.After(b)
		}
		return commits[i].Hash.String() < commits[j].Hash.String()
	})
	mm := mailmapOf(repo, headC)
	keys := newKeys(o)
	for _, t := range o.Texts {
		keys.scan(t)
	}
	byEmail := map[string]int{}
	typed := false
	for _, c := range commits {
		keys.scan(c.Message)
		if c.NumParents() > 1 {
			continue // a merge: its branch's commits are listed themselves
		}
		name, email := mm.apply(c.Author.Name, c.Author.Email)
		cm := Commit{SHA: c.Hash.String(), Short: c.Hash.String()[:7], Subject: subject(c.Message), Author: name, Email: email}
		cm.Type, cm.Scope, cm.Breaking = conventional(c.Message)
		typed = typed || cm.Type != ""
		n.Commits = append(n.Commits, cm)
		k := strings.ToLower(email)
		if i, ok := byEmail[k]; ok {
			n.Contributors[i].Commits++
		} else {
			byEmail[k] = len(n.Contributors)
			n.Contributors = append(n.Contributors, Contributor{Name: name, Email: email, Commits: 1})
		}
	}
	sort.SliceStable(n.Contributors, func(i, j int) bool {
		a, b := n.Contributors[i], n.Contributors[j]
		if a.Commits != b.Commits {
			return a.Commits > b.Commits
		}
		return a.Name < b.Name
	})
	n.Jira = keys.list()
	if typed {
		n.Groups = group(n.Commits)
	}
	return n, nil
}

func commitOf(repo *git.Repository, sha string) (*object.Commit, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(sha))
	if err != nil {
		return nil, fmt.Errorf("commit %s is not in the repository's history (was it pushed?): %w", sha, err)
	}
	return repo.CommitObject(*h)
}

// ancestors adds c and every commit it descends from to set.
func ancestors(c *object.Commit, set map[plumbing.Hash]bool) error {
	queue := []*object.Commit{c}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if set[c.Hash] {
			continue
		}
		set[c.Hash] = true
		if err := c.Parents().ForEach(func(p *object.Commit) error { queue = append(queue, p); return nil }); err != nil {
			return err
		}
	}
	return nil
}

func subject(msg string) string {
	s, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return strings.TrimSpace(s)
}

var conventionalRE = regexp.MustCompile(`^([a-z]+)(?:\(([^)]*)\))?(!)?: \S`)

// conventional parses a Conventional Commit subject: "feat(cart)!: ...".
func conventional(msg string) (typ, scope string, breaking bool) {
	m := conventionalRE.FindStringSubmatch(subject(msg))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], m[3] == "!" || strings.Contains(msg, "\nBREAKING CHANGE:") || strings.Contains(msg, "\nBREAKING-CHANGE:")
}

// typeTitles orders and names the Conventional Commit types.
var typeTitles = []struct{ typ, title string }{
	{"feat", "Features"}, {"fix", "Bug fixes"}, {"perf", "Performance"}, {"refactor", "Refactoring"},
	{"docs", "Documentation"}, {"test", "Tests"}, {"build", "Build"}, {"ci", "CI"}, {"chore", "Chores"}, {"revert", "Reverts"},
}

func group(commits []Commit) []Group {
	by := map[string][]Commit{}
	for _, c := range commits {
		by[c.Type] = append(by[c.Type], c)
	}
	var out []Group
	known := map[string]bool{}
	for _, t := range typeTitles {
		known[t.typ] = true
		if cs := by[t.typ]; len(cs) > 0 {
			out = append(out, Group{Type: t.typ, Title: t.title, Commits: cs})
		}
	}
	var other []Commit
	for _, c := range commits {
		if !known[c.Type] {
			other = append(other, c)
		}
	}
	if len(other) > 0 {
		out = append(out, Group{Title: "Other changes", Commits: other})
	}
	return out
}

var jiraRE = regexp.MustCompile(`\b([A-Z][A-Z0-9]+)-([0-9]+)\b`)

type keySet struct {
	o    Options
	seen map[string]bool
	keys []JiraKey
}

func newKeys(o Options) *keySet { return &keySet{o: o, seen: map[string]bool{}} }

func (k *keySet) scan(text string) {
	for _, m := range jiraRE.FindAllStringSubmatch(text, -1) {
		key := m[0]
		if k.seen[key] || (len(k.o.JiraProjects) > 0 && !contains(k.o.JiraProjects, m[1])) {
			continue
		}
		k.seen[key] = true
		j := JiraKey{Key: key}
		if k.o.JiraURL != "" {
			j.URL = strings.TrimRight(k.o.JiraURL, "/") + "/browse/" + key
		}
		k.keys = append(k.keys, j)
	}
}

// list returns the keys by project, then number.
func (k *keySet) list() []JiraKey {
	out := append([]JiraKey{}, k.keys...)
	sort.Slice(out, func(i, j int) bool {
		pi, ni, _ := strings.Cut(out[i].Key, "-")
		pj, nj, _ := strings.Cut(out[j].Key, "-")
		if pi != pj {
			return pi < pj
		}
		a, _ := strconv.Atoi(ni)
		b, _ := strconv.Atoi(nj)
		return a < b
	})
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// mailmap maps commit identities to canonical ones (gitmailmap(5)).
type mailmap struct {
	byEmail     map[string][2]string // commit email → proper name, proper email
	byNameEmail map[string][2]string // commit name + "\x00" + commit email → …
}

func mailmapOf(repo *git.Repository, c *object.Commit) mailmap {
	mm := mailmap{byEmail: map[string][2]string{}, byNameEmail: map[string][2]string{}}
	f, err := c.File(".mailmap")
	if errors.Is(err, object.ErrFileNotFound) || err != nil {
		return mm
	}
	r, err := f.Reader()
	if err != nil {
		return mm
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return mm
	}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		names, emails := parseMailmapLine(line)
		switch len(emails) {
		case 1: // Proper Name <commit@email>
			if names[0] != "" {
				mm.byEmail[strings.ToLower(emails[0])] = [2]string{names[0], ""}
			}
		case 2: // [Proper Name] <proper@email> [Commit Name] <commit@email>
			v := [2]string{names[0], emails[0]}
			if names[1] != "" {
				mm.byNameEmail[names[1]+"\x00"+strings.ToLower(emails[1])] = v
			} else {
				mm.byEmail[strings.ToLower(emails[1])] = v
			}
		}
	}
	return mm
}

// parseMailmapLine splits "A <a@x> B <b@x>" into names [A, B] and emails.
func parseMailmapLine(line string) (names, emails []string) {
	rest := line
	for {
		i := strings.Index(rest, "<")
		j := strings.Index(rest, ">")
		if i < 0 || j < i {
			return names, emails
		}
		names = append(names, strings.TrimSpace(rest[:i]))
		emails = append(emails, strings.TrimSpace(rest[i+1:j]))
		rest = rest[j+1:]
	}
}

func (m mailmap) apply(name, email string) (string, string) {
	v, ok := m.byNameEmail[name+"\x00"+strings.ToLower(email)]
	if !ok {
		v, ok = m.byEmail[strings.ToLower(email)]
	}
	if !ok {
		return name, email
	}
	if v[0] != "" {
		name = v[0]
	}
	if v[1] != "" {
		email = v[1]
	}
	return name, email
}
