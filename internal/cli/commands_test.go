package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// apiServer is the control plane's API in-process (runtime none: the
// catalog, config and token commands need no containers) on a SQLite store
// in a temp dir, with a token per role.
type apiServer struct {
	store  *store.Store
	url    string
	tokens map[string]string // role → secret
	dir    string            // for manifests
}

func startAPI(t *testing.T) *apiServer {
	t.Helper()
	return startAPIWith(t, nil)
}

// startAPIWith is startAPI with a last say on the server (e.g. a built-in
// builder over its store) before it serves.
func startAPIWith(t *testing.T, configure func(*server.Server)) *apiServer {
	t.Helper()
	st := storetest.MustOpenSQLite(t)
	key := make([]byte, 32)
	rand.Read(key)
	local, err := secrets.NewLocal(st, key)
	if err != nil {
		t.Fatal(err)
	}
	a := &auth.Service{Store: st}
	srv := &server.Server{Catalog: catalog.NewService(st), Auth: a, Store: st, Config: &config.Service{Store: st, Secrets: local}, Version: "test", Runtime: "none"}
	if configure != nil {
		configure(srv)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	s := &apiServer{url: ts.URL, tokens: map[string]string{}, dir: t.TempDir(), store: st}
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	for _, role := range []string{spacepods.RoleAdmin, spacepods.RoleDeveloper, spacepods.RoleViewer} {
		secret, _, err := a.Create(ctx, "t-"+role, role)
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[role] = secret
	}
	return s
}

// run runs one spacepods command against s with role's token; it returns
// what the command printed and the error Execute would report.
func (s *apiServer) run(t *testing.T, role string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCLI(t, append([]string{"--server", s.url, "--token", s.tokens[role]}, args...)...)
}

// must runs a command that must succeed and returns its stdout.
func (s *apiServer) must(t *testing.T, role string, args ...string) string {
	t.Helper()
	out, errOut, err := s.run(t, role, args...)
	if err != nil {
		t.Fatalf("spacepods %s: %v (%s)\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, userMessage(err), out, errOut)
	}
	return out
}

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// manifest writes a spacepods.yaml and returns its path.
func (s *apiServer) manifest(t *testing.T, name, body string) string {
	t.Helper()
	dir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "spacepods.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("-o json printed no JSON of %T: %v\n%s", v, err, out)
	}
	return v
}

// rowOf returns the fields of the table row that starts with first.
func rowOf(table, first string) []string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}

const (
	pricingManifest = "name: pricing-api\nrepo: acme/pricing-api\nkind: web\nport: 8080\n"
	catalogManifest = "name: catalog-api\nrepo: acme/catalog-api\nkind: web\nport: 8080\nhealth: /healthz\ndependencies: [pricing-api]\ndatabase:\n  engine: postgres\n"
	storeManifest   = "name: storefront\nrepo: acme/storefront\nkind: web\nport: 3000\ndependencies: [catalog-api, pricing-api]\n"
)

