package gitea_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/forge/gitea"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// fixture is an org with a repository holding a main commit and an open
// pull request from a collaborator, on the real test Gitea.
type fixture struct {
	g            *testenv.GiteaForge
	repo         string
	dev, outside testenv.GiteaUser
	reader       testenv.GiteaUser // a read-only collaborator
	bot          testenv.GiteaUser // Spacepods' own user: its token is the driver's
	pr           int
	head, main   string
	client       *gitea.Client
}

func newFixture(t *testing.T, private bool) *fixture {
	t.Helper()
	g := testenv.Gitea(t)
	org := testenv.Unique("acme")
	f := &fixture{g: g, repo: org + "/catalog-api"}
	g.CreateOrg(t, org)
	g.CreateRepo(t, org, "catalog-api", private)
	f.dev = g.CreateUser(t, testenv.Unique("dev"))
	f.outside = g.CreateUser(t, testenv.Unique("outsider"))
	f.bot = g.CreateUser(t, testenv.Unique("spacepods"))
	f.reader = g.CreateUser(t, testenv.Unique("reader"))
	g.AddCollaborator(t, f.repo, f.dev.Login, "write")
	g.AddCollaborator(t, f.repo, f.reader.Login, "read")
	// Reading others' permissions takes admin on the repository.
	g.AddCollaborator(t, f.repo, f.bot.Login, "admin")
	clone := g.Clone(t, f.repo, f.dev)
	f.main = clone.Commit("main", "first", map[string]string{"README.md": "catalog\n"})
	f.head = clone.Commit("faster", "make it faster", map[string]string{"main.go": "package main\n"})
	f.pr = g.OpenPR(t, f.repo, f.dev, "faster", "main", "Faster catalog", "Spacepods-With: acme/pricing-api#3")
	c, err := gitea.New(gitea.Config{URL: g.URL, Token: f.bot.Token})
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return f
}

func TestGitea_RepoAndPullRequest(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	r, err := f.client.Repo(ctx, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	if r.FullName != f.repo || r.DefaultBranch != "main" || r.WebURL != f.g.URL+"/"+f.repo || r.CloneURL != f.g.URL+"/"+f.repo+".git" || r.Private {
		t.Fatalf("repo %+v", r)
	}
	pr, err := f.client.PullRequest(ctx, f.repo, f.pr)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number != f.pr || pr.HeadSHA != f.head || pr.HeadRef != "faster" || pr.BaseRef != "main" || pr.Author != f.dev.Login ||
		pr.Fork || pr.HeadRepo != f.repo || pr.State != "open" || pr.Title != "Faster catalog" || pr.Body != "Spacepods-With: acme/pricing-api#3" ||
		pr.WebURL != f.g.URL+"/"+f.repo+"/pulls/"+strconv.Itoa(f.pr) {
		t.Fatalf("pull request %+v", pr)
	}
	if _, err := f.client.Repo(ctx, f.repo+"-missing"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("missing repo: %v, want ENOTFOUND", err)
	}
	if _, err := f.client.PullRequest(ctx, f.repo, 999); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("missing PR: %v, want ENOTFOUND", err)
	}
	if got, want := f.client.CompareURL(f.repo, f.main, f.head), f.g.URL+"/"+f.repo+"/compare/"+f.main+"..."+f.head; got != want {
		t.Fatalf("compare URL %s, want %s", got, want)
	}
}

func TestGitea_StatusesReadBackThroughTheAPI(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	for _, s := range []forge.Status{
		{Context: "spacepods/pod", State: forge.StatusPending, Description: "creating pod pr-1", TargetURL: "http://127.0.0.1:7070/pods/pr-1"},
		{Context: "spacepods/tests", State: forge.StatusPending, Description: "waiting for the pod"},
		{Context: "spacepods/pod", State: forge.StatusSuccess, Description: "pod ready", TargetURL: "http://127.0.0.1:7070/pods/pr-1"},
		{Context: "spacepods/tests", State: forge.StatusFailure, Description: "3 tests failed", TargetURL: "http://127.0.0.1:7070/pods/pr-1/tests"},
	} {
		if err := f.client.SetStatus(ctx, f.repo, f.head, s); err != nil {
			t.Fatal(err)
		}
	}
	var combined struct {
		Statuses []struct {
			Context     string `json:"context"`
			Status      string `json:"status"`
			Description string `json:"description"`
			TargetURL   string `json:"target_url"`
		} `json:"statuses"`
	}
	f.g.API(t, "", "GET", "/repos/"+f.repo+"/commits/"+f.head+"/status", nil, &combined)
	got := map[string]string{}
	for _, s := range combined.Statuses {
		got[s.Context] = s.Status + " " + s.Description + " " + s.TargetURL
	}
	if got["spacepods/pod"] != "success pod ready http://127.0.0.1:7070/pods/pr-1" || got["spacepods/tests"] != "failure 3 tests failed http://127.0.0.1:7070/pods/pr-1/tests" {
		t.Fatalf("statuses on the head: %v", got)
	}
}

