package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GiteaForge is the real Gitea that scripts/gitea.sh started for the tests
// (loopback, its own database on the test PostgreSQL, webhooks allowed to
// loopback), with its site admin. Tests share it: make users, orgs and
// repositories with Unique names.
type GiteaForge struct {
	URL      string // "http://127.0.0.1:PORT" (no trailing slash)
	User     string // the site admin
	Password string
	Token    string // the site admin's access token, every scope
}

// Gitea returns the test Gitea from SPACEPODS_TEST_GITEA_*. It skips
// (fails in CI) when none runs.
func Gitea(t testing.TB) *GiteaForge {
	t.Helper()
	g := &GiteaForge{URL: strings.TrimRight(os.Getenv("SPACEPODS_TEST_GITEA_URL"), "/"), User: os.Getenv("SPACEPODS_TEST_GITEA_USER"),
		Password: os.Getenv("SPACEPODS_TEST_GITEA_PASSWORD"), Token: os.Getenv("SPACEPODS_TEST_GITEA_TOKEN")}
	if g.URL == "" || g.Token == "" {
		Missing(t, "Gitea (SPACEPODS_TEST_GITEA_URL, SPACEPODS_TEST_GITEA_TOKEN)",
			"run scripts/test.sh, or `scripts/gitea.sh start DIR POSTGRES_URL` and export the lines it prints")
	}
	return g
}

