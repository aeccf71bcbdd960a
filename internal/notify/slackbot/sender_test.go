package slackbot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/notify/slackbot"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// call is one Web API call the app made.
type call struct {
	Method string
	Form   url.Values
}

// blocks decodes the call's Block Kit blocks.
func (c call) blocks(t *testing.T) slack.Blocks {
	t.Helper()
	var b slack.Blocks
	if err := json.Unmarshal([]byte(c.Form.Get("blocks")), &b); err != nil {
		t.Fatalf("%s blocks: %v\n%s", c.Method, err, c.Form.Get("blocks"))
	}
	return b
}

// fakeSlack is slack-go's slacktest server (chat.postMessage and the rest
// as the library ships them), plus chat.update and conversations.open,
// which slacktest does not have, behind a recorder of every call.
type fakeSlack struct {
	mu    sync.Mutex
	calls []call
	url   string
}

func startSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	sts := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q,"text":%q}`, r.Form.Get("channel"), r.Form.Get("ts"), r.Form.Get("text"))
		})
		c.Handle("/conversations.open", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			fmt.Fprintf(w, `{"ok":true,"channel":{"id":"D%s"}}`, r.Form.Get("users"))
		})
	})
	sts.Start()
	t.Cleanup(sts.Stop)
	target, _ := url.Parse(sts.GetAPIURL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.calls = append(f.calls, call{Method: strings.TrimPrefix(r.URL.Path, "/"), Form: form})
		f.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.Close)
	f.url = rec.URL + "/"
	return f
}

func (f *fakeSlack) Calls(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

const config = `
slack: {}
routes:
  - kinds: ["deploy.*"]
    envs: [production]
    to: ["slack:#prod-deploys"]
  - kinds: ["pipeline.*"]
    to: ["slack:#releases"]
