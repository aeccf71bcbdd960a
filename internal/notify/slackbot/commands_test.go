package slackbot_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/notify/slackbot"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// responses records what the app posts to response_url.
type responses struct {
	mu   sync.Mutex
	got  []map[string]any
	srv  *httptest.Server
	wake chan struct{}
}

func newResponses(t *testing.T) *responses {
	r := &responses{wake: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(req.Body).Decode(&m)
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		r.wake <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// next waits for the next response_url post.
func (r *responses) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case <-r.wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no response_url post")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

// approver is a fake pipeline: run 7 waits at production's gate, run 8 at qa's.
type approver struct {
	mu        sync.Mutex
	decisions []string
}

func (a *approver) Approve(ctx context.Context, run int64, actor string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.decisions = append(a.decisions, fmt.Sprintf("approve %d by %s (%s)", run, actor, spacepods.ActorFrom(ctx).Role))
	return nil
}

func (a *approver) Reject(_ context.Context, run int64, actor string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.decisions = append(a.decisions, fmt.Sprintf("reject %d by %s", run, actor))
	return nil
}

func (a *approver) RunEnvironment(_ context.Context, run int64) (string, error) {
	switch run {
	case 7:
		return "production", nil
	case 8:
		return "qa", nil
	}
	return "", spacepods.Errorf(spacepods.ENOTFOUND, "no pipeline run %d", run)
}

func (a *approver) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.decisions...)
}

type fixture struct {
	h    *slackbot.Handler
	srv  *httptest.Server
	resp *responses
	appr *approver
	st   *store.Store
}

