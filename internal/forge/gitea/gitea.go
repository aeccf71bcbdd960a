// Package gitea is the forge driver for Gitea and Forgejo, over their REST
// API (/api/v1) with plain net/http: the few calls Spacepods makes do not
// justify Gitea's SDK and its dependencies. It is tested against a real
// Gitea (scripts/gitea.sh).
package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Kind is this driver's --forge value.
const Kind = "gitea"

// Config configures a client.
type Config struct {
	// URL is the Gitea server's base URL, e.g. https://gitea.example.com
	// (its web pages; the API is under /api/v1).
	URL string
	// Token is an access token of the Spacepods user (scopes:
	// read:user, write:repository, write:issue). Never logged.
	Token string
	// HTTPClient, if set, makes the requests (default: 30 s timeout).
	HTTPClient *http.Client
}

// Client talks to one Gitea server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client

	mu    sync.Mutex
	login string // the token's user, for UpsertComment
}

var _ forge.Forge = (*Client)(nil)

// New returns a client. EINVALID for a URL that is not http(s).
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, spacepods.Errorf(spacepods.EINVALID, "--forge-url %q is not an http(s) URL: give the Gitea server's address, e.g. https://gitea.example.com", cfg.URL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: cfg.Token, http: hc}, nil
}

// Kind implements forge.Forge.
func (c *Client) Kind() string { return Kind }

// do sends a request to /api/v1 + path with body as JSON, and decodes a
// success into out (when not nil). what names the call in errors.
func (c *Client) do(ctx context.Context, method, path string, body, out any, what string) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+"/api/v1"+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "token "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, spacepods.Errorf(spacepods.EUNAVAILABLE, "gitea %s: cannot reach %s: %v", what, c.base.Host, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, spacepods.Errorf(spacepods.EUNAVAILABLE, "gitea %s: reading the answer: %v", what, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = string(data)
		}
		return resp.StatusCode, forge.APIError("gitea", what, resp.StatusCode, e.Message)
	}
	if out != nil {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = data
			return resp.StatusCode, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("gitea %s: decode the answer: %w", what, err)
		}
	}
	return resp.StatusCode, nil
}

func repoPath(repo string) (string, error) {
	owner, name, err := forge.SplitRepo(repo)
	if err != nil {
		return "", err
	}
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}

type wireRepo struct {
	FullName      string `json:"full_name"`
	DefaultBranch string `json:"default_branch"`
	HTMLURL       string `json:"html_url"`
	CloneURL      string `json:"clone_url"`
	Private       bool   `json:"private"`
}

// Repo implements forge.Forge.
func (c *Client) Repo(ctx context.Context, repo string) (forge.Repo, error) {
	p, err := repoPath(repo)
	if err != nil {
		return forge.Repo{}, err
	}
	var w wireRepo
	if _, err := c.do(ctx, http.MethodGet, p, nil, &w, "get "+repo); err != nil {
		return forge.Repo{}, err
	}
	return forge.Repo{FullName: w.FullName, DefaultBranch: w.DefaultBranch, WebURL: w.HTMLURL, CloneURL: w.CloneURL, Private: w.Private}, nil
}

// PullRequest implements forge.Forge.
func (c *Client) PullRequest(ctx context.Context, repo string, number int) (forge.PullRequest, error) {
	p, err := repoPath(repo)
	if err != nil {
		return forge.PullRequest{}, err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/pulls/%d", p, number), nil, &raw, fmt.Sprintf("get %s#%d", repo, number)); err != nil {
		return forge.PullRequest{}, err
	}
	return forge.ParsePullRequest(raw, repo)
}

// SetStatus implements forge.Forge.
func (c *Client) SetStatus(ctx context.Context, repo, sha string, s forge.Status) error {
	p, err := repoPath(repo)
	if err != nil {
		return err
	}
	body := map[string]string{"state": string(s.State), "context": s.Context, "description": s.Description, "target_url": s.TargetURL}
	_, err = c.do(ctx, http.MethodPost, p+"/statuses/"+url.PathEscape(sha), body, nil, "set status "+s.Context+" on "+repo+"@"+sha)
	return err
}

type wireComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// self returns the token's user (cached).
func (c *Client) self(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.login != "" {
		return c.login, nil
	}
	var u struct {
		Login string `json:"login"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/user", nil, &u, "get the token's user"); err != nil {
		return "", err
	}
	c.login = u.Login
	return c.login, nil
}

// UpsertComment implements forge.Forge. Only a comment written by the
// token's own user is edited, so that nobody can have Spacepods overwrite
// theirs by putting the marker in it.
func (c *Client) UpsertComment(ctx context.Context, repo string, number int, marker, body string) (int64, error) {
	p, err := repoPath(repo)
	if err != nil {
		return 0, err
	}
	me, err := c.self(ctx)
	if err != nil {
		return 0, err
	}
	body = forge.WithMarker(marker, body)
	what := fmt.Sprintf("comment on %s#%d", repo, number)
	for page := 1; ; page++ {
		var cs []wireComment
		if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/issues/%d/comments?page=%d&limit=50", p, number, page), nil, &cs, "list comments of "+what); err != nil {
			return 0, err
		}
		for _, cm := range cs {
			if strings.EqualFold(cm.User.Login, me) && strings.Contains(cm.Body, marker) {
				if cm.Body == body {
					return cm.ID, nil
				}
				_, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/issues/comments/%d", p, cm.ID), map[string]string{"body": body}, nil, "edit "+what)
				return cm.ID, err
			}
		}
		if len(cs) < 50 {
			break
		}
	}
	var created wireComment
	_, err = c.do(ctx, http.MethodPost, fmt.Sprintf("%s/issues/%d/comments", p, number), map[string]string{"body": body}, &created, "create "+what)
	return created.ID, err
}

// IsCollaborator implements forge.Forge: write, admin and owner
// permissions count (org owners and teams included), read does not. Gitea
// shows others' permissions only to the repository's admins: with a token
// of less, the answer is whether user is an explicit collaborator, of any
// permission.
func (c *Client) IsCollaborator(ctx context.Context, repo, user string) (bool, error) {
	p, err := repoPath(repo)
	if err != nil {
		return false, err
	}
	var perm struct {
		Permission string `json:"permission"`
	}
	status, err := c.do(ctx, http.MethodGet, p+"/collaborators/"+url.PathEscape(user)+"/permission", nil, &perm, "permission of "+user+" on "+repo)
	switch {
	case status == http.StatusNotFound:
		return false, nil // no such user
	case status == http.StatusForbidden:
		status, err = c.do(ctx, http.MethodGet, p+"/collaborators/"+url.PathEscape(user), nil, nil, "is "+user+" a collaborator on "+repo)
		if status == http.StatusNotFound || status == http.StatusUnprocessableEntity {
			return false, nil // not a collaborator, or no such user
		}
		return err == nil, err
	case err != nil:
		return false, err
	}
	switch perm.Permission {
	case "write", "admin", "owner":
		return true, nil
	}
	return false, nil
}

// CompareURL implements forge.Forge.
func (c *Client) CompareURL(repo, oldSHA, newSHA string) string {
	return c.base.String() + "/" + repo + "/compare/" + oldSHA + "..." + newSHA
}

// CloneURL implements forge.Forge: with the token for a private repository.
func (c *Client) CloneURL(ctx context.Context, repo string) (string, error) {
	r, err := c.Repo(ctx, repo)
	if err != nil {
		return "", err
	}
	if !r.Private {
		return r.CloneURL, nil
	}
	return forge.CloneURLWithToken(r.CloneURL, c.token)
}
