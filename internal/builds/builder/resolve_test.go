package builder

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/builds/builder/buildertest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestResolve_BranchesTagsAndCommitsAndWhereTheyAreRecorded(t *testing.T) {
	repo := buildertest.NewRepo(t)
	repo.Write(map[string][]byte{"a": []byte("1")})
	first := repo.Commit("first")
	repo.Write(map[string][]byte{"a": []byte("2")})
	second := repo.Commit("second\n\nbody")
	repo.Git("tag", "v1", first)
	repo.Git("tag", "-a", "v2", "-m", "release 2", second)
	repo.Git("checkout", "-q", "-b", "feature")
	repo.Write(map[string][]byte{"a": []byte("3")})
	feature := repo.Commit("on feature")
	repo.Git("checkout", "-q", "--orphan", "loose")
	repo.Write(map[string][]byte{"a": []byte("4")})
	loose := repo.Commit("loose")
	repo.Git("tag", "only-a-tag", loose)
	repo.Git("checkout", "-q", "main")
	repo.Git("branch", "-D", "loose")

	cache := &gitCache{dir: filepath.Join(t.TempDir(), "cache"), url: repo.URL()}
	var log strings.Builder
	r, def, err := cache.fetch(context.Background(), func(f string, a ...any) { log.WriteString(f) })
	if err != nil || def != "main" {
		t.Fatalf("fetch: default %q, %v", def, err)
	}
	for _, tc := range []struct{ ref, sha, branch, msg string }{
		{"", second, "main", "second\n\nbody"},
		{"main", second, "main", ""},
		{"feature", feature, "feature", "on feature"},
		{"v1", first, "main", "first"},    // lightweight tag, contained in main
		{"v2", second, "main", ""},        // annotated tag, tip of main
		{first[:8], first, "main", ""},    // short SHA
		{feature, feature, "feature", ""}, // full SHA, on feature only
	} {
		c, err := resolve(r, tc.ref, def, cache.url)
		if err != nil || c.sha != tc.sha || c.branch != tc.branch || (tc.msg != "" && c.message != tc.msg) || c.author != "Ann Author <ann@example.com>" {
			t.Errorf("resolve(%q) = %+v, %v; want %s on %s", tc.ref, c, err, tc.sha[:8], tc.branch)
		}
	}
	for ref, want := range map[string]string{
		"only-a-tag": "is on no branch of " + repo.URL() + ": builds are recorded per branch",
		"nope":       `ref "nope" is not a branch, tag or commit of ` + repo.URL() + ": its branches are feature, main",
		"abcdef12":   `ref "abcdef12" is not a branch, tag or commit`,
	} {
		if _, err := resolve(r, ref, def, cache.url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resolve(%q): %v, want %q", ref, err, want)
		}
	}
	if !strings.Contains(log.String(), "cloning") {
		t.Errorf("first fetch: %s", log.String())
	}
}

func TestRedact_HidesPasswordsOfCloneURLs(t *testing.T) {
	for in, want := range map[string]string{
		"https://bot:s3cret@git.example.com/a/b.git": "https://bot:xxxxx@git.example.com/a/b.git",
		"https://git.example.com/a/b.git":            "https://git.example.com/a/b.git",
		"git@git.example.com:a/b.git":                "git@git.example.com:a/b.git",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestManifestSources_SaysWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	if u, err := (ManifestSources{}).CloneURL(ctx, &spacepods.App{Name: "api", Build: &spacepods.BuildSource{Git: "file:///srv/api.git"}}); err != nil || u != "file:///srv/api.git" {
		t.Fatalf("build.git: %q %v", u, err)
	}
	if _, err := (ManifestSources{}).CloneURL(ctx, &spacepods.App{Name: "api"}); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "add build: {git: CLONE_URL}") {
		t.Fatalf("no build: %v", err)
	}
	// build: without git names the forge, which would give the clone URL.
	_, err := (ManifestSources{}).CloneURL(ctx, &spacepods.App{Name: "api", Repo: "acme/api", Build: &spacepods.BuildSource{}})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "--forge") || !strings.Contains(err.Error(), "acme/api") {
		t.Fatalf("build: without git and no forge: %v", err)
	}
}
