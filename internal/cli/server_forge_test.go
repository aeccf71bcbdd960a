package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
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
