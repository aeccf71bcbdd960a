package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/streams"
)

// send makes a request with optional headers and cookie; it returns the
// status and body.
func (f *fixture) send(t *testing.T, method, path string, body string, headers map[string]string, cookie *http.Cookie) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, r)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// TestAPI_SessionCookieReadsButNeedsTheCSRFHeaderToWrite: a browser sends
// the session cookie with requests other sites make, so the API takes the
// cookie alone only for reads; writes need the session's CSRF token in a
// header (which another site cannot read or set). Bearer tokens are as
// before.
func TestAPI_SessionCookieReadsButNeedsTheCSRFHeaderToWrite(t *testing.T) {
	f := newFixture(t)
	id, sess, err := f.srv.Auth.SignIn(context.Background(), f.tokens[spacepods.RoleDeveloper])
	if err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: auth.SessionCookie, Value: id}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	build := func(n string) string {
		return `{"number": ` + n + `, "git_sha": "abcdef1", "branch": "main", "image": "acme/web:` + n + `"}`
	}

	if s, out := f.send(t, "GET", "/api/v1/whoami", "", nil, cookie); s != 200 || !strings.Contains(out, "t-developer") {
		t.Fatalf("GET with the session cookie: %d %s", s, out)
	}
	for name, h := range map[string]map[string]string{
		"no CSRF header": jsonCT,
		"a wrong one":    {"Content-Type": "application/json", server.CSRFHeader: "forged"},
		"the session ID": {"Content-Type": "application/json", server.CSRFHeader: id},
	} {
		s, out := f.send(t, "POST", "/api/v1/apps/web/builds", build("41"), h, cookie)
		if s != http.StatusForbidden || !strings.Contains(out, "Authorization: Bearer") || !strings.Contains(out, server.CSRFHeader) {
			t.Fatalf("POST with the cookie and %s: %d %s, want 403 saying what to send", name, s, out)
		}
	}
	if s, out := f.send(t, "DELETE", "/api/v1/apps/web/config/LOG_LEVEL", "", nil, cookie); s != http.StatusForbidden {
		t.Fatalf("DELETE with only the cookie: %d %s", s, out)
	}
	if _, err := f.srv.Catalog.Build(context.Background(), "web", 41); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("a refused POST recorded the build: %v", err)
	}

	h := map[string]string{"Content-Type": "application/json", server.CSRFHeader: sess.CSRF}
	if s, out := f.send(t, "POST", "/api/v1/apps/web/builds", build("42"), h, cookie); s != 201 {
		t.Fatalf("POST with the cookie and the session's CSRF header: %d %s", s, out)
	}
	if s, out := f.send(t, "POST", "/api/v1/apps/web/builds", build("43"), map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + f.tokens[spacepods.RoleDeveloper]}, nil); s != 201 {
		t.Fatalf("POST with a bearer token: %d %s", s, out)
	}
	// Another session's CSRF token is no good.
	_, other, _ := f.srv.Auth.SignIn(context.Background(), f.tokens[spacepods.RoleDeveloper])
	h[server.CSRFHeader] = other.CSRF
	if s, _ := f.send(t, "POST", "/api/v1/apps/web/builds", build("44"), h, cookie); s != http.StatusForbidden {
		t.Fatalf("POST with another session's CSRF token: %d", s)
	}
	// A signed-out session reads nothing.
	if err := f.srv.Auth.SignOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if s, out := f.send(t, "GET", "/api/v1/whoami", "", nil, cookie); s != http.StatusUnauthorized || !strings.Contains(out, "sign in again") {
		t.Fatalf("GET with a signed-out session: %d %s", s, out)
	}
	// The raw API token in the cookie is not a session.
	if s, _ := f.send(t, "GET", "/api/v1/whoami", "", nil, &http.Cookie{Name: auth.SessionCookie, Value: f.tokens[spacepods.RoleAdmin]}); s != http.StatusUnauthorized {
		t.Fatalf("an API token in the session cookie: %d, want 401", s)
	}
}

