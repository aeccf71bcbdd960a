package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

const webManifest = `name: web
repo: acme/web
kind: web
port: 8080
health: /healthz
dependencies: [api]
`

const apiManifest = `name: api
repo: acme/api
kind: web
port: 8080
`

type fixture struct {
	ts     *httptest.Server
	srv    *server.Server
	tokens map[string]string // role → secret
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := storetest.MustOpenSQLite(t)
	a := &auth.Service{Store: st}
	key := make([]byte, 32)
	rand.Read(key)
	local, err := secrets.NewLocal(st, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Catalog: catalog.NewService(st), Auth: a, Store: st, Config: &config.Service{Store: st, Secrets: local}, Version: "test",
		RotateKey: func(ctx context.Context) (spacepods.KeyRotation, error) {
			k := make([]byte, 32)
			rand.Read(k)
			return spacepods.KeyRotation{KeyID: "rotated"}, local.RotateKey(ctx, k)
		}}
	f := &fixture{srv: srv, tokens: map[string]string{}}
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	for _, role := range []string{spacepods.RoleAdmin, spacepods.RoleDeveloper, spacepods.RoleViewer} {
		secret, _, err := a.Create(ctx, "t-"+role, role)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[role] = secret
	}
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	for _, m := range []string{apiManifest, webManifest} {
		if _, _, err := srv.Catalog.Register(ctx, []byte(m), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Catalog.RecordBuild(ctx, spacepods.Build{App: "web", Number: 1, GitSHA: "abcdef1", Branch: "main", Image: "acme/web:1"}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// sampleBodies holds a valid body for every route that takes one.
var sampleBodies = map[string]any{
	"POST /api/v1/hooks/registry":             map[string]any{"events": []any{}},
	"POST /api/v1/hooks/forge":                map[string]any{"zen": "unsigned: refused"},
	"PUT /api/v1/slack/users/{id}":            map[string]any{"username": "alice", "role": "developer"},
	"POST /api/v1/hooks/slack":                map[string]any{"text": "unsigned: refused"},
	"POST /api/v1/apps":                       spacepods.RegisterAppRequest{Manifest: apiManifest},
	"POST /api/v1/apps/{name}/builds":         map[string]any{"number": 99, "git_sha": "abcdef1", "branch": "main", "image": "acme/web:99"},
	"POST /api/v1/tokens":                     spacepods.CreateTokenRequest{Name: "someone", Role: "viewer"},
	"POST /api/v1/pods/plan":                  map[string]any{"name": "demo", "apps": []string{"web"}},
	"POST /api/v1/pods":                       map[string]any{"name": "demo", "apps": []string{"web"}},
	"POST /api/v1/pods/{name}/update":         map[string]any{},
	"POST /api/v1/envs/{env}/tests":           map[string]any{"app": "web"},
	"POST /api/v1/pods/{name}/extend":         map[string]any{"ttl": "1h"},
	"POST /api/v1/pods/{name}/sleep":          map[string]any{"app": "web"},
	"POST /api/v1/pods/{name}/wake":           map[string]any{},
	"POST /api/v1/environments":               map[string]any{"name": "qa"},
	"POST /api/v1/deploys":                    map[string]any{"env": "qa", "app": "web", "build": 1},
	"POST /api/v1/deploys/plan":               map[string]any{"env": "qa", "app": "web", "build": 1},
	"POST /api/v1/rollback":                   map[string]any{"env": "qa", "app": "web"},
	"POST /api/v1/promote":                    map[string]any{"app": "web", "from": "qa", "to": "staging"},
	"POST /api/v1/snapshots":                  map[string]any{"env": "qa", "app": "web", "name": "snap"},
	"POST /api/v1/leaks/remove":               map[string]any{},
	"POST /api/v1/secrets/rotate-key":         map[string]any{},
	"PUT /api/v1/apps/{name}/config":          map[string]any{"vars": map[string]string{"LOG_LEVEL": "debug"}},
	"POST /api/v1/apps/{name}/config/apply":   map[string]any{"env": "qa"},
	"POST /api/v1/apps/{name}/builds/run":     map[string]any{"ref": "main"},
	"POST /api/v1/build-jobs/{id}/cancel":     map[string]any{},
	"POST /api/v1/apps/{name}/pipeline/runs":  map[string]any{"build": 99},
	"POST /api/v1/pipeline/runs/{id}/approve": map[string]any{"comment": "ok"},
	"POST /api/v1/pipeline/runs/{id}/reject":  map[string]any{"comment": "no"},
}

// noRuntime reports the answer of a pod/deploy route on a server started
// with --runtime none (this fixture), or of a builder route on a server
// without the built-in builder: the role check has passed by then.
func noRuntime(status int, body []byte) bool {
	return status == http.StatusServiceUnavailable && (strings.Contains(string(body), "--runtime none") || strings.Contains(string(body), "built-in builder is off"))
}

var paramRE = regexp.MustCompile(`\{[a-z_]+\}`)

func concretePath(p string) string {
	return paramRE.ReplaceAllStringFunc(p, func(m string) string {
		switch m {
		case "{number}", "{id}":
			return "1"
		case "{app}":
			return "web"
		case "{key}":
			return "LOG_LEVEL"
		case "{name}":
			if strings.HasPrefix(p, "/api/v1/tokens") {
				return "nobody"
			}
			return "web"
		}
		return "x"
	})
}

// leastRoles pins the least role of routes whose answers carry what a
// viewer must not read, so that the route table cannot drift below it.
var leastRoles = map[string]string{
	"GET /api/v1/pods/{name}/apps/{app}/logs": spacepods.RoleDeveloper, // logs often carry connection strings
	"GET /api/v1/audit":                       spacepods.RoleAdmin,
	"GET /api/v1/tokens":                      spacepods.RoleAdmin,
	"GET /api/v1/hooks/forge/deliveries":      spacepods.RoleDeveloper, // errors of handlers and forge calls
	"GET /api/v1/notifications/deliveries":    spacepods.RoleDeveloper, // targets' errors
	"GET /api/v1/slack/users":                 spacepods.RoleAdmin,
}

// TestRoutes_EveryRouteChecksEveryRole covers every route × role: callers
// below the route's role get 401/403, callers at or above never do.
func TestRoutes_EveryRouteChecksEveryRole(t *testing.T) {
	f := newFixture(t)
	for _, rt := range server.Routes(f.srv) {
		if want, ok := leastRoles[rt.Method+" "+rt.Path]; ok && rt.Role != want {
			t.Errorf("%s %s needs %s, want %s", rt.Method, rt.Path, rt.Role, want)
		}
	}
	roles := []string{"", "bogus", spacepods.RoleViewer, spacepods.RoleDeveloper, spacepods.RoleAdmin}
	for _, rt := range server.Routes(f.srv) {
		for _, role := range roles {
			name := rt.Method + " " + rt.Path + " as " + role
			t.Run(name, func(t *testing.T) {
				token := f.tokens[role]
				if role == "bogus" {
					token = "sp_not-a-real-token"
				}
				body := sampleBodies[rt.Method+" "+rt.Path]
				if (rt.Method == "POST" || rt.Method == "PUT") && body == nil {
					t.Fatalf("no sample body for %s %s: add one to sampleBodies", rt.Method, rt.Path)
				}
				status, out := f.do(t, rt.Method, concretePath(rt.Path), token, body)
				allowed := spacepods.RoleAtLeast(role, rt.Role)
				switch {
				case rt.Role == "":
					if status >= 500 {
						t.Fatalf("public route: %d %s", status, out)
					}
				case role == "" || role == "bogus":
					if status != http.StatusUnauthorized {
						t.Fatalf("want 401 without a valid token, got %d %s", status, out)
					}
				case !allowed:
					if status != http.StatusForbidden {
						t.Fatalf("role %s below %s: want 403, got %d %s", role, rt.Role, status, out)
					}
					if !strings.Contains(string(out), rt.Role) {
						t.Fatalf("403 must say which role is needed: %s", out)
					}
				default:
					if noRuntime(status, out) {
						return
					}
					if status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500 {
						t.Fatalf("role %s allowed for %s: got %d %s", role, rt.Role, status, out)
					}
				}
			})
		}
	}
}

func TestOpenAPI_MatchesRoutes(t *testing.T) {
	f := newFixture(t)
	status, out := f.do(t, "GET", "/api/v1/openapi.json", "", nil)
	if status != 200 {
		t.Fatalf("openapi: %d", status)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	n := 0
	for _, rt := range server.Routes(f.srv) {
		if _, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s %s missing from the OpenAPI document", rt.Method, rt.Path)
		}
		n++
	}
	m := 0
	for p, ops := range doc.Paths {
		for method := range ops {
			m++
			// every documented operation must be served (not the catch-all 404)
			status, body := f.do(t, strings.ToUpper(method), concretePath(p), f.tokens[spacepods.RoleAdmin], sampleBodies[strings.ToUpper(method)+" "+p])
			if status == 404 && strings.Contains(string(body), "no API route") {
				t.Errorf("documented %s %s is not served", method, p)
			}
		}
	}
	if n != m {
		t.Fatalf("%d routes but %d documented operations", n, m)
	}
}

func TestAPI_BadInputGets4xxWithClearMessage(t *testing.T) {
	f := newFixture(t)
	dev := f.tokens[spacepods.RoleDeveloper]
	admin := f.tokens[spacepods.RoleAdmin]
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		want                      string
	}{
		{"bad json", "POST", "/api/v1/apps", dev, `{"manifest": `, 400, "not valid JSON"},
		{"empty body", "POST", "/api/v1/apps", dev, ``, 400, "empty"},
		{"two values", "POST", "/api/v1/apps", dev, `{"manifest":"x"} {}`, 400, "more than one"},
		{"unknown field", "POST", "/api/v1/apps", dev, `{"manifest":"x","colour":1}`, 400, "colour"},
		{"wrong type", "POST", "/api/v1/tokens", admin, `{"name": 5}`, 400, "must be a string"},
		{"oversized", "POST", "/api/v1/apps", dev, `{"manifest":"` + strings.Repeat("a", server.MaxBodyBytes) + `"}`, 413, "over"},
		{"invalid app name", "GET", "/api/v1/apps/Bad_Name", dev, nil, 400, "not a valid name"},
		{"invalid build number", "GET", "/api/v1/apps/web/builds/abc", dev, nil, 400, "positive integer"},
		{"bad limit", "GET", "/api/v1/apps?limit=lots", dev, nil, 400, "must be an integer"},
		{"unknown app", "GET", "/api/v1/apps/ghost", dev, nil, 404, "spacepods app register"},
		{"unknown route", "GET", "/api/v1/nope", dev, nil, 404, "openapi.json"},
		{"manifest error has line", "POST", "/api/v1/apps", dev, spacepods.RegisterAppRequest{Manifest: "name: x\nrepo: a/b\nkind: webb\n"}, 400, "line 3"},
		{"duplicate build", "POST", "/api/v1/apps/web/builds", dev, map[string]any{"number": 1, "git_sha": "abcdef1", "branch": "main", "image": "acme/web:1"}, 409, "already has build 1"},
		{"build app mismatch", "POST", "/api/v1/apps/web/builds", dev, map[string]any{"app": "api", "number": 5, "git_sha": "abcdef1", "branch": "main", "image": "a:1"}, 400, "must match"},
		{"bad sha", "POST", "/api/v1/apps/web/builds", dev, map[string]any{"number": 5, "git_sha": "xyz", "branch": "main", "image": "a:1"}, 400, "hex"},
		{"bad role", "POST", "/api/v1/tokens", admin, spacepods.CreateTokenRequest{Name: "x", Role: "god"}, 400, "admin, developer or viewer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := f.do(t, c.method, c.path, c.token, c.body)
			if status != c.status {
				t.Fatalf("want %d, got %d: %s", c.status, status, out)
			}
			var eb httpjson.ErrorBody
			if err := json.Unmarshal(out, &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("error body is not {error:{code,message}}: %s", out)
			}
			if !strings.Contains(eb.Error.Message, c.want) {
				t.Fatalf("message %q does not contain %q", eb.Error.Message, c.want)
			}
		})
	}
}

func TestAPI_ChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	dev := f.tokens[spacepods.RoleDeveloper]
	if s, out := f.do(t, "POST", "/api/v1/apps/web/builds", dev, map[string]any{"number": 7, "git_sha": "abcdef1", "branch": "main", "image": "acme/web:7"}); s != 201 {
		t.Fatalf("record: %d %s", s, out)
	}
	_, out := f.do(t, "GET", "/api/v1/audit?limit=1", f.tokens[spacepods.RoleAdmin], nil)
	var es []spacepods.AuditEntry
	json.Unmarshal(out, &es)
	if len(es) != 1 || es[0].Actor != "t-developer" || es[0].Action != "build.record" || es[0].Target != "web#7" {
		t.Fatalf("audit: %s", out)
	}
}

func TestServer_HealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	if s, out := f.do(t, "GET", "/healthz", "", nil); s != 200 || !strings.Contains(string(out), `"ok"`) {
		t.Fatalf("healthz: %d %s", s, out)
	}
	f.do(t, "GET", "/api/v1/apps", f.tokens[spacepods.RoleViewer], nil)
	s, out := f.do(t, "GET", "/metrics", "", nil)
	if s != 200 || !strings.Contains(string(out), `spacepods_http_requests_total{method="GET",route="/api/v1/apps",status="200"} 1`) {
		t.Fatalf("metrics: %d %s", s, out)
	}
}

