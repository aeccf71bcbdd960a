package vaulttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/spacepods/spacepods/internal/secrets/vaulttest"
)

// Contract tests: the server answers as Vault's KV v2 and AppRole HTTP API
// documentation says. They check the contract server, not Vault.

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func do(t *testing.T, srv *vaulttest.Server, method, path, token, namespace, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if namespace != "" {
		req.Header.Set("X-Vault-Namespace", namespace)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return a
}

// dig walks nested maps: dig(body, "data", "metadata", "version").
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestServer_RefusesMissingOrBadToken(t *testing.T) {
	srv := vaulttest.New(t)
	for _, token := range []string{"", "bogus"} {
		a := do(t, srv, http.MethodGet, "secret/data/x", token, "", "")
		if a.status != http.StatusForbidden || a.raw != `{"errors":["permission denied"]}`+"\n" {
			t.Fatalf("token %q: %d %s", token, a.status, a.raw)
		}
	}
	srv.AddToken("t1")
	if a := do(t, srv, http.MethodGet, "secret/data/x", "t1", "", ""); a.status != http.StatusNotFound {
		t.Fatalf("added token: %d", a.status)
	}
	srv.RevokeToken("t1")
	if a := do(t, srv, http.MethodGet, "secret/data/x", "t1", "", ""); a.status != http.StatusForbidden {
		t.Fatalf("revoked token: %d", a.status)
	}
}

func TestServer_WritesNumberedVersionsAndReadsLatestOrAsked(t *testing.T) {
	srv := vaulttest.New(t)
	tok := srv.RootToken
	a := do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"data":{"password":"one"}}`)
	if a.status != 200 || dig(a.body, "data", "version") != 1.0 || dig(a.body, "data", "deletion_time") != "" || dig(a.body, "data", "destroyed") != false {
		t.Fatalf("first write: %d %s", a.status, a.raw)
	}
	a = do(t, srv, http.MethodPut, "secret/data/app/db", tok, "", `{"options":{},"data":{"password":"two"}}`)
	if dig(a.body, "data", "version") != 2.0 {
		t.Fatalf("second write: %s", a.raw)
	}
	a = do(t, srv, http.MethodGet, "secret/data/app/db", tok, "", "")
	if a.status != 200 || dig(a.body, "data", "data", "password") != "two" || dig(a.body, "data", "metadata", "version") != 2.0 {
		t.Fatalf("read latest: %d %s", a.status, a.raw)
	}
	for _, k := range []string{"request_id", "lease_id", "renewable", "lease_duration", "wrap_info", "warnings", "auth"} {
		if _, ok := a.body[k]; !ok {
			t.Errorf("response lacks %q", k)
		}
	}
	a = do(t, srv, http.MethodGet, "secret/data/app/db?version=1", tok, "", "")
	if dig(a.body, "data", "data", "password") != "one" {
		t.Fatalf("read version 1: %s", a.raw)
	}
	if a := do(t, srv, http.MethodGet, "secret/data/app/db?version=9", tok, "", ""); a.status != 404 {
		t.Fatalf("read version 9: %d", a.status)
	}
	if a := do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"password":"no data wrapper"}`); a.status != 400 {
		t.Fatalf("write without data: %d %s", a.status, a.raw)
	}
	if a := do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"options":{"cas":1},"data":{"a":"b"}}`); a.status != 400 {
		t.Fatalf("write with a stale cas: %d %s", a.status, a.raw)
	}
	if a := do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"options":{"cas":2},"data":{"a":"b"}}`); a.status != 200 || dig(a.body, "data", "version") != 3.0 {
		t.Fatalf("write with the right cas: %d %s", a.status, a.raw)
	}
}

func TestServer_MissingIs404WithEmptyErrors(t *testing.T) {
	srv := vaulttest.New(t)
	a := do(t, srv, http.MethodGet, "secret/data/nope", srv.RootToken, "", "")
	if a.status != 404 || a.raw != `{"errors":[]}`+"\n" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a = do(t, srv, http.MethodGet, "nomount/data/x", srv.RootToken, "", "")
	if a.status != 404 || !strings.Contains(a.raw, "no handler for route") {
		t.Fatalf("unknown mount: %d %s", a.status, a.raw)
	}
}