`

// newNotifier wires the notifier to Slack as the server does.
func newNotifier(t *testing.T, st *store.Store, apiURL string) *notify.Service {
	c, err := notify.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	client := slack.New("xoxb-test", slack.OptionAPIURL(apiURL))
	userOf := func(ctx context.Context, user string) (string, error) {
		u, err := st.SlackUserOf(ctx, user)
		return u.SlackUser, err
	}
	linked := func(ctx context.Context, user string) bool { _, err := userOf(ctx, user); return err == nil }
	return &notify.Service{
		Store: st, Route: c.Router(linked),
		Senders: map[string]notify.Sender{
			"slack":    &slackbot.Sender{Client: client, Threads: st, PublicURL: "http://spacepods.test"},
			"slack-dm": &slackbot.Sender{Client: client, Threads: st, PublicURL: "http://spacepods.test", DM: true, SlackUserOf: userOf},
		},
	}
}

func deliverAll(t *testing.T, svc *notify.Service) {
	t.Helper()
	for {
		ok, err := svc.DeliverNext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
	}
}

func texts(b slack.Blocks) string {
	var out []string
	for _, bl := range b.BlockSet {
		switch x := bl.(type) {
		case *slack.SectionBlock:
			out = append(out, x.Text.Text)
		case *slack.ContextBlock:
			for _, e := range x.ContextElements.Elements {
				if tx, ok := e.(*slack.TextBlockObject); ok {
					out = append(out, tx.Text)
				}
			}
		case *slack.ActionBlock:
			for _, e := range x.Elements.ElementSet {
				if b, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, fmt.Sprintf("[%s %s %s %s]", b.ActionID, b.Text.Text, b.Value, b.URL))
				}
			}
		}
	}
	return strings.Join(out, " | ")
}

func TestSender_DeployIsOneThreadUpdatedInPlace(t *testing.T) {
	f := startSlack(t)
	st := storetest.MustOpenSQLite(t)
	svc := newNotifier(t, st, f.url)
	ctx := context.Background()
	started := spacepods.Notice{Kind: spacepods.NoticeDeployStarted, Key: "deploy:42:running", Subject: "deploy:42", App: "storefront", Env: "production",
		Text: "Deploying storefront build 7 to production", URL: "/deploys/42", Fields: map[string]string{"build": "7"}}
	svc.Notify(ctx, started)
	svc.Notify(ctx, spacepods.Notice{Kind: spacepods.NoticeDeployStarted, Key: "deploy:43:running", Subject: "deploy:43", App: "web", Env: "staging", Text: "staging: routed nowhere"})
	deliverAll(t, svc)
	posts := f.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != "#prod-deploys" || posts[0].Form.Get("thread_ts") != "" {
		t.Fatalf("posts after deploy.started: %+v", posts)
	}
	got := texts(posts[0].blocks(t))
	for _, want := range []string{":rocket: Deploying storefront build 7 to production", "`deploy.started`", "app *storefront*", "env *production*", "build 7", "[spacepods_open Deploy output  http://spacepods.test/deploys/42]"} {
		if !strings.Contains(got, want) {
			t.Errorf("blocks %q lack %q", got, want)
		}
	}
	_, parentTS, ok, err := st.NoticeThread(ctx, "deploy:42", "slack:#prod-deploys")
	if err != nil || !ok {
		t.Fatalf("thread not recorded: %v %v", ok, err)
	}

	// It rolls back: the first message now says so, and the thread gets the reason.
	started.Kind, started.Key, started.Text = spacepods.NoticeDeployRolledBack, "deploy:42:rolled_back", "Deploy 42 of storefront build 7 to production rolled back"
	started.Fields = map[string]string{"build": "7", "reason": "rollout: 0 of 2 replicas healthy after 30s"}
	svc.Notify(ctx, started)
	deliverAll(t, svc)
	updates := f.Calls("chat.update")
	if len(updates) != 1 || updates[0].Form.Get("ts") != parentTS || updates[0].Form.Get("channel") != "#prod-deploys" {
		t.Fatalf("updates: %+v (parent %s)", updates, parentTS)
	}
	if got := texts(updates[0].blocks(t)); !strings.Contains(got, ":leftwards_arrow_with_hook: Deploy 42") || !strings.Contains(got, "*Reason:* rollout: 0 of 2") {
		t.Errorf("updated blocks: %s", got)
	}
	posts = f.Calls("chat.postMessage")
	if len(posts) != 2 || posts[1].Form.Get("thread_ts") != parentTS || posts[1].Form.Get("channel") != "#prod-deploys" {
		t.Fatalf("thread reply: %+v", posts)
	}

	// A completed deploy only updates its first message: no new message.
	svc.Notify(ctx, spacepods.Notice{Kind: spacepods.NoticeDeployStarted, Key: "deploy:44:running", Subject: "deploy:44", App: "storefront", Env: "production", Text: "Deploying storefront build 8"})
	svc.Notify(ctx, spacepods.Notice{Kind: spacepods.NoticeDeployCompleted, Key: "deploy:44:completed", Subject: "deploy:44", App: "storefront", Env: "production", Text: "Deployed storefront build 8"})
	deliverAll(t, svc)
	if posts := f.Calls("chat.postMessage"); len(posts) != 3 {
		t.Errorf("%d posts, want 3 (a completed deploy updates in place)", len(posts))
	}
	if updates := f.Calls("chat.update"); len(updates) != 2 || !strings.Contains(updates[1].Form.Get("text"), "Deployed storefront build 8") {
		t.Errorf("updates: %+v", updates)
	}
}

func TestSender_OwnersPodGoesToTheirDM(t *testing.T) {
	f := startSlack(t)
	st := storetest.MustOpenSQLite(t)
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
	if _, err := st.PutSlackUser(ctx, spacepods.SlackUser{SlackUser: "UALICE", Username: "alice", Role: spacepods.RoleDeveloper}); err != nil {
		t.Fatal(err)
	}
	svc := newNotifier(t, st, f.url)
	svc.Notify(ctx, spacepods.Notice{Kind: spacepods.NoticePodReady, Key: "pod:alice-1:ready", Subject: "pod:alice-1", Env: "alice-1", Owner: "alice",
		Text: "Pod alice-1 is ready: web http://web.alice-1.localhost:8080", URL: "http://web.alice-1.localhost:8080"})
	svc.Notify(ctx, spacepods.Notice{Kind: spacepods.NoticePodReady, Key: "pod:bob-1:ready", Subject: "pod:bob-1", Env: "bob-1", Owner: "bob", Text: "Pod bob-1 is ready"})
	deliverAll(t, svc)
	opens := f.Calls("conversations.open")
	if len(opens) != 1 || opens[0].Form.Get("users") != "UALICE" {
		t.Fatalf("conversations.open: %+v", opens)
	}
	posts := f.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != "DUALICE" || !strings.Contains(texts(posts[0].blocks(t)), "[spacepods_open Open  http://web.alice-1.localhost:8080]") {
		t.Fatalf("posts: %+v", posts)
	}
}

func TestSender_PipelineWaitingHasApproveAndRejectButtons(t *testing.T) {
	f := startSlack(t)
	st := storetest.MustOpenSQLite(t)
	svc := newNotifier(t, st, f.url)
	ev := notify.PipelineEvent{Run: 7, App: "storefront", Env: "production", Build: 12, Stage: "production", URL: "/pipelines/7"}
	svc.Notify(context.Background(), notify.PipelineNotice(spacepods.NoticePipelineWaiting, ev))
	deliverAll(t, svc)
	posts := f.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0].Form.Get("channel") != "#releases" {
		t.Fatalf("posts: %+v", posts)
	}
	got := texts(posts[0].blocks(t))
	for _, want := range []string{"[spacepods_approve Approve 7 ]", "[spacepods_reject Reject 7 ]", "waits for approval to go to production"} {
		if !strings.Contains(got, want) {
			t.Errorf("blocks %q lack %q", got, want)
		}
	}
	ev.Actor = "carol"
	svc.Notify(context.Background(), notify.PipelineNotice(spacepods.NoticePipelineApproved, ev))
	deliverAll(t, svc)
	updates := f.Calls("chat.update")
	if len(updates) != 1 || strings.Contains(texts(updates[0].blocks(t)), "spacepods_approve") || !strings.Contains(updates[0].Form.Get("text"), "approved for production by carol") {
		t.Fatalf("the waiting message should lose its buttons and say who approved: %+v", updates)
	}
	if n := len(f.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d posts: an approval updates in place", n)
	}
}

func TestSender_ChannelNotFoundIsPermanentAndSaysWhatToDo(t *testing.T) {
	sts := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"ok":false,"error":"not_in_channel"}`)
		})
	})
	sts.Start()
	t.Cleanup(sts.Stop)
	st := storetest.MustOpenSQLite(t)
	s := &slackbot.Sender{Client: slack.New("xoxb-test", slack.OptionAPIURL(sts.GetAPIURL())), Threads: st}
	_, err := s.Send(context.Background(), "#x", spacepods.Notice{Kind: spacepods.NoticePodReady, Subject: "pod:p"}, spacepods.NoticeDelivery{})
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "/invite") {
		t.Errorf("err = %v, want a permanent error saying to invite the app", err)
	}
}
