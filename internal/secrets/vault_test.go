package secrets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/secrets/vaulttest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// These run against vaulttest, a contract server that follows Vault's
// documented KV v2 HTTP API; it is not Vault (see docs/secrets.md).

func newVault(t *testing.T, cfg secrets.VaultConfig) *secrets.Vault {
	t.Helper()
	v, err := secrets.NewVault(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVault_Conformance(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		secretstest.Run(t, func(t *testing.T) secrets.Store {
			srv := vaulttest.New(t)
			return newVault(t, secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken})
		})
	})
	t.Run("approle-namespace-prefix-mount", func(t *testing.T) {
		secretstest.Run(t, func(t *testing.T) secrets.Store {
			srv := vaulttest.New(t)
			srv.AddMount("kv")
			srv.AddAppRole("role-1", "secret-1")
			return newVault(t, secrets.VaultConfig{Address: srv.URL, RoleID: "role-1", SecretID: "secret-1", Mount: "kv", Namespace: "team-a", PathPrefix: "spacepods/prod"})
		})
	})
}

func TestVault_BadTokenIsForbidden(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	// The client library reads these; the config must win.
	t.Setenv("VAULT_TOKEN", srv.RootToken)
	t.Setenv("VAULT_NAMESPACE", "elsewhere")
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: "not-a-valid-token"})
	check := func(op string, err error, capability string) {
		t.Helper()
		msg := spacepods.ErrorMessage(err)
		if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(msg, "Vault refused the token") || !strings.Contains(msg, capability) {
			t.Fatalf("%s with a bad token: %v (message %q), want EFORBIDDEN naming %s", op, err, msg, capability)
		}
		if strings.Contains(msg, "not-a-valid-token") {
			t.Fatalf("%s: the message leaks the token", op)
		}
	}
	check("put", v.Put(ctx, "apps/a/qa/X", []byte("v")), `"create" and "update" on secret/data/apps/a/qa/X`)
	_, err := v.Get(ctx, "apps/a/qa/X")
	check("get", err, `"read" on secret/data/apps/a/qa/X`)
	check("delete", v.Delete(ctx, "apps/a/qa/X"), `"delete" on secret/metadata/apps/a/qa/X`)
	_, err = v.List(ctx, "apps/")
	check("list", err, `"list" on secret/metadata/apps/`)
}

func TestVault_UnreachableIsUnavailable(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	v := newVault(t, secrets.VaultConfig{Address: addr, Token: "t", MaxRetries: -1, Timeout: 5 * time.Second})
	start := time.Now()
	_, err = v.Get(ctx, "apps/a/qa/X")
	msg := spacepods.ErrorMessage(err)
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(msg, "cannot reach Vault at "+addr) || !strings.Contains(msg, "--vault-addr") {
		t.Fatalf("get from an unreachable Vault: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("MaxRetries -1 still took %v", d)
	}
	if err := v.Put(ctx, "apps/a/qa/X", []byte("v")); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("put: %v", err)
	}
	if _, err := v.List(ctx, ""); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("list: %v", err)
	}
	_, err = secrets.NewVault(ctx, secrets.VaultConfig{Address: addr, RoleID: "r", SecretID: "s", MaxRetries: -1})
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("AppRole login against an unreachable Vault: %v", err)
	}
}

func TestVault_AppRoleLogin(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	srv.AddAppRole("role-1", "secret-1")
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, RoleID: "role-1", SecretID: "secret-1"})
	if err := v.Put(ctx, "apps/a/qa/X", []byte("v")); err != nil {
		t.Fatal(err)
	}
	mustGet(t, v, "apps/a/qa/X", "v")

	reqs := srv.Requests()
	if len(reqs) < 3 || reqs[0].Path != "auth/approle/login" || reqs[0].Method != http.MethodPut || reqs[0].Token != "" {
		t.Fatalf("first request must be an unauthenticated login, got %+v", reqs)
	}
	for _, r := range reqs[1:] {
		if !strings.HasPrefix(r.Token, "hvs.") {
			t.Fatalf("request %+v does not carry the token from the login", r)
		}
	}

	_, err := secrets.NewVault(ctx, secrets.VaultConfig{Address: srv.URL, RoleID: "role-1", SecretID: "wrong"})
	if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(spacepods.ErrorMessage(err), "invalid role or secret ID") {
		t.Fatalf("login with a wrong secret_id: %v", err)
	}
}

