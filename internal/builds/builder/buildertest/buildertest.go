// Package buildertest makes git repositories for the builder's tests (and
// the API's and the benchmark's): real repositories made with the git CLI,
// served over file://, whose Dockerfiles build FROM scratch from a static
// Go binary, since no public registry is reachable in tests.
package buildertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/testenv"
)

// HelloPackage is the program the test images run.
const HelloPackage = "github.com/spacepods/spacepods/internal/builds/builder/buildertest/hello"

// Repo is a git repository made with the git CLI.
type Repo struct {
	t   testing.TB
	Dir string
}

// NewRepo makes an empty repository whose default branch is main.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	testenv.RequireBinary(t, "git")
	r := &Repo{t: t, Dir: t.TempDir()}
	r.Git("init", "-q", "-b", "main")
	return r
}

// URL is the repository's file:// clone URL.
func (r *Repo) URL() string { return "file://" + r.Dir }

// Git runs git in the repository, as the author Ann Author
// <ann@example.com>, and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann Author", "GIT_AUTHOR_EMAIL=ann@example.com",
		"GIT_COMMITTER_NAME=Ann Author", "GIT_COMMITTER_EMAIL=ann@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes files (path → content; an "x:" prefix on the path makes
// the file executable).
func (r *Repo) Write(files map[string][]byte) {
	r.t.Helper()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if rest, ok := strings.CutPrefix(name, "x:"); ok {
			name, mode = rest, 0o755
		}
		p := filepath.Join(r.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, content, mode); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Commit commits everything and returns the commit's SHA.
func (r *Repo) Commit(message string) string {
	r.t.Helper()
	r.Git("add", "-A")
	r.Git("commit", "-q", "-m", message)
	return r.Git("rev-parse", "HEAD")
}

// HelloDockerfile builds FROM scratch from the hello binary.
const HelloDockerfile = "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n"

// HelloApp writes a Dockerfile that builds FROM scratch from a static Go
// binary, a .dockerignore that leaves out notes/ and README.md, and
// commits; it returns the commit's SHA. The context sent holds 4 files:
// Dockerfile, hello, .gitignore and .dockerignore.
func (r *Repo) HelloApp(message string) string {
	r.t.Helper()
	r.Write(map[string][]byte{
		"Dockerfile":    []byte(HelloDockerfile),
		"x:hello":       testenv.GoBinary(r.t, HelloPackage),
		"README.md":     []byte(message + "\n"),
		".gitignore":    []byte("*.tmp\n"),
		"notes/a.txt":   []byte("left out by .dockerignore\n"),
		".dockerignore": []byte("notes\nREADME.md\n"),
	})
	return r.Commit(message)
}