func TestCLI_AppRegisterListShow(t *testing.T) {
	s := startAPI(t)
	pricing := s.manifest(t, "pricing-api", pricingManifest)
	if out := s.must(t, "developer", "app", "register", "-f", pricing); out != "registered app pricing-api (version 1)\n" {
		t.Fatalf("register printed %q", out)
	}
	if out := s.must(t, "developer", "app", "register", "-f", pricing); out != "updated app pricing-api (version 2)\n" {
		t.Fatalf("re-register printed %q", out)
	}
	s.must(t, "developer", "app", "register", "-f", s.manifest(t, "catalog-api", catalogManifest))

	table := s.must(t, "viewer", "app", "list")
	if !strings.HasPrefix(table, "NAME") || !strings.Contains(strings.SplitN(table, "\n", 2)[0], "DEPENDENCIES") {
		t.Fatalf("app list has no header:\n%s", table)
	}
	if row := rowOf(table, "catalog-api"); len(row) < 6 || row[1] != "web" || row[2] != "acme/catalog-api" || row[3] != "pricing-api" || row[4] != "postgres" || row[5] != "1" {
		t.Fatalf("catalog-api row %v in\n%s", row, table)
	}
	// No dependencies: an empty column, so the fields shift by one.
	if row := rowOf(table, "pricing-api"); len(row) < 5 || row[3] != "-" || row[4] != "2" {
		t.Fatalf("pricing-api row %v in\n%s", row, table)
	}

	apps := decode[[]client.App](t, s.must(t, "viewer", "app", "list", "-o", "json"))
	if len(apps) != 2 || apps[0].Name != "catalog-api" || apps[1].Name != "pricing-api" || apps[1].Version != 2 || apps[0].Database == nil {
		t.Fatalf("app list -o json = %+v", apps)
	}

	show := s.must(t, "viewer", "app", "show", "catalog-api")
	for _, want := range []string{"name:         catalog-api (version 1", "repo:         acme/catalog-api", "port:         8080", "health:       /healthz", "dependencies: pricing-api"} {
		if !strings.Contains(show, want) {
			t.Errorf("app show lacks %q:\n%s", want, show)
		}
	}
	app := decode[client.App](t, s.must(t, "viewer", "app", "show", "catalog-api", "-o", "json"))
	if app.Name != "catalog-api" || app.Port != 8080 || !slices.Equal(app.Dependencies, []string{"pricing-api"}) {
		t.Fatalf("app show -o json = %+v", app)
	}
	versions := decode[[]spacepods.AppVersion](t, s.must(t, "viewer", "app", "show", "pricing-api", "--versions", "-o", "json"))
	if len(versions) != 2 {
		t.Fatalf("app show --versions -o json = %+v, want 2 versions", versions)
	}

	// Errors: the manifest's mistakes with their lines; an unknown app.
	bad := s.manifest(t, "bad", "name: Bad\nrepo: acme/bad\nkind: web\nport: 8080\n")
	_, _, err := s.run(t, "developer", "app", "register", "-f", bad)
	if err == nil || !strings.Contains(err.Error(), bad+" is not valid") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad manifest: %v", err)
	}
	_, _, err = s.run(t, "viewer", "app", "show", "nope")
	if spacepods.ErrorCode(err) != spacepods.ENOTFOUND || !strings.Contains(userMessage(err), "nope") {
		t.Fatalf("show of an unknown app: %v", err)
	}
	_, _, err = s.run(t, "viewer", "app", "register", "-f", pricing)
	if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
		t.Fatalf("a viewer registered an app: %v", err)
	}
}

func TestCLI_DepsPrintsTreeAndStartOrder(t *testing.T) {
	s := startAPI(t)
	for name, m := range map[string]string{"pricing-api": pricingManifest, "catalog-api": catalogManifest, "storefront": storeManifest} {
		s.must(t, "developer", "app", "register", "-f", s.manifest(t, name, m))
	}
	out := s.must(t, "viewer", "deps", "storefront")
	want := "storefront\n├── catalog-api\n│   └── pricing-api\n└── pricing-api (see above)\n\nstart order: pricing-api -> catalog-api -> storefront\n"
	if out != want {
		t.Fatalf("deps printed\n%s\nwant\n%s", out, want)
	}
	d := decode[client.Deps](t, s.must(t, "viewer", "deps", "storefront", "-o", "json"))
	if !slices.Equal(d.Order, []string{"pricing-api", "catalog-api", "storefront"}) || d.Tree == nil || d.Tree.Name != "storefront" || len(d.Tree.Children) != 2 {
		t.Fatalf("deps -o json = %+v", d)
	}
}

