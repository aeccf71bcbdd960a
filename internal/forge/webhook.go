package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// DeliveryHeaders are the headers of a webhook delivery that Spacepods
// reads. GitHub sends X-GitHub-Delivery and X-GitHub-Event; Gitea (and
// Forgejo) send X-Gitea-Delivery and X-Gitea-Event, plus the GitHub-style
// X-Hub-Signature-256 (and its own X-Gitea-Signature, the same HMAC in hex
// without the "sha256=" prefix).
type DeliveryHeaders struct {
	ID        string // the delivery's GUID: the same on a redelivery
	Event     string // "push", "pull_request", "issue_comment", "ping", …
	Signature string // hex HMAC-SHA256 of the body, without "sha256="
}

// ReadHeaders reads a delivery's ID, event and signature, whichever forge
// sent it. EINVALID when the ID or the event is missing (not a webhook).
func ReadHeaders(h http.Header) (DeliveryHeaders, error) {
	d := DeliveryHeaders{
		ID:    first(h, "X-GitHub-Delivery", "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery"),
		Event: first(h, "X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event"),
	}
	if sig := h.Get("X-Hub-Signature-256"); sig != "" {
		d.Signature = strings.TrimPrefix(sig, "sha256=")
	} else {
		d.Signature = first(h, "X-Gitea-Signature", "X-Forgejo-Signature")
	}
	if d.ID == "" || d.Event == "" {
		return d, spacepods.Errorf(spacepods.EINVALID, "not a forge webhook delivery: the X-GitHub-Delivery (or X-Gitea-Delivery) and X-GitHub-Event (or X-Gitea-Event) headers are missing")
	}
	if len(d.ID) > 200 || len(d.Event) > 100 {
		return d, spacepods.Errorf(spacepods.EINVALID, "the delivery ID or event header is over its length limit")
	}
	return d, nil
}

func first(h http.Header, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// Sign returns the hex HMAC-SHA256 of body under secret: what the forge
// puts in X-Hub-Signature-256 after "sha256=".
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks sig (hex, as ReadHeaders returns it) against the
// body's HMAC-SHA256 under secret, in constant time. EUNAUTHORIZED when it
// is missing or wrong.
func VerifySignature(secret, body []byte, sig string) error {
	if sig == "" {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "the delivery is not signed: set the webhook's secret on the forge to the one Spacepods has (--forge-webhook-secret-file)")
	}
	got, err := hex.DecodeString(sig)
	want := hmac.New(sha256.New, secret)
	want.Write(body)
	if err != nil || !hmac.Equal(got, want.Sum(nil)) {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "the delivery's X-Hub-Signature-256 does not match its body: the webhook's secret on the forge differs from Spacepods' (--forge-webhook-secret-file)")
	}
	return nil
}

// Wire forms of the payloads. GitHub's and Gitea's are the same in every
// field read here (Gitea copied GitHub's), except for a few action names.
type wireUser struct {
	Login    string `json:"login"`
	UserName string `json:"username"` // Gitea's commit authors
	Type     string `json:"type"`     // GitHub: "User", "Bot", "Organization"
}

func (u *wireUser) login() string {
	if u == nil {
		return ""
	}
	if u.Login != "" {
		return u.Login
	}
	return u.UserName
}

// isBot: GitHub says so in the user's type; GitHub Apps and Gitea bots
// alike end their login in "[bot]".
func (u *wireUser) isBot() bool {
	return u != nil && (strings.EqualFold(u.Type, "bot") || strings.HasSuffix(u.Login, "[bot]"))
}

type wireRepo struct {
	FullName string `json:"full_name"`
}

type wireLabel struct {
	Name string `json:"name"`
}

type wireBranch struct {
	Ref  string    `json:"ref"`
	SHA  string    `json:"sha"`
	Repo *wireRepo `json:"repo"`
}

type wirePR struct {
	Number  int         `json:"number"`
	Title   string      `json:"title"`
	Body    string      `json:"body"`
	User    *wireUser   `json:"user"`
	Draft   bool        `json:"draft"`
	Labels  []wireLabel `json:"labels"`
	State   string      `json:"state"`
	Merged  bool        `json:"merged"`
	HTMLURL string      `json:"html_url"`
	Head    wireBranch  `json:"head"`
	Base    wireBranch  `json:"base"`
}

type wireCommit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Author  struct {
		Name     string `json:"name"`
		Email    string `json:"email"`
		UserName string `json:"username"`
	} `json:"author"`
}

type wireIssue struct {
	Number      int         `json:"number"`
	Title       string      `json:"title"`
	Body        string      `json:"body"`
	User        *wireUser   `json:"user"`
	Labels      []wireLabel `json:"labels"`
	State       string      `json:"state"`
	HTMLURL     string      `json:"html_url"`
	PullRequest *struct {
		Merged *bool `json:"merged"` // Gitea only
	} `json:"pull_request"`
}

