package github

// Contract tests: no GitHub is reachable from the tests, so a local server
// answers the calls the driver makes as GitHub's REST API v3 documents them
// (paths, methods, bodies, pagination by Link header, error shapes, the
// GitHub App JWT → installation token exchange). These pin the GitHub
// behaviour the real-Gitea tests cannot exercise (docs/forges.md).

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

const (
	repo     = "acme/catalog-api"
	headSHA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	botLogin = "spacepods-bot"
)

type comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// fakeGitHub answers as GitHub's API under /api/v3 (GitHub Enterprise
// Server's layout, which --forge-url selects).
type fakeGitHub struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey

	mu        sync.Mutex
	auth      []string // Authorization header of each repository call
	statuses  []map[string]string
	comments  []comment
	nextID    int64
	minted    int
	expiresIn time.Duration
	now       func() time.Time
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGitHub{t: t, key: key, nextID: 100, expiresIn: time.Hour, now: time.Now}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	// Two comments already: someone quoting the marker, then many others,
	// so that ours is on the second page.
	f.add("mallory", "<!-- spacepods:pr-pod --> fake")
	for i := 0; i < 3; i++ {
		f.add("alice", "lgtm "+strconv.Itoa(i))
	}
	return f
}

func (f *fakeGitHub) add(user, body string) int64 {
	f.nextID++
	c := comment{ID: f.nextID, Body: body}
	c.User.Login = user
	f.comments = append(f.comments, c)
	return c.ID
}

func (f *fakeGitHub) keyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(f.key)})
}