func TestVault_AppRoleLogsInAgainWhenTokenIsRevoked(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	srv.AddAppRole("role-1", "secret-1")
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, RoleID: "role-1", SecretID: "secret-1"})
	mustPut(t, v, "apps/a/qa/X", "v")
	for _, r := range srv.Requests() {
		srv.RevokeToken(r.Token) // as if the token's TTL ran out
	}
	mustGet(t, v, "apps/a/qa/X", "v")
	logins := 0
	for _, r := range srv.Requests() {
		if r.Path == "auth/approle/login" {
			logins++
		}
	}
	if logins != 2 {
		t.Fatalf("%d logins, want 2 (the first and one after the revocation)", logins)
	}
	// A plain token is not retried: 403 is final.
	tv := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: "revoked"})
	if _, err := tv.Get(ctx, "apps/a/qa/X"); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
		t.Fatalf("get with a revoked token: %v", err)
	}
}

func TestVault_SendsNamespaceHeader(t *testing.T) {
	srv := vaulttest.New(t)
	srv.AddAppRole("role-1", "secret-1")
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, RoleID: "role-1", SecretID: "secret-1", Namespace: "/team-a/"})
	mustPut(t, v, "apps/a/qa/X", "in team-a")
	if _, _, ok := srv.Latest("team-a", "secret", "apps/a/qa/X"); !ok {
		t.Fatal("the secret is not in namespace team-a")
	}
	if _, _, ok := srv.Latest("", "secret", "apps/a/qa/X"); ok {
		t.Fatal("the secret leaked into the root namespace")
	}
	for _, r := range srv.Requests() {
		if r.Namespace != "team-a" {
			t.Fatalf("request %s %s sent namespace %q, want team-a", r.Method, r.Path, r.Namespace)
		}
	}
	root := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken})
	if _, err := root.Get(context.Background(), "apps/a/qa/X"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("the root namespace sees team-a's secret: %v", err)
	}
}

func TestVault_WireFormatAndVersions(t *testing.T) {
	srv := vaulttest.New(t)
	srv.AddMount("kv")
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken, Mount: "/kv/", PathPrefix: "spacepods"})
	value := []byte{0, 1, 2, 'h', 'i', 0xff}
	if err := v.Put(context.Background(), "apps/a/qa/X", value); err != nil {
		t.Fatal(err)
	}
	mustPut(t, v, "apps/a/qa/X", "second")
	data, version, ok := srv.Latest("", "kv", "spacepods/apps/a/qa/X")
	if !ok || version != 2 || data["value"] != base64.StdEncoding.EncodeToString([]byte("second")) || len(data) != 1 {
		t.Fatalf("stored %v version %d ok=%v; want {value: base64} at version 2", data, version, ok)
	}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "kv/data/spacepods/apps/") && !strings.HasPrefix(r.Path, "kv/metadata/spacepods/") {
			t.Fatalf("request outside the prefix: %+v", r)
		}
	}
}

func TestVault_SoftDeletedLatestVersionIsNotFound(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken})
	mustPut(t, v, "apps/a/qa/X", "v1")
	// Someone runs `vault kv delete secret/apps/a/qa/X`: a soft delete.
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/secret/data/apps/a/qa/X", nil)
	req.Header.Set("X-Vault-Token", srv.RootToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("soft delete: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := v.Get(ctx, "apps/a/qa/X"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("get of a soft-deleted secret: %v", err)
	}
	mustPut(t, v, "apps/a/qa/X", "v2")
	mustGet(t, v, "apps/a/qa/X", "v2")
}

func TestVault_ForeignSecretShapeIsInvalid(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken})
	for path, body := range map[string]string{
		"apps/a/qa/NO_VALUE":   `{"data":{"password":"x"}}`,
		"apps/a/qa/NOT_BASE64": `{"data":{"value":"%%%"}}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/secret/data/"+path, strings.NewReader(body))
		req.Header.Set("X-Vault-Token", srv.RootToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("write %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
		if _, err := v.Get(ctx, path); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Fatalf("get %s: %v, want EINVALID", path, err)
		}
	}
}

func TestVault_MissingMountIsInvalid(t *testing.T) {
	srv := vaulttest.New(t)
	v := newVault(t, secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken, Mount: "nope"})
	err := v.Put(context.Background(), "apps/a/qa/X", []byte("v"))
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), "kv-v2") {
		t.Fatalf("put into a missing mount: %v", err)
	}
	if !bytes.Contains([]byte(spacepods.ErrorMessage(err)), []byte(`"nope"`)) {
		t.Fatalf("message does not name the mount: %v", err)
	}
}