func TestCLI_BuildPushesShowsRejectedPushesWithTheirReason(t *testing.T) {
	s := startAPI(t)
	digest := "sha256:" + strings.Repeat("e", 64)
	if _, _, err := s.store.TakeRegistryEvent(context.Background(), spacepods.RegistryEvent{ID: "e1", Repository: "acme/nothing", Tag: "3", Digest: digest,
		Status: spacepods.RegistryEventRejected, Reason: "no app's images are pushed to repository acme/nothing"}, nil); err != nil {
		t.Fatal(err)
	}
	table := s.must(t, "viewer", "build", "pushes", "--rejected")
	if row := rowOf(table, "acme/nothing:3"); len(row) < 3 || row[1] != "rejected" || row[2] != "-" || !strings.Contains(table, "no app's images are pushed to repository acme/nothing") {
		t.Fatalf("build pushes --rejected:\n%s", table)
	}
	evs := decode[[]client.RegistryEvent](t, s.must(t, "viewer", "build", "pushes", "-o", "json"))
	if len(evs) != 1 || evs[0].Digest != digest {
		t.Fatalf("build pushes -o json = %+v", evs)
	}
}

func TestCLI_BuildRecordAndList(t *testing.T) {
	s := startAPI(t)
	s.must(t, "developer", "app", "register", "-f", s.manifest(t, "pricing-api", pricingManifest))
	out := s.must(t, "developer", "build", "record", "pricing-api", "--number", "41", "--image", "acme/pricing-api:41", "--sha", "0123456789abcdef", "--branch", "main")
	if out != "recorded pricing-api build 41 (acme/pricing-api:41, main@0123456)\n" {
		t.Fatalf("build record printed %q", out)
	}
	s.must(t, "developer", "build", "record", "pricing-api", "--number", "42", "--image", "acme/pricing-api:42", "--sha", "abcdef1", "--branch", "fix-x", "--pr", "7")

	_, _, err := s.run(t, "developer", "build", "record", "pricing-api", "--number", "41", "--image", "acme/pricing-api:41", "--sha", "0123456", "--branch", "main")
	if spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("recording build 41 twice: %v, want a conflict", err)
	}
	_, _, err = s.run(t, "developer", "build", "record", "pricing-api", "--number", "43", "--image", "acme/pricing-api:43", "--sha", "nothex", "--branch", "main")
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(userMessage(err), "is not a hex commit id") {
		t.Fatalf("bad sha: %v", err)
	}
	if _, _, err := s.run(t, "developer", "build", "record", "pricing-api", "--number", "44"); err == nil || !strings.Contains(err.Error(), "required flag") {
		t.Fatalf("missing flags: %v", err)
	}

	table := s.must(t, "viewer", "build", "list", "pricing-api")
	if row := rowOf(table, "42"); len(row) < 5 || row[1] != "fix-x" || row[2] != "abcdef1" || row[3] != "#7" || row[4] != "acme/pricing-api:42" {
		t.Fatalf("build 42 row %v in\n%s", row, table)
	}
	if row := rowOf(table, "41"); len(row) < 5 || row[3] != "-" {
		t.Fatalf("build 41 row %v in\n%s", row, table)
	}
	if i41, i42 := strings.Index(table, "\n41 "), strings.Index(table, "\n42 "); i42 < 0 || i41 < i42 {
		t.Fatalf("build list is not newest first:\n%s", table)
	}
	builds := decode[[]client.Build](t, s.must(t, "viewer", "build", "list", "pricing-api", "--branch", "main", "-o", "json"))
	if len(builds) != 1 || builds[0].Number != 41 || builds[0].CreatedBy != "t-developer" {
		t.Fatalf("build list --branch main -o json = %+v", builds)
	}
	latest := decode[client.Build](t, s.must(t, "viewer", "build", "latest", "pricing-api", "-o", "json"))
	if latest.Number != 41 {
		t.Fatalf("build latest (main) = %+v, want 41", latest)
	}
}

