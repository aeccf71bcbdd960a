package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/forge/gitea"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// recordingHandler records the events the receiver dispatches.
type recordingHandler struct {
	mu     sync.Mutex
	events []forge.Event
}

func (h *recordingHandler) HandleEvent(_ context.Context, ev forge.Event) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	return "recorded " + string(ev.Kind) + " " + ev.Action, nil
}

func (h *recordingHandler) all() []forge.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]forge.Event(nil), h.events...)
}

// wait returns the first event after skip that matches, waiting up to a
// minute (Gitea delivers from a queue).
func (h *recordingHandler) wait(t *testing.T, what string, match func(forge.Event) bool) forge.Event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, ev := range h.all() {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s event within a minute; got %+v", what, h.all())
	return forge.Event{}
}

const hookSecret = "the-webhook-secret"

// The whole webhook path against the real Gitea: Gitea signs and delivers
// push, pull request and comment events to the server's endpoint, which
// stores them, and its worker dispatches them as normalized events.
func TestForgeHook_RealGiteaDeliversEveryEventKind(t *testing.T) {
	g := testenv.Gitea(t)
	f := newFixture(t)
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	org := testenv.Unique("acme")
	repo := org + "/catalog-api"
	g.CreateOrg(t, org)
	g.CreateRepo(t, org, "catalog-api", false)
	g.CreateRepo(t, org, "unlinked", false)
	dev := g.CreateUser(t, testenv.Unique("dev"))
	g.AddCollaborator(t, repo, dev.Login, "write")
	g.AddCollaborator(t, org+"/unlinked", dev.Login, "write")
	manifest := strings.NewReplacer("name: api", "name: catalog-api", "repo: acme/api", "repo: "+repo).Replace(apiManifest)
	if _, _, err := f.srv.Catalog.Register(ctx, []byte(manifest), ""); err != nil {
		t.Fatal(err)
	}
	client, err := gitea.New(gitea.Config{URL: g.URL, Token: g.Token})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingHandler{}
	f.srv.Hooks = &forge.Receiver{Secret: []byte(hookSecret), Store: f.srv.Store, Forge: client, Apps: f.srv.Catalog.AppsOfRepo,
		Handlers: []forge.Handler{rec}, Logger: testenv.Logger(t, "receiver", -4)}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.srv.Hooks.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	hookURL := f.ts.URL + "/api/v1/hooks/forge"
	g.AddHook(t, repo, hookURL, hookSecret)
	g.AddHook(t, org+"/unlinked", hookURL, hookSecret)

	clone := g.Clone(t, repo, dev)
	mainSHA := clone.Commit("main", "first", map[string]string{"README.md": "catalog\n"})
	push := rec.wait(t, "push to main", func(ev forge.Event) bool { return ev.Kind == forge.EventPush && ev.After == mainSHA })
	if push.Repo != repo || push.Ref != "refs/heads/main" || len(push.Commits) != 1 || push.Commits[0].SHA != mainSHA || push.Sender != dev.Login {
		t.Fatalf("push %+v", push)
	}

	head1 := clone.Commit("faster", "faster", map[string]string{"main.go": "package main\n"})
	n := g.OpenPR(t, repo, dev, "faster", "main", "Faster", "Spacepods-With: acme/pricing-api#3")
	opened := rec.wait(t, "pull_request opened", func(ev forge.Event) bool { return ev.Kind == forge.EventPullRequest && ev.Action == "opened" })
	if pr := opened.PR; pr.Number != n || pr.HeadSHA != head1 || pr.HeadRef != "faster" || pr.BaseRef != "main" || pr.Fork || pr.Author != dev.Login || pr.Body != "Spacepods-With: acme/pricing-api#3" {
		t.Fatalf("opened %+v", pr)
	}

	head2 := clone.Commit("faster", "faster still", map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	rec.wait(t, "pull_request synchronize", func(ev forge.Event) bool {
		return ev.Kind == forge.EventPullRequest && ev.Action == "synchronize" && ev.PR.HeadSHA == head2
	})

	// A late event for the old head (the opened delivery again, as if it
	// had been held up, under a delivery ID of its own) is dropped: the
	// receiver asks Gitea for the pull request's head, which is head2.
	openedRow, err := f.srv.Store.Delivery(context.Background(), 0, opened.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	late := postDelivery(t, hookURL, "late-"+opened.DeliveryID, "pull_request", string(openedRow.Payload), hookSecret)
	if late.StatusCode != http.StatusAccepted {
		t.Fatalf("late delivery: HTTP %d", late.StatusCode)
	}
	waitState(t, f, "late-"+opened.DeliveryID, spacepods.DeliveryIgnored, "ignored: out of order: this event is for head "+head1[:12])
	for _, ev := range rec.all() {
		if strings.HasPrefix(ev.DeliveryID, "late-") {
			t.Fatalf("the late event was dispatched: %+v", ev)
		}
	}

	var label struct {
		ID int64 `json:"id"`
	}
	g.API(t, "", "POST", "/repos/"+repo+"/labels", map[string]any{"name": "preview", "color": "#00aa00"}, &label)
	g.API(t, "", "POST", fmt.Sprintf("/repos/%s/issues/%d/labels", repo, n), map[string]any{"labels": []int64{label.ID}}, nil)
	labeled := rec.wait(t, "pull_request labeled", func(ev forge.Event) bool { return ev.Kind == forge.EventPullRequest && ev.Action == "labeled" })
	if len(labeled.PR.Labels) != 1 || labeled.PR.Labels[0] != "preview" {
		t.Fatalf("labeled %+v", labeled.PR)
	}

	g.API(t, dev.Login, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", repo, n), map[string]string{"body": "/spacepods preview"}, nil)
	comment := rec.wait(t, "issue_comment", func(ev forge.Event) bool { return ev.Kind == forge.EventComment })
	if comment.Action != "created" || comment.PR == nil || comment.PR.Number != n || comment.Comment.Body != "/spacepods preview" || comment.Comment.Author != dev.Login {
		t.Fatalf("comment %+v", comment)
	}

	g.API(t, "", "PATCH", fmt.Sprintf("/repos/%s/pulls/%d", repo, n), map[string]string{"state": "closed"}, nil)
	closed := rec.wait(t, "pull_request closed", func(ev forge.Event) bool { return ev.Kind == forge.EventPullRequest && ev.Action == "closed" })
	if closed.PR.State != "closed" || closed.PR.Merged {
		t.Fatalf("closed %+v", closed.PR)
	}

	// A push to a repository no app names is logged as ignored, with why.
	other := g.Clone(t, org+"/unlinked", dev)
	other.Commit("main", "x", map[string]string{"a": "b"})
	var log []spacepods.ForgeDelivery
	deadline := time.Now().Add(time.Minute)
	for {
		log = nil
		f.getJSON(t, "/api/v1/hooks/forge/deliveries?limit=100", &log)
		if ignoredFor(log, org+"/unlinked") != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := ignoredFor(log, org+"/unlinked"); d == nil || d.Result != "ignored: no app's manifest has repo: "+org+"/unlinked" {
		t.Fatalf("unlinked repo's push: %+v", d)
	}
	for _, ev := range rec.all() {
		if ev.Repo != repo {
			t.Fatalf("an event of another repo was dispatched: %+v", ev)
		}
	}
	for _, d := range log {
		if d.Repo == repo && d.State != spacepods.DeliveryDone && !strings.HasPrefix(d.DeliveryID, "late-") {
			t.Errorf("delivery %s (%s %s): %s %s %s", d.DeliveryID, d.Event, d.Action, d.State, d.Result, d.Error)
		}
	}

	// Replaying a stored delivery (same ID, same signed body) is a no-op;
	// a bad signature is refused.
	stored, err := f.srv.Store.Delivery(context.Background(), 0, opened.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	before := len(rec.all())
	post := func(sig string) *http.Response {
		req, _ := http.NewRequest("POST", hookURL, bytes.NewReader(stored.Payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Gitea-Delivery", stored.DeliveryID)
		req.Header.Set("X-Gitea-Event", "pull_request")
		req.Header.Set("X-Hub-Signature-256", "sha256="+sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	if resp := post(forge.Sign([]byte(hookSecret), stored.Payload)); resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: HTTP %d, want 200", resp.StatusCode)
	}
	if resp := post(forge.Sign([]byte("not-the-secret"), stored.Payload)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad signature: HTTP %d, want 401", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong dispatch to show
	if after := len(rec.all()); after != before {
		t.Fatalf("the replay was dispatched: %d events, was %d", after, before)
	}
	var one spacepods.ForgeDelivery
	f.getJSON(t, "/api/v1/hooks/forge/deliveries/"+strconv.FormatInt(stored.ID, 10), &one)
	if one.Attempts != 1 || one.Event != "pull_request" || one.Action != "opened" || one.PR != n {
		t.Fatalf("replayed delivery %+v", one)
	}
}

func ignoredFor(log []spacepods.ForgeDelivery, repo string) *spacepods.ForgeDelivery {
	for i := range log {
		if log[i].Repo == repo && log[i].State == spacepods.DeliveryIgnored {
			return &log[i]
		}
	}
	return nil
}

func TestForgeHook_WithoutAForgeSaysHowToConfigureOne(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Post(f.ts.URL+"/api/v1/hooks/forge", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(e.Error.Message, "--forge") {
		t.Fatalf("HTTP %d %+v", resp.StatusCode, e)
	}
}

// getJSON GETs path as a developer and decodes the 200 answer.
func (f *fixture) getJSON(t *testing.T, path string, out any) {
	t.Helper()
	status, body := f.do(t, "GET", path, f.tokens[spacepods.RoleDeveloper], nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatal(err)
	}
}

func postDelivery(t *testing.T, url, id, event, body, secret string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Delivery", id)
	req.Header.Set("X-Gitea-Event", event)
	req.Header.Set("X-Hub-Signature-256", "sha256="+forge.Sign([]byte(secret), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

// waitState waits until the delivery's state is state and its result
// starts with result.
func waitState(t *testing.T, f *fixture, id, state, result string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := f.srv.Store.Delivery(context.Background(), 0, id)
		if err == nil && d.State == state && strings.HasPrefix(d.Result, result) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s: %+v %v, want %s %q…", id, d, err, state, result)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