func TestGitea_UpsertCommentEditsItsOwnCommentOnly(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	const marker = "<!-- spacepods:pr-pod -->"
	// Someone else quotes the marker: that comment is not Spacepods' to edit.
	f.g.API(t, f.outside.Login, "POST", "/repos/"+f.repo+"/issues/"+strconv.Itoa(f.pr)+"/comments", map[string]string{"body": "look: " + marker}, nil)
	id1, err := f.client.UpsertComment(ctx, f.repo, f.pr, marker, "pod pr-1: building")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := f.client.UpsertComment(ctx, f.repo, f.pr, marker, "pod pr-1: ready at http://catalog-api.pr-1.localhost")
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || id1 == 0 {
		t.Fatalf("second upsert made comment %d, first %d: want the same one", id2, id1)
	}
	var cs []struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User struct {
			Login string `json:"login"`
		} `json:"user"`
	}
	f.g.API(t, "", "GET", "/repos/"+f.repo+"/issues/"+strconv.Itoa(f.pr)+"/comments", nil, &cs)
	var ours int
	for _, c := range cs {
		switch c.User.Login {
		case f.bot.Login:
			ours++
			if c.ID != id1 || c.Body != marker+"\npod pr-1: ready at http://catalog-api.pr-1.localhost" {
				t.Fatalf("our comment: %+v", c)
			}
		case f.outside.Login:
			if c.Body != "look: "+marker {
				t.Fatalf("the outsider's comment was edited: %q", c.Body)
			}
		}
	}
	if ours != 1 || len(cs) != 2 {
		t.Fatalf("%d comments of ours, %d in all: %+v", ours, len(cs), cs)
	}
}

func TestGitea_IsCollaborator(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	nobody := "no-such-user-" + testenv.Unique("x")
	// The org's owner is no collaborator but may push.
	for user, want := range map[string]bool{f.dev.Login: true, f.reader.Login: false, f.outside.Login: false, nobody: false, f.g.User: true} {
		got, err := f.client.IsCollaborator(ctx, f.repo, user)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if got != want {
			t.Errorf("IsCollaborator(%s) = %v, want %v", user, got, want)
		}
	}
	// With a token of a write collaborator Gitea tells only who is an
	// explicit collaborator, whatever their permission (docs/forges.md:
	// give Spacepods' user admin on the repository).
	writer, err := gitea.New(gitea.Config{URL: f.g.URL, Token: f.dev.Token})
	if err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]bool{f.dev.Login: true, f.reader.Login: true, f.outside.Login: false, nobody: false} {
		got, err := writer.IsCollaborator(ctx, f.repo, user)
		if err != nil {
			t.Fatalf("%s (write token): %v", user, err)
		}
		if got != want {
			t.Errorf("IsCollaborator(%s) with a write token = %v, want %v", user, got, want)
		}
	}
}

func TestGitea_CloneURLOfAPrivateRepoCarriesTheToken(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	u, err := f.client.CloneURL(ctx, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, f.bot.Token) {
		t.Fatal("a private repository's clone URL has no credentials")
	}
	out, err := exec.Command("git", "ls-remote", u, "refs/heads/main").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), f.main) {
		t.Fatalf("git ls-remote with the clone URL: %v %s", err, out)
	}
	anon, err := gitea.New(gitea.Config{URL: f.g.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Repo(ctx, f.repo); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("a private repo without a token: %v, want ENOTFOUND", err)
	}
}