func TestCLI_ConfigSetAndList(t *testing.T) {
	s := startAPI(t)
	s.must(t, "developer", "app", "register", "-f", s.manifest(t, "pricing-api", pricingManifest))
	if out := s.must(t, "developer", "config", "set", "pricing-api", "LOG_LEVEL=debug", "--pods"); out != "set var LOG_LEVEL of pricing-api in scope pods (takes effect on the next deploy)\n" {
		t.Fatalf("config set printed %q", out)
	}
	const secret = "s3cr3t-7f1e"
	if out := s.must(t, "developer", "config", "set", "pricing-api", "API_TOKEN="+secret, "--env", "qa", "--secret"); !strings.HasPrefix(out, "set secret API_TOKEN of pricing-api in scope env:qa") {
		t.Fatalf("config set --secret printed %q", out)
	}

	table := s.must(t, "developer", "config", "list", "pricing-api")
	if strings.Contains(table, secret) {
		t.Fatalf("config list shows the secret:\n%s", table)
	}
	if row := rowOf(table, "pods"); len(row) < 4 || row[1] != "LOG_LEVEL" || row[2] != "debug" || row[3] != "t-developer" {
		t.Fatalf("pods row %v in\n%s", row, table)
	}
	if row := rowOf(table, "env:qa"); len(row) < 3 || row[1] != "API_TOKEN" || !strings.Contains(table, "(secret, set)") {
		t.Fatalf("secret row %v in\n%s", row, table)
	}
	out := s.must(t, "developer", "config", "list", "pricing-api", "-o", "json")
	if strings.Contains(out, secret) {
		t.Fatalf("config list -o json shows the secret:\n%s", out)
	}
	vars := decode[[]client.ConfigVar](t, out)
	if len(vars) != 2 {
		t.Fatalf("config list -o json = %+v", vars)
	}
	qa := decode[[]client.ConfigVar](t, s.must(t, "developer", "config", "list", "pricing-api", "--env", "qa", "-o", "json"))
	if len(qa) != 1 || qa[0].Key != "API_TOKEN" || !qa[0].Secret || qa[0].Value != "" {
		t.Fatalf("config list --env qa -o json = %+v", qa)
	}

	revealed := decode[[]client.ConfigVar](t, s.must(t, "admin", "config", "list", "pricing-api", "--env", "qa", "--reveal", "-o", "json"))
	if len(revealed) != 1 || revealed[0].Value != secret {
		t.Fatalf("admin's --reveal = %+v", revealed)
	}
	if _, _, err := s.run(t, "developer", "config", "list", "pricing-api", "--reveal"); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
		t.Fatalf("a developer's --reveal: %v, want forbidden", err)
	}
	if _, _, err := s.run(t, "developer", "config", "set", "pricing-api", "NOVALUE"); err == nil || !strings.Contains(userMessage(err), "write KEY=VALUE") {
		t.Fatalf("config set without =: %v", err)
	}
	if _, _, err := s.run(t, "developer", "config", "set", "pricing-api", "A=b", "--pods", "--env", "qa"); err == nil || !strings.Contains(userMessage(err), "exclude each other") {
		t.Fatalf("two scopes: %v", err)
	}
}

var tokenSecretRE = regexp.MustCompile(`^sp_\S+\n$`)

