package cli

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func TestForgeFlags_SecretsComeFromFilesOrTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	tokenFile, secretFile := filepath.Join(dir, "token"), filepath.Join(dir, "secret")
	if err := os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("  shh \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := forgeConfig{kind: "gitea", url: "http://gitea.test", tokenFile: tokenFile, secretFile: secretFile}
	if err := fc.validate(); err != nil {
		t.Fatal(err)
	}
	if err := fc.load(); err != nil || fc.token != "tok-from-file" || fc.secret != "shh" {
		t.Fatalf("from files: %v %q %q", err, fc.token, fc.secret)
	}
	t.Setenv("SPACEPODS_FORGE_TOKEN", "tok-from-env")
	t.Setenv("SPACEPODS_FORGE_WEBHOOK_SECRET", "env-secret")
	fc = forgeConfig{kind: "github"}
	if err := fc.load(); err != nil || fc.token != "tok-from-env" || fc.secret != "env-secret" {
		t.Fatalf("from env: %v %q %q", err, fc.token, fc.secret)
	}
	// No flag takes a secret's value.
	cmd := newServerCmd(&globals{})
	for _, name := range []string{"forge-token", "forge-webhook-secret", "oidc-client-secret", "github-app-key"} {
		if cmd.Flags().Lookup(name) != nil {
			t.Errorf("--%s takes a secret on the command line", name)
		}
	}
}

func TestForgeFlags_MistakesSayWhatToDo(t *testing.T) {
	t.Setenv("SPACEPODS_FORGE_TOKEN", "")
	t.Setenv("SPACEPODS_FORGE_WEBHOOK_SECRET", "")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fc   forgeConfig
		want string
	}{
		{"url without forge", forgeConfig{url: "http://x"}, "without --forge"},
		{"unknown forge", forgeConfig{kind: "gitlab"}, "--forge \"gitlab\""},
		{"gitea without url", forgeConfig{kind: "gitea"}, "needs --forge-url"},
		{"app flags on gitea", forgeConfig{kind: "gitea", url: "http://x", appID: 3}, "--forge github only"},
		{"no secret", forgeConfig{kind: "github"}, "webhook secret"},
		{"empty secret file", forgeConfig{kind: "github", secretFile: empty}, "is empty"},
		{"missing token file", forgeConfig{kind: "github", tokenFile: "/nonexistent/token"}, "cannot read the forge token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fc.validate()
			if err == nil {
				err = tc.fc.load()
			}
			if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want EINVALID with %q", err, tc.want)
			}
		})
	}
	t.Setenv("SPACEPODS_FORGE_WEBHOOK_SECRET", "s")
	if err := (&forgeConfig{kind: "github"}).load(); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "needs a token") {
		t.Fatalf("no token: %v", err)
	}
	if got := forge.Kinds(); strings.Join(got, ",") != "gitea,github" {
		t.Fatalf("registered forges %v", got)
	}
}

// TestStartForge_WiresTheReceiverAndThePushLog: with --forge, the API
// takes signed deliveries and the worker records what a push concerns.
func TestStartForge_WiresTheReceiverAndThePushLog(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	a := &auth.Service{Store: st}
	srv := &server.Server{Catalog: catalog.NewService(st), Auth: a, Store: st, Version: "test"}
	admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	if _, _, err := srv.Catalog.Register(admin, []byte("name: catalog-api\nrepo: acme/catalog-api\nkind: web\nport: 8080\n"), ""); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPACEPODS_FORGE_TOKEN", "tok")
	t.Setenv("SPACEPODS_FORGE_WEBHOOK_SECRET", "shh")
	fc := forgeConfig{kind: "gitea", url: "http://127.0.0.1:1"}
	fg, err := openForge(&fc)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := startForge(context.Background(), fc, fg, srv, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.stop()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	payload := `{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222",
		"commits":[{"id":"2222222222222222222222222222222222222222","message":"m","author":{"name":"a","email":"a@example.com"}}],
		"repository":{"full_name":"acme/catalog-api"},"sender":{"login":"alice"}}`
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/hooks/forge", strings.NewReader(payload))
	req.Header.Set("X-Gitea-Delivery", "wired-1")
	req.Header.Set("X-Gitea-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+forge.Sign([]byte("shh"), []byte(payload)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := st.Delivery(context.Background(), 0, "wired-1")
		if err != nil {
			t.Fatal(err)
		}
		if d.State == spacepods.DeliveryDone {
			if d.Result != "push of 1 commit(s) to main at 222222222222 for catalog-api (no builder acts on pushes: the server has no --registry)" {
				t.Fatalf("result %q", d.Result)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not processed: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