// TestConfig_SecretsByRole: viewers read non-secret values only; developers
// set and unset but cannot read secrets; admins reveal (audited). A secret
// value never appears in any response but the admin's reveal.
func TestConfig_SecretsByRole(t *testing.T) {
	f := newFixture(t)
	viewer, dev, admin := f.tokens[spacepods.RoleViewer], f.tokens[spacepods.RoleDeveloper], f.tokens[spacepods.RoleAdmin]
	const planted = "PLANTED-7f3a9-value"
	set := func(token string, body any) (int, []byte) {
		return f.do(t, "PUT", "/api/v1/apps/web/config", token, body)
	}
	if s, out := set(viewer, map[string]any{"vars": map[string]string{"A": "1"}}); s != 403 {
		t.Fatalf("viewer set: %d %s", s, out)
	}
	if s, out := set(dev, map[string]any{"vars": map[string]string{"LOG_LEVEL": "debug"}, "scope": "pods"}); s != 200 {
		t.Fatalf("developer set var: %d %s", s, out)
	}
	s, out := set(dev, map[string]any{"vars": map[string]string{"API_TOKEN": planted}, "scope": "env:production", "secret": true})
	if s != 200 || strings.Contains(string(out), planted) {
		t.Fatalf("developer set secret: %d %s", s, out)
	}
	if s, out := set(dev, map[string]any{"vars": map[string]string{"PORT": "1"}, "override": true}); s != 403 {
		t.Fatalf("developer override of a standard var must be refused: %d %s", s, out)
	}
	for _, who := range []string{viewer, dev} {
		s, out := f.do(t, "GET", "/api/v1/apps/web/config", who, nil)
		if s != 200 || strings.Contains(string(out), planted) || !strings.Contains(string(out), "API_TOKEN") || !strings.Contains(string(out), "debug") {
			t.Fatalf("list: %d %s", s, out)
		}
		if s, out := f.do(t, "GET", "/api/v1/apps/web/config?reveal=true", who, nil); s != 403 {
			t.Fatalf("non-admin reveal: %d %s", s, out)
		}
	}
	s, out = f.do(t, "GET", "/api/v1/apps/web/config?reveal=true", admin, nil)
	if s != 200 || !strings.Contains(string(out), planted) {
		t.Fatalf("admin reveal: %d %s", s, out)
	}
	_, auditOut := f.do(t, "GET", "/api/v1/audit?limit=20", admin, nil)
	if !strings.Contains(string(auditOut), "config.reveal") || strings.Contains(string(auditOut), planted) {
		t.Fatalf("audit must record the reveal, never the value: %s", auditOut)
	}
	if s, out := f.do(t, "POST", "/api/v1/secrets/rotate-key", admin, nil); s != 200 {
		t.Fatalf("rotate: %d %s", s, out)
	}
	s, out = f.do(t, "GET", "/api/v1/apps/web/config?reveal=true", admin, nil)
	if s != 200 || !strings.Contains(string(out), planted) {
		t.Fatalf("reveal after rotation: %d %s", s, out)
	}
	if s, out := f.do(t, "DELETE", "/api/v1/apps/web/config/API_TOKEN?scope=env:production", dev, nil); s != 204 {
		t.Fatalf("developer unset: %d %s", s, out)
	}
	if s, out := f.do(t, "DELETE", "/api/v1/apps/web/config/API_TOKEN?scope=env:production", dev, nil); s != 404 {
		t.Fatalf("unset again: %d %s", s, out)
	}
}
