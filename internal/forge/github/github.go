// Package github is the forge driver for GitHub (the public service and
// GitHub Enterprise Server), through go-github. It authenticates with an
// access token, or as a GitHub App installation (app.go). No GitHub is
// reachable from the tests: its behaviour is pinned by contract tests
// against a local server that answers as GitHub's REST API does
// (github_test.go, docs/forges.md).
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v75/github"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Kind is this driver's --forge value.
const Kind = "github"

// Client talks to one GitHub.
type Client struct {
	gh     *gh.Client
	token  func(ctx context.Context) (string, error) // for clone URLs
	app    *appAuth                                  // nil with a plain token
	webURL string                                    // "" for github.com: go-github knows it

	mu    sync.Mutex
	login string
}

var _ forge.Forge = (*Client)(nil)

// New returns a client for cfg: cfg.URL "" is github.com, else a GitHub
// Enterprise Server's web address. Either cfg.Token or the GitHub App
// fields authenticate it.
func New(cfg forge.Config) (*Client, error) {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{}
	apiBase := func(g *gh.Client) (*gh.Client, error) {
		if cfg.URL == "" {
			return g, nil
		}
		base := strings.TrimRight(cfg.URL, "/")
		g, err := g.WithEnterpriseURLs(base+"/api/v3/", base+"/api/uploads/")
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "--forge-url %q: %v (give the GitHub Enterprise Server's address, e.g. https://github.example.com)", cfg.URL, err)
		}
		return g, nil
	}
	switch {
	case cfg.AppID != 0 || cfg.InstallationID != 0 || len(cfg.AppKeyPEM) > 0:
		if cfg.Token != "" {
			return nil, spacepods.Errorf(spacepods.EINVALID, "give GitHub either a token or a GitHub App (ID, installation ID and private key), not both")
		}
		jwtClient, err := apiBase(gh.NewClient(hc))
		if err != nil {
			return nil, err
		}
		a, err := newAppAuth(cfg.AppID, cfg.InstallationID, cfg.AppKeyPEM, jwtClient, time.Now)
		if err != nil {
			return nil, err
		}
		c.app, c.token = a, a.Token
		hc = &http.Client{Timeout: hc.Timeout, Transport: &appTransport{auth: a, base: transportOf(hc)}}
		c.gh = gh.NewClient(hc)
	default:
		c.gh = gh.NewClient(hc).WithAuthToken(cfg.Token)
		token := cfg.Token
		c.token = func(context.Context) (string, error) { return token, nil }
	}
	var err error
	if c.gh, err = apiBase(c.gh); err != nil {
		return nil, err
	}
	if cfg.URL != "" {
		c.webURL = strings.TrimRight(cfg.URL, "/")
	}
	return c, nil
}

func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

// Kind implements forge.Forge.
func (c *Client) Kind() string { return Kind }

// wrapErr turns go-github's errors into coded ones.
func wrapErr(what string, resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &rl) || errors.As(err, &abuse) {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "github %s: rate limited (%v): try again later", what, err)
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return forge.APIError("github", what, er.Response.StatusCode, er.Message)
	}
	if resp != nil && resp.StatusCode/100 != 2 {
		return forge.APIError("github", what, resp.StatusCode, err.Error())
	}
	var se *spacepods.Error
	if errors.As(err, &se) {
		return err
	}
	return spacepods.Errorf(spacepods.EUNAVAILABLE, "github %s: %v", what, err)
}

// Repo implements forge.Forge.
func (c *Client) Repo(ctx context.Context, repo string) (forge.Repo, error) {
	owner, name, err := forge.SplitRepo(repo)
	if err != nil {
		return forge.Repo{}, err
	}
	r, resp, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return forge.Repo{}, wrapErr("get "+repo, resp, err)
	}
	return forge.Repo{FullName: r.GetFullName(), DefaultBranch: r.GetDefaultBranch(), WebURL: r.GetHTMLURL(), CloneURL: r.GetCloneURL(), Private: r.GetPrivate()}, nil
}

// PullRequest implements forge.Forge.
func (c *Client) PullRequest(ctx context.Context, repo string, number int) (forge.PullRequest, error) {
	owner, name, err := forge.SplitRepo(repo)
	if err != nil {
		return forge.PullRequest{}, err
	}
	p, resp, err := c.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return forge.PullRequest{}, wrapErr(fmt.Sprintf("get %s#%d", repo, number), resp, err)
	}
	pr := forge.PullRequest{Repo: repo, Number: p.GetNumber(), Title: p.GetTitle(), Body: p.GetBody(), Author: p.GetUser().GetLogin(),
		IsBot: p.GetUser().GetType() == "Bot" || strings.HasSuffix(p.GetUser().GetLogin(), "[bot]"), Draft: p.GetDraft(),
		State: p.GetState(), Merged: p.GetMerged(), HeadSHA: p.GetHead().GetSHA(), HeadRef: p.GetHead().GetRef(),
		HeadRepo: p.GetHead().GetRepo().GetFullName(), BaseRef: p.GetBase().GetRef(), WebURL: p.GetHTMLURL(), Labels: []string{}}
	for _, l := range p.Labels {
		pr.Labels = append(pr.Labels, l.GetName())
	}
	pr.Fork = !strings.EqualFold(pr.HeadRepo, repo)
	return pr, nil
}