type wirePayload struct {
	Action     string       `json:"action"`
	Repository *wireRepo    `json:"repository"`
	Sender     *wireUser    `json:"sender"`
	Ref        string       `json:"ref"`
	Before     string       `json:"before"`
	After      string       `json:"after"`
	Commits    []wireCommit `json:"commits"`
	Number     int          `json:"number"`
	PR         *wirePR      `json:"pull_request"`
	Label      *wireLabel   `json:"label"`
	Issue      *wireIssue   `json:"issue"`
	Comment    *struct {
		ID   int64     `json:"id"`
		Body string    `json:"body"`
		User *wireUser `json:"user"`
	} `json:"comment"`
}

// actionNames maps the forges' action words to the normalized ones.
var actionNames = map[string]string{
	"synchronized":  "synchronize", // Gitea
	"label_updated": "labeled",     // Gitea: the PR's labels changed (its payload names no single label)
	"label_cleared": "unlabeled",   // Gitea: every label removed
}

// ParseEvent turns a delivery's payload into an Event. Kinds other than
// ping, push, pull_request and issue_comment come back with only Kind,
// Action, Repo and Sender set. EINVALID when the body is not the JSON of
// the event it claims.
func ParseEvent(h DeliveryHeaders, body []byte) (Event, error) {
	var p wirePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, spacepods.Errorf(spacepods.EINVALID, "the %s delivery's body is not JSON (%v): set the webhook's content type to application/json on the forge", h.Event, err)
	}
	ev := Event{DeliveryID: h.ID, Kind: EventKind(h.Event), Action: p.Action, Sender: p.Sender.login()}
	if n, ok := actionNames[ev.Action]; ok {
		ev.Action = n
	}
	if p.Repository != nil {
		ev.Repo = p.Repository.FullName
	}
	switch ev.Kind {
	case EventPush:
		ev.Ref, ev.Before, ev.After = p.Ref, p.Before, p.After
		for _, c := range p.Commits {
			author := c.Author.UserName
			if author == "" {
				author = c.Author.Name
			}
			ev.Commits = append(ev.Commits, Commit{SHA: c.ID, Message: c.Message, Author: author, Email: c.Author.Email})
		}
		if ev.Ref == "" || ev.After == "" {
			return ev, spacepods.Errorf(spacepods.EINVALID, "the push delivery has no ref or after commit")
		}
	case EventPullRequest:
		if p.PR == nil {
			return ev, spacepods.Errorf(spacepods.EINVALID, "the pull_request delivery has no pull_request object")
		}
		ev.PR = p.PR.normalize(ev.Repo)
		if p.Label != nil {
			ev.Label = p.Label.Name
		}
	case EventComment:
		if p.Issue == nil || p.Comment == nil {
			return ev, spacepods.Errorf(spacepods.EINVALID, "the issue_comment delivery has no issue or comment object")
		}
		ev.Comment = &Comment{ID: p.Comment.ID, Body: p.Comment.Body, Author: p.Comment.User.login()}
		if p.Issue.PullRequest != nil {
			// The issue side of the pull request: no head or base; a
			// handler that needs them asks Forge.PullRequest.
			pr := &PullRequest{Repo: ev.Repo, Number: p.Issue.Number, Title: p.Issue.Title, Body: p.Issue.Body,
				Author: p.Issue.User.login(), IsBot: p.Issue.User.isBot(), State: p.Issue.State, WebURL: p.Issue.HTMLURL, Labels: labelNames(p.Issue.Labels)}
			if p.Issue.PullRequest.Merged != nil {
				pr.Merged = *p.Issue.PullRequest.Merged
			}
			ev.PR = pr
		}
	}
	return ev, nil
}

func (w *wirePR) normalize(repo string) *PullRequest {
	pr := &PullRequest{Repo: repo, Number: w.Number, Title: w.Title, Body: w.Body, Author: w.User.login(), IsBot: w.User.isBot(),
		Draft: w.Draft, Labels: labelNames(w.Labels), State: w.State, Merged: w.Merged, HeadSHA: w.Head.SHA, HeadRef: w.Head.Ref,
		BaseRef: w.Base.Ref, WebURL: w.HTMLURL}
	if pr.Repo == "" && w.Base.Repo != nil {
		pr.Repo = w.Base.Repo.FullName
	}
	if w.Head.Repo != nil {
		pr.HeadRepo = w.Head.Repo.FullName
	}
	// A head repository that is gone (a deleted fork) is unknown: treated
	// as a fork, so that its pod gets no secrets.
	pr.Fork = !strings.EqualFold(pr.HeadRepo, pr.Repo)
	return pr
}

func labelNames(ls []wireLabel) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

// ParsePullRequest decodes a pull request object in the JSON both forges
// use, in webhooks and in their REST APIs (Gitea's copies GitHub's), for
// the base repository repo ("" = read it from the object).
func ParsePullRequest(data []byte, repo string) (PullRequest, error) {
	var w wirePR
	if err := json.Unmarshal(data, &w); err != nil {
		return PullRequest{}, spacepods.Errorf(spacepods.EINTERNAL, "decode pull request: %v", err)
	}
	return *w.normalize(repo), nil
}