func TestServer_SoftDeletedLatestIs404WithMetadata(t *testing.T) {
	srv := vaulttest.New(t)
	tok := srv.RootToken
	do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"data":{"v":"1"}}`)
	do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"data":{"v":"2"}}`)
	if a := do(t, srv, http.MethodDelete, "secret/data/app/db", tok, "", ""); a.status != 204 || a.raw != "" {
		t.Fatalf("soft delete: %d %q", a.status, a.raw)
	}
	a := do(t, srv, http.MethodGet, "secret/data/app/db", tok, "", "")
	if a.status != 404 || dig(a.body, "data", "data") != nil || dig(a.body, "data", "metadata", "version") != 2.0 {
		t.Fatalf("read after soft delete: %d %s", a.status, a.raw)
	}
	if dt, _ := dig(a.body, "data", "metadata", "deletion_time").(string); dt == "" {
		t.Fatalf("deletion_time not set: %s", a.raw)
	}
	if a := do(t, srv, http.MethodGet, "secret/data/app/db?version=1", tok, "", ""); a.status != 200 {
		t.Fatalf("older version after soft delete of the latest: %d", a.status)
	}
	// The key is still listed: its metadata remains.
	if a := do(t, srv, "LIST", "secret/metadata/app", tok, "", ""); a.status != 200 {
		t.Fatalf("list after soft delete: %d", a.status)
	}
	if a := do(t, srv, http.MethodDelete, "secret/data/never", tok, "", ""); a.status != 204 {
		t.Fatalf("soft delete of a missing key: %d", a.status)
	}
}

func TestServer_ListsFoldersWithTrailingSlash(t *testing.T) {
	srv := vaulttest.New(t)
	tok := srv.RootToken
	for _, p := range []string{"apps/a/qa/X", "apps/a/qa/Y", "apps/b/prod/Z", "apps/top", "other"} {
		do(t, srv, http.MethodPost, "secret/data/"+p, tok, "", `{"data":{"v":"x"}}`)
	}
	for _, tc := range []struct{ method, path, want string }{
		{"LIST", "secret/metadata/apps", `["a/","b/","top"]`},
		{"LIST", "secret/metadata/apps/", `["a/","b/","top"]`},
		{http.MethodGet, "secret/metadata/apps?list=true", `["a/","b/","top"]`},
		{"LIST", "secret/metadata/", `["apps/","other"]`},
		{"LIST", "secret/metadata/apps/a/qa", `["X","Y"]`},
	} {
		a := do(t, srv, tc.method, tc.path, tok, "", "")
		got, _ := json.Marshal(dig(a.body, "data", "keys"))
		if a.status != 200 || string(got) != tc.want {
			t.Errorf("%s %s = %d %s, want keys %s", tc.method, tc.path, a.status, a.raw, tc.want)
		}
	}
	for _, p := range []string{"secret/metadata/nothing", "secret/metadata/apps/top"} {
		if a := do(t, srv, "LIST", p, tok, "", ""); a.status != 404 || a.raw != `{"errors":[]}`+"\n" {
			t.Errorf("LIST %s = %d %s, want 404", p, a.status, a.raw)
		}
	}
}

func TestServer_MetadataReadAndDeleteAllVersions(t *testing.T) {
	srv := vaulttest.New(t)
	tok := srv.RootToken
	for i := 0; i < vaulttest.MaxVersions+2; i++ {
		do(t, srv, http.MethodPost, "secret/data/app/db", tok, "", `{"data":{"v":"x"}}`)
	}
	a := do(t, srv, http.MethodGet, "secret/metadata/app/db", tok, "", "")
	versions, _ := dig(a.body, "data", "versions").(map[string]any)
	if a.status != 200 || dig(a.body, "data", "current_version") != 12.0 || dig(a.body, "data", "oldest_version") != 3.0 || len(versions) != vaulttest.MaxVersions {
		t.Fatalf("metadata: %d %s", a.status, a.raw)
	}
	if a := do(t, srv, http.MethodDelete, "secret/metadata/app/db", tok, "", ""); a.status != 204 {
		t.Fatalf("metadata delete: %d", a.status)
	}
	for _, p := range []string{"secret/data/app/db", "secret/data/app/db?version=5", "secret/metadata/app/db"} {
		if a := do(t, srv, http.MethodGet, p, tok, "", ""); a.status != 404 || a.raw != `{"errors":[]}`+"\n" {
			t.Fatalf("GET %s after metadata delete: %d %s", p, a.status, a.raw)
		}
	}
	if a := do(t, srv, http.MethodDelete, "secret/metadata/app/db", tok, "", ""); a.status != 204 {
		t.Fatalf("second metadata delete: %d", a.status)
	}
}