// Unique returns prefix + "-" + 8 random hex digits.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// API calls Gitea's REST API (/api/v1 + path) as the site admin, or as
// sudo (a user name) when it is not "", and decodes the answer into out.
// It fails the test unless the status is 2xx.
func (g *GiteaForge) API(t testing.TB, sudo, method, path string, body, out any) {
	t.Helper()
	status, data, err := g.Call(sudo, method, path, body)
	if err != nil {
		t.Fatalf("gitea %s %s: %v", method, path, err)
	}
	if status/100 != 2 {
		t.Fatalf("gitea %s %s: HTTP %d: %s", method, path, status, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("gitea %s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// Call is API without the test: it returns the status and body.
func (g *GiteaForge) Call(sudo, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, g.URL+"/api/v1"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "token "+g.Token)
	req.Header.Set("Content-Type", "application/json")
	if sudo != "" {
		req.Header.Set("Sudo", sudo)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// GiteaUser is a user the test made.
type GiteaUser struct {
	Login, Password, Email string
	Token                  string // an access token with every scope
}

// CreateUser makes a user (password login, no forced change) and an access
// token for it.
func (g *GiteaForge) CreateUser(t testing.TB, login string) GiteaUser {
	t.Helper()
	u := GiteaUser{Login: login, Password: "pw-" + Unique("x"), Email: login + "@example.invalid"}
	g.API(t, "", "POST", "/admin/users", map[string]any{"username": login, "password": u.Password, "email": u.Email, "must_change_password": false}, nil)
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	status, data, err := g.callBasic(login, u.Password, "POST", "/users/"+url.PathEscape(login)+"/tokens", map[string]any{"name": "tests", "scopes": []string{"all"}})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("gitea: token for %s: %v HTTP %d %s", login, err, status, data)
	}
	if err := json.Unmarshal(data, &tok); err != nil {
		t.Fatal(err)
	}
	u.Token = tok.SHA1
	return u
}

// callBasic calls the API with a user's password (Gitea makes tokens only
// for a user signed in with basic auth).
func (g *GiteaForge) callBasic(user, password, method, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, g.URL+"/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// CreateOrg makes an organization owned by the site admin.
func (g *GiteaForge) CreateOrg(t testing.TB, name string) {
	t.Helper()
	g.API(t, "", "POST", "/orgs", map[string]any{"username": name, "visibility": "public"}, nil)
}

// CreateRepo makes an empty repository owner/name (owner: an org or the
// admin) with main as its default branch.
func (g *GiteaForge) CreateRepo(t testing.TB, owner, name string, private bool) {
	t.Helper()
	g.API(t, "", "POST", "/admin/users/"+url.PathEscape(owner)+"/repos", map[string]any{"name": name, "private": private, "default_branch": "main"}, nil)
}

// AddCollaborator gives user access to repo ("owner/name"): permission
// is read, write or admin.
func (g *GiteaForge) AddCollaborator(t testing.TB, repo, user, permission string) {
	t.Helper()
	g.API(t, "", "PUT", "/repos/"+repo+"/collaborators/"+url.PathEscape(user), map[string]any{"permission": permission}, nil)
}

// AddHook configures a repository webhook to url with secret, sending
// push, pull request and comment events as JSON; it returns its ID.
func (g *GiteaForge) AddHook(t testing.TB, repo, hookURL, secret string) int64 {
	t.Helper()
	var h struct {
		ID int64 `json:"id"`
	}
	g.API(t, "", "POST", "/repos/"+repo+"/hooks", map[string]any{
		"type": "gitea", "active": true, "branch_filter": "*",
		"config": map[string]string{"url": hookURL, "content_type": "json", "secret": secret},
		"events": []string{"push", "pull_request", "pull_request_sync", "pull_request_label", "issue_comment", "pull_request_comment"},
	}, &h)
	return h.ID
}

// Git is a local clone of a Gitea repository, driven by the git CLI.
type Git struct {
	t   testing.TB
	Dir string
}

// Clone clones repo ("owner/name", may be empty) as user into a temporary
// directory; pushes go as that user.
func (g *GiteaForge) Clone(t testing.TB, repo string, user GiteaUser) *Git {
	t.Helper()
	RequireBinary(t, "git")
	u, err := url.Parse(g.URL + "/" + repo + ".git")
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user.Login, user.Token)
	dir := filepath.Join(t.TempDir(), "clone")
	gt := &Git{t: t, Dir: dir}
	gt.run(filepath.Dir(dir), "clone", "-q", u.String(), dir)
	gt.Run("config", "user.name", user.Login)
	gt.Run("config", "user.email", user.Email)
	gt.Run("config", "commit.gpgsign", "false")
	return gt
}

// Run runs git in the clone and returns its trimmed output.
func (gt *Git) Run(args ...string) string {
	gt.t.Helper()
	return gt.run(gt.Dir, args...)
}

func (gt *Git) run(dir string, args ...string) string {
	gt.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		gt.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (path → content; an "x:" prefix on the path makes
// the file executable) on branch (created from the current commit when
// new), commits and pushes; it returns the commit SHA.
func (gt *Git) Commit(branch, message string, files map[string]string) string {
	gt.t.Helper()
	if cur := gt.run(gt.Dir, "symbolic-ref", "--short", "HEAD"); cur != branch {
		gt.Run("checkout", "-q", "-B", branch)
	}
	for p, content := range files {
		mode := os.FileMode(0o600)
		if rest, ok := strings.CutPrefix(p, "x:"); ok {
			p, mode = rest, 0o700 // git records it as executable
		}
		full := filepath.Join(gt.Dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
			gt.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			gt.t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			gt.t.Fatal(err)
		}
	}
	gt.Run("add", "-A")
	gt.Run("commit", "-q", "-m", message)
	gt.Run("push", "-q", "origin", branch)
	return gt.Run("rev-parse", "HEAD")
}

// OpenPR opens a pull request head → base in repo as user; it returns its
// number.
func (g *GiteaForge) OpenPR(t testing.TB, repo string, user GiteaUser, head, base, title, body string) int {
	t.Helper()
	var pr struct {
		Number int `json:"number"`
	}
	g.API(t, user.Login, "POST", "/repos/"+repo+"/pulls", map[string]any{"head": head, "base": base, "title": title, "body": body}, &pr)
	return pr.Number
}

// String shows the server, for messages.
func (g *GiteaForge) String() string { return fmt.Sprintf("gitea at %s", g.URL) }
