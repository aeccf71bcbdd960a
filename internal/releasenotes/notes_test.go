package releasenotes_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spacepods/spacepods/internal/releasenotes"
)

// history is a repository the test builds: known commits, authors (one
// under an old address that .mailmap maps), Jira keys in messages and in a
// branch name that only a merge commit mentions.
type history struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	at   time.Time
}

func newHistory(t *testing.T) *history {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return &history{t: t, dir: dir, repo: repo, wt: wt, at: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
}

// commit writes file and commits as name <email>, a minute after the last
// commit; with parents, a merge.
func (h *history) commit(name, email, msg, file, content string, parents ...plumbing.Hash) string {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, file), []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.wt.Add(file); err != nil {
		h.t.Fatal(err)
	}
	h.at = h.at.Add(time.Minute)
	sig := &object.Signature{Name: name, Email: email, When: h.at}
	opts := &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true}
	if len(parents) > 0 {
		head, _ := h.repo.Head()
		opts.Parents = append([]plumbing.Hash{head.Hash()}, parents...)
	}
	hash, err := h.wt.Commit(msg, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return hash.String()
}

func (h *history) checkout(branch string, create bool) {
	h.t.Helper()
	if err := h.wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: create, Keep: true}); err != nil {
		h.t.Fatal(err)
	}
}

// TestCompute_NotesFromRealHistory: exact notes between two releases, and
// a rollback's notes naming the commits that left.
func TestCompute_NotesFromRealHistory(t *testing.T) {
	h := newHistory(t)
	c1 := h.commit("Alice", "alice@acme.test", "chore: initial import", ".mailmap",
		"# canonical identities\nAlice Smith <alice@acme.test>\nBob Jones <bob@acme.test> <bob@old-laptop.local>\n")
	c2 := h.commit("Alice", "alice@acme.test", "feat(cart): add coupons\n\nRefs SHOP-12.", "cart.txt", "coupons\n")
	h.checkout("feature/SHOP-14-fix-totals", true)
	c3 := h.commit("bob", "bob@old-laptop.local", "fix: rounding of totals", "totals.txt", "rounded\n")
	h.checkout("master", false)
	c4 := h.commit("Carol", "carol@acme.test", "Update README (OPS-7; UTF-8 is no ticket)", "README", "shop\n")
	c5 := h.commit("Alice", "alice@acme.test", "Merge branch 'feature/SHOP-14-fix-totals'", "totals.txt", "rounded\n", plumbing.NewHash(c3))
	c6 := h.commit("Bob Jones", "bob@acme.test", "feat!: drop the v1 API", "api.txt", "v2\n")
	_ = c5

	o := releasenotes.Options{JiraURL: "https://jira.acme.test/", JiraProjects: []string{"SHOP", "OPS"}, Texts: []string{"SHOP-15 coupons for everyone"}}
	n, err := releasenotes.Compute(h.repo, c1, c6, false, o)
	if err != nil {
		t.Fatal(err)
	}
	n.App, n.Env, n.Build = "shop", "production", 42
	n.CompareURL = "https://git.acme.test/acme/shop/compare/" + c1 + "..." + c6
	n.LogsURL, n.TestsURL = "https://spacepods.acme.test/deploys/17", "https://spacepods.acme.test/tests/9"
	s := func(sha string) string { return sha[:7] }
	want := "## Release notes: shop build 42 to production\n\n" +
		s(c1) + "..." + s(c6) + ": 4 commits by 3 contributors ([compare](" + n.CompareURL + "))\n" +
		"\n### Features\n\n" +
		"- " + s(c6) + " feat!: drop the v1 API (Bob Jones) **breaking**\n" +
		"- " + s(c2) + " feat(cart): add coupons (Alice Smith)\n" +
		"\n### Bug fixes\n\n" +
		"- " + s(c3) + " fix: rounding of totals (Bob Jones)\n" +
		"\n### Other changes\n\n" +
		"- " + s(c4) + " Update README (OPS-7; UTF-8 is no ticket) (Carol)\n" +
		"\n### Contributors\n\n" +
		"- Bob Jones <bob@acme.test> (2 commits)\n" +
		"- Alice Smith <alice@acme.test> (1 commit)\n" +
		"- Carol <carol@acme.test> (1 commit)\n" +
		"\n### Jira\n\n" +
		"- [OPS-7](https://jira.acme.test/browse/OPS-7)\n" +
		"- [SHOP-12](https://jira.acme.test/browse/SHOP-12)\n" +
		"- [SHOP-14](https://jira.acme.test/browse/SHOP-14)\n" +
		"- [SHOP-15](https://jira.acme.test/browse/SHOP-15)\n" +
		"\n[deploy logs](https://spacepods.acme.test/deploys/17) · [test run](https://spacepods.acme.test/tests/9)\n"
	if got := releasenotes.Markdown(n); got != want {
		t.Fatalf("notes:\n%s\nwant:\n%s", got, want)
	}

	// Rolling back from c6 to c2: c6, c4 and c3 leave.
	rb, err := releasenotes.Compute(h.repo, c6, c2, true, releasenotes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rb.App, rb.Env = "shop", "production"
	want = "## Rollback notes: shop to production\n\n" +
		s(c6) + "..." + s(c2) + ": 3 commits left\n" +
		"\n### Commits that left\n\n" +
		"- " + s(c6) + " feat!: drop the v1 API (Bob Jones) **breaking**\n" +
		"- " + s(c4) + " Update README (OPS-7; UTF-8 is no ticket) (Carol)\n" +
		"- " + s(c3) + " fix: rounding of totals (Bob Jones)\n" +
		"\n### Jira\n\n- OPS-7\n- SHOP-14\n- UTF-8\n"
	if got := releasenotes.Markdown(rb); got != want {
		t.Fatalf("rollback notes:\n%s\nwant:\n%s", got, want)
	}

	// A first release lists everything up to it.
	first, err := releasenotes.Compute(h.repo, "", c2, false, releasenotes.Options{})
	if err != nil || len(first.Commits) != 2 || first.Commits[0].SHA != c2 || first.Commits[1].SHA != c1 {
		t.Fatalf("first release: %+v %v", first.Commits, err)
	}
	if _, err := releasenotes.Compute(h.repo, c1, "0123456789abcdef0123456789abcdef01234567", false, o); err == nil {
		t.Fatal("an unknown commit gave notes")
	}
}