func TestCLI_TokenCreateAndList(t *testing.T) {
	s := startAPI(t)
	out, errOut, err := s.run(t, "admin", "token", "create", "--name", "ci", "--role", "developer")
	if err != nil {
		t.Fatal(err)
	}
	if !tokenSecretRE.MatchString(out) || !strings.Contains(errOut, "created token ci (role developer)") {
		t.Fatalf("token create printed stdout %q, stderr %q: want the secret alone on stdout", out, errOut)
	}
	// The new token works.
	ci := strings.TrimSpace(out)
	if _, _, err := runCLI(t, "--server", s.url, "--token", ci, "app", "list"); err != nil {
		t.Fatalf("the created token does not work: %v", err)
	}

	created := decode[struct {
		Token  client.Token `json:"token"`
		Secret string       `json:"secret"`
	}](t, s.must(t, "admin", "token", "create", "--name", "bot", "--role", "viewer", "-o", "json"))
	if created.Token.Name != "bot" || created.Token.Role != "viewer" || !strings.HasPrefix(created.Secret, "sp_") {
		t.Fatalf("token create -o json = %+v", created)
	}

	table := s.must(t, "admin", "token", "list")
	if row := rowOf(table, "ci"); len(row) < 3 || row[1] != "developer" || row[2] != "t-admin" {
		t.Fatalf("ci row %v in\n%s", row, table)
	}
	out = s.must(t, "admin", "token", "list", "-o", "json")
	if strings.Contains(out, ci) || strings.Contains(out, created.Secret) {
		t.Fatalf("token list shows a secret:\n%s", out)
	}
	tokens := decode[[]client.Token](t, out)
	var names []string
	for _, tk := range tokens {
		names = append(names, tk.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"bot", "ci", "t-admin", "t-developer", "t-viewer"}) {
		t.Fatalf("token list -o json names %v", names)
	}

	if _, _, err := s.run(t, "developer", "token", "create", "--name", "mine"); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
		t.Fatalf("a developer created a token: %v", err)
	}
	if _, _, err := s.run(t, "admin", "token", "create", "--name", "x", "--role", "root"); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("unknown role: %v, want invalid", err)
	}
	if out := s.must(t, "admin", "token", "revoke", "ci"); out != "revoked token ci\n" {
		t.Fatalf("token revoke printed %q", out)
	}
	if _, _, err := runCLI(t, "--server", s.url, "--token", ci, "app", "list"); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("a revoked token still works: %v", err)
	}
}

// TestCLI_FindsServerAndToken: the server comes from --server or
// SPACEPODS_SERVER; the token from --token, SPACEPODS_TOKEN, or
// <data-dir>/admin.token, in that order.
func TestCLI_FindsServerAndToken(t *testing.T) {
	s := startAPI(t)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "admin.token"), []byte(s.tokens["admin"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	whoami := func(t *testing.T, args ...string) string {
		t.Helper()
		out, _, err := runCLI(t, append(args, "token", "list", "-o", "json")...)
		if err != nil {
			return "error: " + spacepods.ErrorCode(err)
		}
		return "ok: " + strconv.Itoa(strings.Count(out, `"name"`)) + " tokens"
	}
	t.Setenv("SPACEPODS_TOKEN", "")
	t.Setenv("SPACEPODS_SERVER", s.url)
	if got := whoami(t, "--data-dir", dataDir); !strings.HasPrefix(got, "ok:") {
		t.Fatalf("SPACEPODS_SERVER and <data-dir>/admin.token: %s", got)
	}
	t.Setenv("SPACEPODS_TOKEN", s.tokens["viewer"]) // beats the file: a viewer may not list tokens
	if got := whoami(t, "--data-dir", dataDir); got != "error: "+spacepods.EFORBIDDEN {
		t.Fatalf("SPACEPODS_TOKEN did not win over the file: %s", got)
	}
	if got := whoami(t, "--data-dir", dataDir, "--token", s.tokens["admin"]); !strings.HasPrefix(got, "ok:") {
		t.Fatalf("--token did not win over SPACEPODS_TOKEN: %s", got)
	}
	t.Setenv("SPACEPODS_TOKEN", "")
	if got := whoami(t, "--data-dir", t.TempDir()); got != "error: "+spacepods.EUNAUTHORIZED {
		t.Fatalf("no token anywhere: %s, want unauthorized", got)
	}
	t.Setenv("SPACEPODS_SERVER", "http://127.0.0.1:1")
	if got := whoami(t, "--data-dir", dataDir, "--server", s.url); !strings.HasPrefix(got, "ok:") {
		t.Fatalf("--server did not win over SPACEPODS_SERVER: %s", got)
	}
}
