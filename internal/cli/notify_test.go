package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestNotifier_WiredFromTheConfigFile: --notify-config's webhook gets a
// notice signed with the secret its variable holds; the Slack section
// mounts the slash command handler; a missing secret says which variable.
func TestNotifier_WiredFromTheConfigFile(t *testing.T) {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.VerifyWebhook([]byte("hook-secret"), r.Header, body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get(notify.HeaderEvent))
		mu.Unlock()
	}))
	defer recv.Close()
	file := filepath.Join(t.TempDir(), "notify.yaml")
	cfgBody := "slack: {api_url: 'http://127.0.0.1:9/'}\nwebhooks:\n  ops: {url: '" + recv.URL + "', secret_env: TEST_OPS_SECRET}\nroutes:\n  - kinds: ['deploy.*']\n    to: ['webhook:ops']\n"
	if err := os.WriteFile(file, []byte(cfgBody), 0o600); err != nil {
		t.Fatal(err)
	}
	st := storetest.MustOpenSQLite(t)
	quiet := slog.New(slog.DiscardHandler)

	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test")
	t.Setenv("SLACK_SIGNING_SECRET", "sign")
	if _, err := newNotifier(notifyConfig{file: file}, "http://spacepods.test", st, quiet); err == nil || !strings.Contains(err.Error(), "TEST_OPS_SECRET") {
		t.Fatalf("missing webhook secret: %v", err)
	}
	t.Setenv("TEST_OPS_SECRET", "hook-secret")
	nt, err := newNotifier(notifyConfig{file: file}, "http://spacepods.test", st, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Store: st}
	nt.start(context.Background(), srv, st, quiet)
	defer nt.stop()
	if srv.Slack == nil {
		t.Fatal("Slack configured, but no /api/v1/hooks/slack handler")
	}
	spacepods.Notify(context.Background(), nt.notifier(), spacepods.Notice{Kind: spacepods.NoticeDeployFailed, Key: "k1", Subject: "deploy:1"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook got nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got[0] != spacepods.NoticeDeployFailed {
		t.Errorf("event header %q", got[0])
	}
}

func TestSlackAndNotificationsCommands(t *testing.T) {
	var st *store.Store
	s := startAPIWith(t, func(srv *server.Server) { st = srv.Store })
	if _, _, err := s.run(t, spacepods.RoleDeveloper, "slack", "link", "U1", "alice"); err == nil {
		t.Fatal("a developer linked a Slack user")
	}
	if out := s.must(t, spacepods.RoleAdmin, "slack", "link", "U1", "alice", "--role", "viewer"); !strings.Contains(out, "U1 acts as alice (viewer)") {
		t.Fatalf("link: %s", out)
	}
	if out := s.must(t, spacepods.RoleAdmin, "slack", "users"); !strings.Contains(out, "U1") || !strings.Contains(out, "alice") || !strings.Contains(out, "viewer") {
		t.Fatalf("users: %s", out)
	}
	s.must(t, spacepods.RoleAdmin, "slack", "unlink", "U1")
	if _, _, err := s.run(t, spacepods.RoleAdmin, "slack", "unlink", "U1"); err == nil || !strings.Contains(userMessage(err), "not mapped") {
		t.Fatalf("unlink twice: %v", err)
	}
	svc := &notify.Service{Store: st, Route: func(context.Context, spacepods.Notice) []string { return []string{"webhook:ops"} }}
	svc.Notify(context.Background(), spacepods.Notice{Kind: spacepods.NoticePodReady, Key: "k", Subject: "pod:p"})
	if out := s.must(t, spacepods.RoleDeveloper, "notifications", "--target", "webhook:ops"); !strings.Contains(out, "pod.ready") || !strings.Contains(out, "pending") {
		t.Fatalf("notifications: %s", out)
	}
}