func TestServer_AppRoleLoginIssuesWorkingToken(t *testing.T) {
	srv := vaulttest.New(t)
	srv.AddAppRole("role-1", "secret-1")
	a := do(t, srv, http.MethodPost, "auth/approle/login", "", "", `{"role_id":"role-1","secret_id":"secret-1"}`)
	token, _ := dig(a.body, "auth", "client_token").(string)
	if a.status != 200 || token == "" || dig(a.body, "auth", "renewable") != true || dig(a.body, "auth", "lease_duration") == nil {
		t.Fatalf("login: %d %s", a.status, a.raw)
	}
	if a := do(t, srv, http.MethodPost, "secret/data/x", token, "", `{"data":{"a":"b"}}`); a.status != 200 {
		t.Fatalf("write with the issued token: %d", a.status)
	}
	for _, body := range []string{`{"role_id":"role-1","secret_id":"wrong"}`, `{"role_id":"nope","secret_id":"secret-1"}`, `{}`} {
		if a := do(t, srv, http.MethodPost, "auth/approle/login", "", "", body); a.status != 400 || len(a.body["errors"].([]any)) != 1 {
			t.Errorf("login %s: %d %s, want 400 with one error", body, a.status, a.raw)
		}
	}
}

func TestServer_NamespacesKeepSeparateData(t *testing.T) {
	srv := vaulttest.New(t)
	tok := srv.RootToken
	do(t, srv, http.MethodPost, "secret/data/x", tok, "team-a", `{"data":{"who":"a"}}`)
	do(t, srv, http.MethodPost, "secret/data/x", tok, "team-b/", `{"data":{"who":"b"}}`)
	if a := do(t, srv, http.MethodGet, "secret/data/x", tok, "team-a", ""); dig(a.body, "data", "data", "who") != "a" {
		t.Fatalf("team-a: %s", a.raw)
	}
	if a := do(t, srv, http.MethodGet, "secret/data/x", tok, "team-b", ""); dig(a.body, "data", "data", "who") != "b" {
		t.Fatalf("team-b: %s", a.raw)
	}
	if a := do(t, srv, http.MethodGet, "secret/data/x", tok, "", ""); a.status != 404 {
		t.Fatalf("root namespace: %d", a.status)
	}
}

// The official client reads the server's answers as it reads Vault's.
func TestServer_AgreesWithOfficialClient(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	conf := vaultapi.DefaultConfig()
	conf.Address = srv.URL
	client, err := vaultapi.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(srv.RootToken)
	kv := client.KVv2("secret")

	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "one"}); err != nil {
		t.Fatal(err)
	}
	s, err := kv.Put(ctx, "app/db", map[string]any{"password": "two"})
	if err != nil || s.VersionMetadata == nil || s.VersionMetadata.Version != 2 {
		t.Fatalf("put: %+v %v", s, err)
	}
	s, err = kv.Get(ctx, "app/db")
	if err != nil || s.Data["password"] != "two" || s.VersionMetadata.Version != 2 || s.VersionMetadata.CreatedTime.IsZero() {
		t.Fatalf("get: %+v %v", s, err)
	}
	s, err = kv.GetVersion(ctx, "app/db", 1)
	if err != nil || s.Data["password"] != "one" {
		t.Fatalf("get version 1: %+v %v", s, err)
	}
	m, err := kv.GetMetadata(ctx, "app/db")
	if err != nil || m.CurrentVersion != 2 || len(m.Versions) != 2 {
		t.Fatalf("metadata: %+v %v", m, err)
	}
	if err := kv.Delete(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	s, err = kv.Get(ctx, "app/db")
	if err != nil || s.Data != nil || s.VersionMetadata == nil || s.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("get after soft delete: %+v %v (the client shows a deleted version with its deletion time)", s, err)
	}
	list, err := client.Logical().ListWithContext(ctx, "secret/metadata/app")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := kv.DeleteMetadata(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "app/db"); !errors.Is(err, vaultapi.ErrSecretNotFound) {
		t.Fatalf("get after metadata delete: %v", err)
	}
	if list, err := client.Logical().ListWithContext(ctx, "secret/metadata/app"); err != nil || list != nil {
		t.Fatalf("list of an empty folder: %+v %v", list, err)
	}

	client.SetToken("bogus")
	_, err = kv.Get(ctx, "app/db")
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 403 || len(re.Errors) != 1 || re.Errors[0] != "permission denied" {
		t.Fatalf("bad token through the client: %v", err)
	}

	login, err := client.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": "x", "secret_id": "y"})
	if !errors.As(err, &re) || re.StatusCode != 400 || login != nil {
		t.Fatalf("bad AppRole login through the client: %v", err)
	}
	srv.AddAppRole("x", "y")
	client.ClearToken()
	login, err = client.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{"role_id": "x", "secret_id": "y"})
	if err != nil || login.Auth == nil || login.Auth.ClientToken == "" || login.Auth.LeaseDuration == 0 {
		t.Fatalf("AppRole login through the client: %+v %v", login, err)
	}
}
