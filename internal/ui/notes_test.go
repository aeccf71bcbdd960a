package ui_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/ui"
)

// TestUI_DeployPageShowsReleaseNotes: a finished deploy to a master
// environment shows its release notes, read from the app's repository.
func TestUI_DeployPageShowsReleaseNotes(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	commit := func(msg, file string) string {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(file); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
		sig := &object.Signature{Name: "Dana", Email: "dana@acme.test", When: at}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	c1 := commit("chore: start", "a")
	c2 := commit("feat: nightly jobs (SHOP-5)", "b")

	f := newFixtureWith(t, true, func(cfg *ui.Config) {
		cfg.Notes = &releasenotes.Service{Store: cfg.Store, Catalog: cfg.Catalog, DataDir: t.TempDir(), Options: releasenotes.Options{JiraURL: "https://jira.acme.test"}}
	})
	ctx := context.Background()
	if _, _, err := f.cat.Register(admin, []byte(jobsManifest+"build: {git: file://"+dir+"}\n"), ""); err != nil {
		t.Fatal(err)
	}
	for i, sha := range []string{c1, c2} {
		if _, err := f.cat.RecordBuild(admin, spacepods.Build{App: "jobs", Number: 10 + i, GitSHA: sha, Branch: "main", Image: "acme/jobs"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.AddRelease(ctx, spacepods.Release{Env: "qa", App: "jobs", Build: 10 + i}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := f.st.CreateDeploy(admin, spacepods.Deploy{Env: "qa", App: "jobs", Build: 11, Release: 2, FromRelease: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = spacepods.DeployCompleted
	if err := f.st.SaveDeploy(ctx, d); err != nil {
		t.Fatal(err)
	}
	_, body, _ := f.signIn("viewer").get("/deploys/" + strconv.FormatInt(d.ID, 10))
	for _, want := range []string{`id="release-notes"`, "Release notes", "1 commit by 1 contributor", "<h3>Features</h3>", "feat: nightly jobs (SHOP-5)", "Dana (1)", `<a href="https://jira.acme.test/browse/SHOP-5">SHOP-5</a>`} {
		if !strings.Contains(body, want) {
			t.Fatalf("deploy page lacks %q:\n%s", want, body)
		}
	}
}