func setup(t *testing.T) *fixture {
	st := storetest.MustOpenSQLite(t)
	admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
	for id, u := range map[string][2]string{"UADMIN": {"ann", spacepods.RoleAdmin}, "UDEV": {"dave", spacepods.RoleDeveloper}, "UVIEW": {"vic", spacepods.RoleViewer}} {
		if _, err := st.PutSlackUser(admin, spacepods.SlackUser{SlackUser: id, Username: u[0], Role: u[1]}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []spacepods.Environment{{Name: "production", Protected: true}, {Name: "qa"}} {
		e.Kind, e.Owner, e.Status, e.Apps = spacepods.EnvMaster, "root", spacepods.StatusReady, []string{}
		if _, err := st.CreateEnvironment(admin, e); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{resp: newResponses(t), appr: &approver{}, st: st}
	engine := &deploy.Engine{Store: st, Logger: slog.New(slog.DiscardHandler)}
	f.h = &slackbot.Handler{
		SigningSecret: signingSecret, Users: st, Approver: f.appr,
		Commands: &slackbot.Services{Deploys: engine, Pods: nil, PublicURL: "http://spacepods.test"},
		Protected: func(ctx context.Context, env string) (bool, error) {
			e, err := st.GetEnvironment(ctx, env)
			return e.Protected, err
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	f.h.Start(context.Background())
	t.Cleanup(f.h.Wait)
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

func sign(ts, body string) string {
	m := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// post sends a signed request (sig "" = sign it properly) and returns the
// status and the answer's text.
func (f *fixture) post(t *testing.T, body string, at time.Time, sig string) (int, string) {
	t.Helper()
	ts := strconv.FormatInt(at.Unix(), 10)
	if sig == "" {
		sig = sign(ts, body)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("answered in %s: over Slack's 3 s", d)
	}
	out, _ := io.ReadAll(resp.Body)
	var m struct{ Text string }
	if json.Unmarshal(out, &m) == nil && m.Text != "" {
		return resp.StatusCode, m.Text
	}
	return resp.StatusCode, string(out)
}

func (f *fixture) command(user, text string) string {
	return url.Values{"command": {"/spacepods"}, "text": {text}, "user_id": {user}, "response_url": {f.resp.srv.URL}}.Encode()
}

func (f *fixture) button(user, action, run string) string {
	p, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user}, "response_url": f.resp.srv.URL,
		"actions": []map[string]string{{"action_id": action, "block_id": "actions", "value": run, "type": "button"}},
	})
	return url.Values{"payload": {string(p)}}.Encode()
}

func TestSlashCommand_SignatureReplayAndStaleness(t *testing.T) {
	f := setup(t)
	body := f.command("UVIEW", "status web")
	now := time.Now()

	status, text := f.post(t, body, now, "")
	if status != 200 || !strings.Contains(text, "Working on `/spacepods status web` as vic") {
		t.Fatalf("valid: %d %q", status, text)
	}
	if got := f.resp.next(t); got["text"] != "web has not been deployed yet." {
		t.Errorf("response_url got %v", got)
	}
	if status, text := f.post(t, body, now, ""); status != 401 || !strings.Contains(text, "replayed") {
		t.Errorf("replayed: %d %q", status, text)
	}
	if status, text := f.post(t, body, now, "v0=deadbeef"); status != 401 || !strings.Contains(text, "signature") {
		t.Errorf("bad signature: %d %q", status, text)
	}
	if status, text := f.post(t, f.command("UVIEW", "status web "), now.Add(-6*time.Minute), ""); status != 401 || !strings.Contains(text, "stale") {
		t.Errorf("stale: %d %q", status, text)
	}
	// A body changed after signing.
	ts := strconv.FormatInt(now.Unix(), 10)
	if status, _ := f.post(t, f.command("UADMIN", "status web"), now, sign(ts, body)); status != 401 {
		t.Errorf("tampered body: %d", status)
	}
}

func TestSlashCommand_RefusesUnmappedUsersAndLowRoles(t *testing.T) {
	f := setup(t)
	now := time.Now()
	for _, tc := range []struct{ name, user, text, want string }{
		{"unmapped user", "USTRANGER", "status web", "not linked to a Spacepods user"},
		{"viewer deploying", "UVIEW", "deploy web --env qa --build 3", "`deploy` needs the developer role; you are a viewer"},
		{"bad command", "UDEV", "launch web", "unknown command \"launch\""},
		{"missing flag", "UDEV", "deploy web --env qa", "needs --env ENV and --build N"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, text := f.post(t, f.command(tc.user, tc.text), now, "")
			if status != 200 || !strings.Contains(text, tc.want) {
				t.Errorf("%d %q, want %q", status, text, tc.want)
			}
		})
	}
}

// TestSlashCommand_DeveloperDeployingProductionIsRefusedByTheEngine: the
// command reaches the deploy engine as the developer, whose own rule
// (protected: admins only) refuses it, as the API's deploy is.
func TestSlashCommand_DeveloperDeployingProductionIsRefusedByTheEngine(t *testing.T) {
	f := setup(t)
	if status, text := f.post(t, f.command("UDEV", "deploy web --env production --build 3"), time.Now(), ""); status != 200 || !strings.Contains(text, "Working on") {
		t.Fatalf("%d %q", status, text)
	}
	got := f.resp.next(t)
	if !strings.Contains(fmt.Sprint(got["text"]), "production is protected: only admins may deploy there") || got["response_type"] != "ephemeral" {
		t.Errorf("response_url got %v", got)
	}
}

func TestApprovalButtons_RolesAndProtectedEnvironments(t *testing.T) {
	f := setup(t)
	now := time.Now()
	// A developer approving production: refused (through response_url).
	if status, _ := f.post(t, f.button("UDEV", slackbot.ActionApprove, "7"), now, ""); status != 200 {
		t.Fatalf("status %d", status)
	}
	if got := f.resp.next(t); !strings.Contains(fmt.Sprint(got["text"]), "production is protected: only admins may approve") {
		t.Errorf("developer on production: %v", got)
	}
	// A developer approving qa, and an admin approving production: done.
	f.post(t, f.button("UDEV", slackbot.ActionApprove, "8"), now, "")
	if got := f.resp.next(t); !strings.Contains(fmt.Sprint(got["text"]), "run 8 approved by dave") {
		t.Errorf("developer on qa: %v", got)
	}
	f.post(t, f.button("UADMIN", slackbot.ActionReject, "7"), now, "")
	if got := f.resp.next(t); !strings.Contains(fmt.Sprint(got["text"]), "run 7 rejected by ann") {
		t.Errorf("admin on production: %v", got)
	}
	// A viewer, and an unmapped user.
	f.post(t, f.button("UVIEW", slackbot.ActionApprove, "8"), now, "")
	if got := f.resp.next(t); !strings.Contains(fmt.Sprint(got["text"]), "needs the developer role") {
		t.Errorf("viewer: %v", got)
	}
	f.post(t, f.button("UNOBODY", slackbot.ActionApprove, "8"), now, "")
	if got := f.resp.next(t); !strings.Contains(fmt.Sprint(got["text"]), "not linked") {
		t.Errorf("unmapped: %v", got)
	}
	// A button press with a bad signature does nothing.
	if status, _ := f.post(t, f.button("UADMIN", slackbot.ActionApprove, "7"), now, "v0=00"); status != 401 {
		t.Errorf("bad signature: %d", status)
	}
	f.h.Wait()
	if got := f.appr.got(); fmt.Sprint(got) != "[approve 8 by dave (developer) reject 7 by ann]" {
		t.Errorf("the pipeline got %v", got)
	}

	// Allowed by config: a developer may approve production.
	f.h.DevelopersMayApproveProtected = true
	f.post(t, f.command("UDEV", "approve 7"), now, "")
	if got := f.resp.next(t); !strings.Contains(fmt.Sprint(got["text"]), "run 7 approved by dave") {
		t.Errorf("developer allowed: %v", got)
	}
}