func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// checkJWT verifies an app JWT as GitHub does: RS256 under the app's
// public key, issuer the app ID, not expired, at most 10 minutes long.
func (f *fakeGitHub) checkJWT(r *http.Request) bool {
	raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	sig, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	payload, err := sig.Verify(&f.key.PublicKey)
	if err != nil {
		return false
	}
	var c struct {
		Iat, Exp int64
		Iss      string
	}
	if json.Unmarshal(payload, &c) != nil {
		return false
	}
	now := f.now().Unix()
	return c.Iss == "1234" && c.Iat <= now && c.Exp > now && c.Exp-c.Iat <= 600
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	base := "/repos/" + repo
	if strings.HasPrefix(p, base) || p == "/user" {
		f.auth = append(f.auth, r.Header.Get("Authorization"))
	}
	switch {
	case p == "/app" && r.Method == "GET":
		if !f.checkJWT(r) {
			write(w, 401, map[string]string{"message": "A JSON web token could not be decoded"})
			return
		}
		write(w, 200, map[string]any{"id": 1234, "slug": "spacepods"})
	case p == "/app/installations/42/access_tokens" && r.Method == "POST":
		if !f.checkJWT(r) {
			write(w, 401, map[string]string{"message": "A JSON web token could not be decoded"})
			return
		}
		f.minted++
		write(w, 201, map[string]any{"token": fmt.Sprintf("ghs_%d", f.minted), "expires_at": f.now().Add(f.expiresIn).UTC().Format(time.RFC3339)})
	case p == "/user":
		write(w, 200, map[string]any{"login": botLogin, "type": "User"})
	case p == base:
		write(w, 200, map[string]any{"full_name": repo, "default_branch": "trunk", "html_url": f.srv.URL + "/" + repo,
			"clone_url": f.srv.URL + "/" + repo + ".git", "private": true})
	case p == base+"/pulls/7":
		write(w, 200, map[string]any{"number": 7, "title": "Faster", "body": "b", "state": "open", "draft": true, "merged": false,
			"html_url": f.srv.URL + "/" + repo + "/pull/7", "user": map[string]any{"login": "renovate[bot]", "type": "Bot"},
			"labels": []map[string]any{{"name": "preview"}},
			"head":   map[string]any{"ref": "fast", "sha": headSHA, "repo": map[string]any{"full_name": "mallory/catalog-api"}},
			"base":   map[string]any{"ref": "trunk", "repo": map[string]any{"full_name": repo}}})
	case p == base+"/pulls/8":
		write(w, 404, map[string]string{"message": "Not Found"})
	case p == base+"/pulls/9":
		w.Header().Set("X-RateLimit-Limit", "5000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		write(w, 403, map[string]string{"message": "API rate limit exceeded"})
	case p == base+"/pulls/10":
		write(w, 502, map[string]string{"message": "Server Error"})
	case strings.HasPrefix(p, base+"/statuses/") && r.Method == "POST":
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		body["sha"] = strings.TrimPrefix(p, base+"/statuses/")
		if len([]rune(body["description"])) > 140 {
			write(w, 422, map[string]string{"message": "Validation Failed"})
			return
		}
		f.statuses = append(f.statuses, body)
		write(w, 201, body)
	case p == base+"/issues/7/comments" && r.Method == "GET":
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if per != 100 {
			f.t.Errorf("listed comments %d a page, want 100", per)
		}
		// The fake pages by 2 whatever was asked, to make the driver follow Link.
		page = max(page, 1)
		lo, hi := (page-1)*2, min(page*2, len(f.comments))
		if hi < len(f.comments) {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?page=%d&per_page=100>; rel="next"`, f.srv.URL, r.URL.Path, page+1))
		}
		write(w, 200, f.comments[lo:hi])
	case p == base+"/issues/7/comments" && r.Method == "POST":
		var body comment
		_ = json.NewDecoder(r.Body).Decode(&body)
		id := f.add(botLogin, body.Body)
		write(w, 201, f.comments[len(f.comments)-1])
		_ = id
	case strings.HasPrefix(p, base+"/issues/comments/") && r.Method == "PATCH":
		id, _ := strconv.ParseInt(strings.TrimPrefix(p, base+"/issues/comments/"), 10, 64)
		var body comment
		_ = json.NewDecoder(r.Body).Decode(&body)
		for i := range f.comments {
			if f.comments[i].ID == id {
				f.comments[i].Body = body.Body
				write(w, 200, f.comments[i])
				return
			}
		}
		write(w, 404, map[string]string{"message": "Not Found"})
	case strings.HasPrefix(p, base+"/collaborators/") && strings.HasSuffix(p, "/permission"):
		user := strings.TrimSuffix(strings.TrimPrefix(p, base+"/collaborators/"), "/permission")
		perm, ok := map[string]string{"alice": "admin", "mia": "maintain", "wes": "write", "tri": "read", "nobody": "none"}[user]
		if !ok {
			write(w, 404, map[string]string{"message": "Not Found"})
			return
		}
		write(w, 200, map[string]any{"permission": perm, "user": map[string]string{"login": user}})
	default:
		f.t.Errorf("unexpected call %s %s", r.Method, r.URL)
		_, _ = io.Copy(io.Discard, r.Body)
		write(w, 404, map[string]string{"message": "Not Found"})
	}
}

func newTokenClient(t *testing.T, f *fakeGitHub) *Client {
	t.Helper()
	c, err := New(forge.Config{URL: f.srv.URL, Token: "ghp_secret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGitHubContract_RepoAndPullRequest(t *testing.T) {
	f := newFakeGitHub(t)
	c := newTokenClient(t, f)
	ctx := context.Background()
	r, err := c.Repo(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if r != (forge.Repo{FullName: repo, DefaultBranch: "trunk", WebURL: f.srv.URL + "/" + repo, CloneURL: f.srv.URL + "/" + repo + ".git", Private: true}) {
		t.Fatalf("repo %+v", r)
	}
	pr, err := c.PullRequest(ctx, repo, 7)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number != 7 || !pr.IsBot || !pr.Draft || !pr.Fork || pr.HeadRepo != "mallory/catalog-api" || pr.HeadSHA != headSHA ||
		pr.BaseRef != "trunk" || pr.HeadRef != "fast" || len(pr.Labels) != 1 || pr.Labels[0] != "preview" || pr.Author != "renovate[bot]" {
		t.Fatalf("pull request %+v", pr)
	}
	if f.auth[0] != "Bearer ghp_secret" {
		t.Fatalf("token sent as %q", f.auth[0])
	}
	// One client per error: once rate limited, go-github makes no call
	// until the reset time GitHub gave, as GitHub asks.
	for n, code := range map[int]string{8: spacepods.ENOTFOUND, 9: spacepods.EUNAVAILABLE, 10: spacepods.EUNAVAILABLE} {
		if _, err := newTokenClient(t, f).PullRequest(ctx, repo, n); spacepods.ErrorCode(err) != code {
			t.Errorf("PR %d: %v, want %s", n, err, code)
		}
	}
	if got := c.CompareURL(repo, "a1", "b2"); got != f.srv.URL+"/"+repo+"/compare/a1...b2" {
		t.Fatalf("compare URL %s", got)
	}
	u, err := c.CloneURL(ctx, repo)
	if err != nil || !strings.Contains(u, "x-access-token:ghp_secret@") {
		t.Fatalf("private clone URL %q %v", u, err)
	}
}

func TestGitHubContract_StatusDescriptionIsCutTo140(t *testing.T) {
	f := newFakeGitHub(t)
	c := newTokenClient(t, f)
	long := strings.Repeat("é", 200)
	if err := c.SetStatus(context.Background(), repo, headSHA, forge.Status{Context: "spacepods/tests", State: forge.StatusFailure, Description: long, TargetURL: "http://sp/t"}); err != nil {
		t.Fatal(err)
	}
	s := f.statuses[0]
	if s["state"] != "failure" || s["context"] != "spacepods/tests" || s["target_url"] != "http://sp/t" || s["sha"] != headSHA || len([]rune(s["description"])) != 140 {
		t.Fatalf("status %v", s)
	}
}

func TestGitHubContract_UpsertCommentFollowsPagesAndEditsOnlyItsOwn(t *testing.T) {
	f := newFakeGitHub(t)
	c := newTokenClient(t, f)
	ctx := context.Background()
	const marker = "<!-- spacepods:pr-pod -->"
	id1, err := c.UpsertComment(ctx, repo, 7, marker, "building")
	if err != nil {
		t.Fatal(err)
	}
	if f.comments[0].Body != marker+" fake" {
		t.Fatal("edited someone else's comment that quotes the marker")
	}
	// More comments arrive, pushing ours to a later page.
	f.mu.Lock()
	f.add("bob", "nice")
	f.mu.Unlock()
	id2, err := c.UpsertComment(ctx, repo, 7, marker, "ready")
	if err != nil {
		t.Fatal(err)
	}
	var ours []comment
	for _, cm := range f.comments {
		if cm.User.Login == botLogin {
			ours = append(ours, cm)
		}
	}
	if id1 != id2 || len(ours) != 1 || ours[0].Body != marker+"\nready" {
		t.Fatalf("ids %d %d, ours %+v", id1, id2, ours)
	}
}

func TestGitHubContract_IsCollaborator(t *testing.T) {
	f := newFakeGitHub(t)
	c := newTokenClient(t, f)
	for user, want := range map[string]bool{"alice": true, "mia": true, "wes": true, "tri": false, "nobody": false, "ghost": false} {
		got, err := c.IsCollaborator(context.Background(), repo, user)
		if err != nil || got != want {
			t.Errorf("IsCollaborator(%s) = %v %v, want %v", user, got, err, want)
		}
	}
}

func TestGitHubContract_AppInstallationTokenIsMintedWithAJWTAndRenewed(t *testing.T) {
	f := newFakeGitHub(t)
	now := time.Now()
	clock := func() time.Time { return now }
	f.now = func() time.Time { return now }
	c, err := New(forge.Config{URL: f.srv.URL, AppID: 1234, InstallationID: 42, AppKeyPEM: f.keyPEM()})
	if err != nil {
		t.Fatal(err)
	}
	c.app.now = clock
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Repo(ctx, repo); err != nil {
			t.Fatal(err)
		}
	}
	if f.minted != 1 || f.auth[0] != "token ghs_1" || f.auth[2] != "token ghs_1" {
		t.Fatalf("minted %d, auth %v: want one token, reused", f.minted, f.auth)
	}
	// Comments are by the app's bot user.
	if _, err := c.UpsertComment(ctx, repo, 7, "<!-- m -->", "hi"); err != nil {
		t.Fatal(err)
	}
	if last := f.comments[len(f.comments)-1]; last.User.Login != botLogin || c.login != "spacepods[bot]" {
		t.Fatalf("app login %q", c.login)
	}
	// 56 minutes on, the token expires within 5: a new one is minted.
	now = now.Add(56 * time.Minute)
	if _, err := c.Repo(ctx, repo); err != nil {
		t.Fatal(err)
	}
	if f.minted != 2 || f.auth[len(f.auth)-1] != "token ghs_2" {
		t.Fatalf("after expiry: minted %d, last auth %q", f.minted, f.auth[len(f.auth)-1])
	}
	u, err := c.CloneURL(ctx, repo)
	if err != nil || !strings.Contains(u, "x-access-token:ghs_2@") {
		t.Fatalf("app clone URL %q %v", u, err)
	}
	// A wrong key is refused by GitHub's JWT check.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	bad, err := New(forge.Config{URL: f.srv.URL, AppID: 1234, InstallationID: 42,
		AppKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Repo(ctx, repo); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("wrong app key: %v, want EUNAUTHORIZED", err)
	}
	if _, err := New(forge.Config{AppID: 1, InstallationID: 2, AppKeyPEM: []byte("nope")}); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("bad PEM: %v", err)
	}
}