// SetStatus implements forge.Forge. GitHub cuts descriptions at 140
// characters and refuses longer ones, so they are shortened here.
func (c *Client) SetStatus(ctx context.Context, repo, sha string, s forge.Status) error {
	owner, name, err := forge.SplitRepo(repo)
	if err != nil {
		return err
	}
	desc := s.Description
	if r := []rune(desc); len(r) > 140 {
		desc = string(r[:139]) + "…"
	}
	st := &gh.RepoStatus{State: gh.Ptr(string(s.State)), Context: gh.Ptr(s.Context), Description: gh.Ptr(desc)}
	if s.TargetURL != "" {
		st.TargetURL = gh.Ptr(s.TargetURL)
	}
	_, resp, err := c.gh.Repositories.CreateStatus(ctx, owner, name, sha, st)
	return wrapErr("set status "+s.Context+" on "+repo+"@"+sha, resp, err)
}

// self is the login the client's comments are written by: the token's
// user, or "<app-slug>[bot]" for a GitHub App.
func (c *Client) self(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.login != "" {
		return c.login, nil
	}
	if c.app != nil {
		slug, err := c.app.Slug(ctx)
		if err != nil {
			return "", err
		}
		c.login = slug + "[bot]"
		return c.login, nil
	}
	u, resp, err := c.gh.Users.Get(ctx, "")
	if err != nil {
		return "", wrapErr("get the token's user", resp, err)
	}
	c.login = u.GetLogin()
	return c.login, nil
}

// UpsertComment implements forge.Forge: only a comment of Spacepods' own
// user (or app) is edited, so nobody can have it overwrite theirs by
// quoting the marker.
func (c *Client) UpsertComment(ctx context.Context, repo string, number int, marker, body string) (int64, error) {
	owner, name, err := forge.SplitRepo(repo)
	if err != nil {
		return 0, err
	}
	me, err := c.self(ctx)
	if err != nil {
		return 0, err
	}
	body = forge.WithMarker(marker, body)
	what := fmt.Sprintf("comment on %s#%d", repo, number)
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := c.gh.Issues.ListComments(ctx, owner, name, number, opts)
		if err != nil {
			return 0, wrapErr("list comments of "+what, resp, err)
		}
		for _, cm := range cs {
			if strings.EqualFold(cm.GetUser().GetLogin(), me) && strings.Contains(cm.GetBody(), marker) {
				if cm.GetBody() == body {
					return cm.GetID(), nil
				}
				_, resp, err := c.gh.Issues.EditComment(ctx, owner, name, cm.GetID(), &gh.IssueComment{Body: gh.Ptr(body)})
				return cm.GetID(), wrapErr("edit "+what, resp, err)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	cm, resp, err := c.gh.Issues.CreateComment(ctx, owner, name, number, &gh.IssueComment{Body: gh.Ptr(body)})
	if err != nil {
		return 0, wrapErr("create "+what, resp, err)
	}
	return cm.GetID(), nil
}

// IsCollaborator implements forge.Forge: admin, maintain and write count.
func (c *Client) IsCollaborator(ctx context.Context, repo, user string) (bool, error) {
	owner, name, err := forge.SplitRepo(repo)
	if err != nil {
		return false, err
	}
	p, resp, err := c.gh.Repositories.GetPermissionLevel(ctx, owner, name, user)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return false, nil // no such user
	}
	if err != nil {
		return false, wrapErr("permission of "+user+" on "+repo, resp, err)
	}
	switch p.GetPermission() {
	case "admin", "maintain", "write":
		return true, nil
	}
	return false, nil
}

// CompareURL implements forge.Forge.
func (c *Client) CompareURL(repo, oldSHA, newSHA string) string {
	web := c.webURL
	if web == "" {
		// github.com's web address is its API's without the "api." label.
		u := *c.gh.BaseURL
		u.Host = strings.TrimPrefix(u.Host, "api.")
		u.Path = ""
		web = strings.TrimRight(u.String(), "/")
	}
	return web + "/" + repo + "/compare/" + oldSHA + "..." + newSHA
}

// CloneURL implements forge.Forge: with a token for a private repository
// (the installation token for a GitHub App).
func (c *Client) CloneURL(ctx context.Context, repo string) (string, error) {
	r, err := c.Repo(ctx, repo)
	if err != nil {
		return "", err
	}
	if !r.Private {
		return r.CloneURL, nil
	}
	tok, err := c.token(ctx)
	if err != nil {
		return "", err
	}
	return forge.CloneURLWithToken(r.CloneURL, tok)
}