// TestAPI_JSONBodiesNeedTheJSONContentType: 415 with what to send.
func TestAPI_JSONBodiesNeedTheJSONContentType(t *testing.T) {
	f := newFixture(t)
	bearer := "Bearer " + f.tokens[spacepods.RoleAdmin]
	body := `{"name": "ci", "role": "viewer"}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		s, out := f.send(t, "POST", "/api/v1/tokens", body, map[string]string{"Authorization": bearer, "Content-Type": ct}, nil)
		var eb httpjson.ErrorBody
		json.Unmarshal([]byte(out), &eb)
		if s != http.StatusUnsupportedMediaType || eb.Error.Code != spacepods.EMEDIATYPE || !strings.Contains(eb.Error.Message, "Content-Type: application/json") {
			t.Fatalf("Content-Type %q: %d %s, want 415 saying what to send", ct, s, out)
		}
	}
	if ts, _ := f.srv.Auth.List(context.Background()); len(ts) != 3 {
		t.Fatalf("a refused body made a token: %+v", ts)
	}
	if s, out := f.send(t, "POST", "/api/v1/tokens", body, map[string]string{"Authorization": bearer, "Content-Type": "application/json; charset=utf-8"}, nil); s != 201 {
		t.Fatalf("application/json with a charset: %d %s", s, out)
	}
	// Routes without a body take none: no Content-Type needed.
	if s, out := f.send(t, "DELETE", "/api/v1/tokens/ci", "", map[string]string{"Authorization": bearer}, nil); s != 204 {
		t.Fatalf("DELETE without a body: %d %s", s, out)
	}
}

// TestClient_SendsJSONBodiesAsJSON: the Go client (and the CLI on it)
// passes the API's content type check.
func TestClient_SendsJSONBodiesAsJSON(t *testing.T) {
	f := newFixture(t)
	c := client.New(f.ts.URL, f.tokens[spacepods.RoleAdmin])
	ctx := context.Background()
	if _, _, err := c.RegisterApp(ctx, []byte(apiManifest), ""); err != nil {
		t.Fatalf("register: %v", err)
	}
	if _, err := c.RecordBuild(ctx, spacepods.Build{App: "api", Number: 3, GitSHA: "abcdef1", Branch: "main", Image: "acme/api:3"}); err != nil {
		t.Fatalf("record build: %v", err)
	}
	if _, _, err := c.CreateToken(ctx, "ci", spacepods.RoleDeveloper); err != nil {
		t.Fatalf("create token: %v", err)
	}
}

// TestHTTPServer_SlowRequestsAreCutOff: a client that trickles its body
// (or never finishes its headers) holds a connection only until the read
// timeout; the server sets write and idle timeouts too.
func TestHTTPServer_SlowRequestsAreCutOff(t *testing.T) {
	f := newFixture(t)
	hs := server.HTTPServer(f.srv.Handler(), server.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond})
	if hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 || hs.ReadTimeout != 500*time.Millisecond {
		t.Fatalf("timeouts: read %v write %v idle %v", hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	for name, send := range map[string]func(c net.Conn){
		"slow body": func(c net.Conn) {
			io.WriteString(c, "POST /api/v1/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+f.tokens[spacepods.RoleDeveloper]+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
			for range 20 { // 2 s of a byte every 100 ms, far past the read timeout
				if _, err := io.WriteString(c, " "); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		},
		"slow headers": func(c net.Conn) {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\n")
			time.Sleep(2 * time.Second)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			closed := make(chan time.Duration, 1)
			go func() {
				io.Copy(io.Discard, c) // returns when the server closes the connection
				closed <- time.Since(start)
			}()
			go send(c)
			select {
			case d := <-closed:
				if d > 1500*time.Millisecond {
					t.Fatalf("the server closed the connection after %v", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server still holds a connection whose request never arrived")
			}
		})
	}
}

// runtimeFixture is the API with pods and deploys over the store, and a
// driver that only has logs (a follow stays open until the request ends)
// and no network, so a pod create fails quickly in the background.
func newRuntimeFixture(t *testing.T, quota int, streams *streams.Limiter) *fixture {
	t.Helper()
	f := newFixture(t)
	quiet := slog.New(slog.DiscardHandler)
	st := f.srv.Store
	engine := &deploy.Engine{Store: st, Catalog: f.srv.Catalog, Domain: "localhost", RouterPort: "8080", Logger: quiet}
	admin := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})
	if _, err := f.srv.Catalog.RecordBuild(admin, spacepods.Build{App: "api", Number: 1, GitSHA: "abcdef1", Branch: "main", Image: "acme/api:1"}); err != nil {
		t.Fatal(err)
	}
	ps := &pods.Service{Store: st, Catalog: f.srv.Catalog, Engine: engine, Driver: fakeDriver{}, PodQuota: quota, Logger: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ps.Start(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); ps.Wait() })
	srv := &server.Server{Catalog: f.srv.Catalog, Auth: f.srv.Auth, Store: st, Config: f.srv.Config, Pods: ps, Deploys: engine, Streams: streams, Version: "test", Logger: quiet}
	f.srv = srv
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

type fakeDriver struct{ runtime.Driver }

func (fakeDriver) EnsureEnvironment(context.Context, runtime.EnvSpec) error {
	return spacepods.Errorf(spacepods.EUNAVAILABLE, "no runtime in this test")
}

func (fakeDriver) Logs(ctx context.Context, env, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "[1] DATABASE_URL=postgres://app:secret@db/app\n")
		if opts.Follow { // a line every 100 ms until the request ends
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					pw.Close()
					return
				case now := <-t.C:
					if _, err := io.WriteString(pw, "[1] tick "+now.Format(time.RFC3339Nano)+"\n"); err != nil {
						return
					}
				}
			}
		}
		pw.Close()
	}()
	return pr, nil
}

// seedPod makes a pod owned by owner straight in the store, with web live.
func (f *fixture) seedPod(t *testing.T, name, owner string) {
	t.Helper()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if _, err := f.srv.Store.CreateEnvironment(ctx, spacepods.Environment{Name: name, Kind: spacepods.EnvPod, Owner: owner, Status: spacepods.StatusReady, Apps: []string{"web"}, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Store.PutEnvApp(ctx, spacepods.EnvApp{Env: name, App: "web", Build: 1, Release: 1, Status: "healthy"}); err != nil {
		t.Fatal(err)
	}
}

// TestAPI_DeployOutputAndLogsAreForDevelopers: viewers see that a deploy
// failed and why, not its output, and read no logs.
func TestAPI_DeployOutputAndLogsAreForDevelopers(t *testing.T) {
	f := newRuntimeFixture(t, 0, nil)
	ctx := context.Background()
	f.seedPod(t, "p1", "t-developer")
	d, err := f.srv.Store.CreateDeploy(ctx, spacepods.Deploy{Env: "p1", App: "web", Build: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.Status, d.Error, d.Output = spacepods.DeployRolledBack, "migrate exited 1", "connecting to postgres://app:hunter2@db/app"
	if err := f.srv.Store.SaveDeploy(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/deploys/" + strconv.FormatInt(d.ID, 10), "/api/v1/deploys?env=p1"} {
		s, out := f.do(t, "GET", path, f.tokens[spacepods.RoleViewer], nil)
		if s != 200 || strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), `"output_hidden": true`) || !strings.Contains(string(out), "migrate exited 1") {
			t.Fatalf("viewer GET %s: %d %s", path, s, out)
		}
		for _, role := range []string{spacepods.RoleDeveloper, spacepods.RoleAdmin} {
			s, out := f.do(t, "GET", path, f.tokens[role], nil)
			if s != 200 || !strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "output_hidden") {
				t.Fatalf("%s GET %s: %d %s", role, path, s, out)
			}
		}
	}
	// A running migration's progress events carry its output lines apart
	// from their message: viewers get the message only.
	if _, err := f.srv.Store.AddEvent(ctx, spacepods.Event{Env: "p1", App: "web", Deploy: d.ID, Message: "migrate running 0:05 — 1 new line", Output: "connecting to postgres://app:hunter2@db/app"}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/deploys/" + strconv.FormatInt(d.ID, 10) + "/events", "/api/v1/pods/p1/events"} {
		s, out := f.do(t, "GET", path, f.tokens[spacepods.RoleViewer], nil)
		if s != 200 || strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), `"output_hidden": true`) || !strings.Contains(string(out), "migrate running 0:05") {
			t.Fatalf("viewer GET %s: %d %s", path, s, out)
		}
		s, out = f.do(t, "GET", path, f.tokens[spacepods.RoleDeveloper], nil)
		if s != 200 || !strings.Contains(string(out), "hunter2") {
			t.Fatalf("developer GET %s: %d %s", path, s, out)
		}
	}
	s, out := f.do(t, "GET", "/api/v1/pods/p1/apps/web/logs", f.tokens[spacepods.RoleViewer], nil)
	if s != http.StatusForbidden || strings.Contains(string(out), "secret") || !strings.Contains(string(out), "developer") {
		t.Fatalf("viewer logs: %d %s", s, out)
	}
	if s, out := f.do(t, "GET", "/api/v1/pods/p1/apps/web/logs", f.tokens[spacepods.RoleDeveloper], nil); s != 200 || !strings.Contains(string(out), "DATABASE_URL") {
		t.Fatalf("developer logs: %d %s", s, out)
	}
}

// TestAPI_LogFollowsAreCappedPerUserAndInTotal: over a cap, 429 with what
// to do; a closed stream frees its slot.
func TestAPI_LogFollowsAreCappedPerUserAndInTotal(t *testing.T) {
	streams := &streams.Limiter{PerUser: 2, Total: 3}
	f := newRuntimeFixture(t, 0, streams)
	f.seedPod(t, "p1", "t-developer")
	follow := func(role string) (*http.Response, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/v1/pods/p1/apps/web/logs?follow=true", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens[role])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 { // the first line is there: the stream is open
			if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, cancel
	}
	refused := func(resp *http.Response, want string) {
		t.Helper()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(out), want) {
			t.Fatalf("over the cap: %d %s, want 429 with %q", resp.StatusCode, out, want)
		}
	}
	_, stop1 := follow(spacepods.RoleDeveloper)
	follow(spacepods.RoleDeveloper)
	r, _ := follow(spacepods.RoleDeveloper)
	refused(r, "--max-streams-per-user")
	if r, _ := follow(spacepods.RoleAdmin); r.StatusCode != 200 {
		t.Fatalf("another user under the total: %d", r.StatusCode)
	}
	r, _ = follow(spacepods.RoleAdmin)
	refused(r, "--max-streams")
	stop1()
	deadline := time.Now().Add(5 * time.Second)
	for streams.Open() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r, _ := follow(spacepods.RoleDeveloper); r.StatusCode != 200 {
		t.Fatalf("after one stream closed: %d", r.StatusCode)
	}
	if s, _ := f.do(t, "GET", "/api/v1/pods/p1/apps/web/logs", f.tokens[spacepods.RoleDeveloper], nil); s != 200 {
		t.Fatalf("a log tail (no follow) is no stream and has no cap: %d", s)
	}
}

// TestAPI_PodQuotaPerUserAdminsExempt: the sixth pod is refused, naming
// the user's pods and how to free one; another user and admins are not
// affected; a destroyed pod frees its slot.
func TestAPI_PodQuotaPerUserAdminsExempt(t *testing.T) {
	f := newRuntimeFixture(t, 5, nil)
	for _, p := range []string{"d1", "d2", "d3", "d4", "d5"} {
		f.seedPod(t, p, "t-developer")
	}
	f.seedPod(t, "a1", "t-admin")
	create := func(role, name string) (int, string) {
		s, out := f.do(t, "POST", "/api/v1/pods", f.tokens[role], map[string]any{"name": name, "apps": []string{"web"}})
		return s, string(out)
	}
	s, out := create(spacepods.RoleDeveloper, "d6")
	if s != http.StatusForbidden {
		t.Fatalf("sixth pod: %d %s", s, out)
	}
	for _, want := range []string{"5 pods", "--pod-quota 5", "d1 (ready)", "d5 (ready)", "spacepods pod destroy NAME", "ask an admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q: %s", want, out)
		}
	}
	if _, err := f.srv.Store.GetEnvironment(context.Background(), "d6"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("the refused pod exists: %v", err)
	}
	for i := range 6 {
		f.seedPod(t, "x"+string(rune('a'+i)), "t-admin")
	}
	if s, out := create(spacepods.RoleAdmin, "a9"); s != http.StatusAccepted {
		t.Fatalf("an admin with 7 pods creates another: %d %s", s, out)
	}
	if err := f.srv.Store.SetEnvironmentStatus(context.Background(), "d3", spacepods.StatusDestroyed, ""); err != nil {
		t.Fatal(err)
	}
	if s, out := create(spacepods.RoleDeveloper, "d6"); s != http.StatusAccepted {
		t.Fatalf("after destroying one: %d %s", s, out)
	}
}

// TestAPI_LogFollowOutlivesTheServersTimeouts: a log follow keeps
// streaming past the read and write timeouts that cut other requests.
func TestAPI_LogFollowOutlivesTheServersTimeouts(t *testing.T) {
	f := newRuntimeFixture(t, 0, nil)
	f.seedPod(t, "p1", "t-developer")
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = server.HTTPServer(f.srv.Handler(), server.Timeouts{ReadHeader: 200 * time.Millisecond, Read: 200 * time.Millisecond, Write: 200 * time.Millisecond, Idle: time.Second})
	ts.Start()
	t.Cleanup(ts.Close)
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/pods/p1/apps/web/logs?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens[spacepods.RoleDeveloper])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	start := time.Now()
	for time.Since(start) < time.Second { // five times the timeouts
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("the log follow ended after %v: %v", time.Since(start), err)
		}
	}
}
