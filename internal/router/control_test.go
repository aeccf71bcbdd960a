package router

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func mustControl(t *testing.T, r *Router, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(r.ControlHandler(token, Info{}))
	t.Cleanup(srv.Close)
	return srv
}

func TestControlAPI_RejectsWithoutToken(t *testing.T) {
	r, _ := mustNewRouter(t, testOptions(t))
	ctl := mustControl(t, r, "s3cret")
	c := newTestClient(t)
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/healthz", ""},
		{"GET", "/v1/groups", ""},
		{"PUT", "/v1/groups/alice/web", `{"health_path":"","targets":[{"addr":"127.0.0.1:9","weight":1}]}`},
		{"DELETE", "/v1/groups/alice/web", ""},
		{"GET", "/v1/groups/alice/web/stats", ""},
		{"GET", "/v1/environments", ""},
		{"PUT", "/v1/environments/alice", ""},
		{"DELETE", "/v1/environments/alice", ""},
		{"GET", "/v1/nothing-here", ""},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic s3cret"} {
			req, _ := http.NewRequest(rt.method, ctl.URL+rt.path, strings.NewReader(rt.body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s %s with Authorization %q: %d, want 401", rt.method, rt.path, auth, resp.StatusCode)
			}
		}
	}
	if len(r.Groups()) != 0 || len(r.Environments()) != 0 {
		t.Fatal("a rejected request changed the route table")
	}

	err := NewClient(ctl.URL, "wrong").Health(context.Background())
	if spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("client with a wrong token: %v, want code %s", err, spacepods.EUNAUTHORIZED)
	}
	if err := NewClient(ctl.URL, "s3cret").Health(context.Background()); err != nil {
		t.Fatalf("client with the token: %v", err)
	}
	if err := NewClient(mustControl(t, r, "").URL, "").Health(context.Background()); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("a handler without a token must reject everything, got %v", err)
	}
}

func TestControlAPI_ManagesGroupsThroughClient(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	ctl := mustControl(t, r, "tok")
	cl := NewClient(strings.TrimPrefix(ctl.URL, "http://"), "tok")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := newBackend(t, "a"), newBackend(t, "b")

	if err := cl.SetEnvironment(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	spec := GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}, {b.addr, 1}}}
	if err := cl.SetGroup(ctx, "alice", "web", spec); err != nil {
		t.Fatal(err)
	}
	if err := cl.WaitHealthy(ctx, "alice", "web", a.addr, b.addr); err != nil {
		t.Fatal(err)
	}
	hc := newTestClient(t)
	for i := 0; i < 4; i++ {
		if res := send(t, hc, front, "GET", host, "/", ""); res.status != 200 {
			t.Fatalf("GET: %d", res.status)
		}
	}
	st, err := cl.Stats(ctx, "alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	ta, _ := st.Target(a.addr)
	if st.Requests != 4 || ta.Requests != 2 || !ta.Healthy || st.Host != host || st.HealthyTargets != 2 {
		t.Fatalf("stats = %+v, want 4 requests split 2/2 over 2 healthy targets", st)
	}
	groups, err := cl.Groups(ctx)
	if err != nil || len(groups) != 1 || groups[0].App != "web" || len(groups[0].Targets) != 2 {
		t.Fatalf("groups = %+v, %v; want alice/web with 2 targets", groups, err)
	}
	envs, err := cl.Environments(ctx)
	if err != nil || len(envs) != 1 || envs[0] != "alice" {
		t.Fatalf("environments = %v, %v", envs, err)
	}

	waitCtx, waitCancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = cl.WaitHealthy(waitCtx, "alice", "web", "127.0.0.1:1")
	waitCancel()
	if err == nil || !strings.Contains(spacepods.ErrorMessage(err), "127.0.0.1:1 (not in the group)") {
		t.Fatalf("WaitHealthy for a missing target: %v, want it named as not in the group", err)
	}

	invalid := []struct {
		name, env, app string
		spec           GroupSpec
	}{
		{"negative weight", "alice", "web", GroupSpec{Targets: []TargetSpec{{a.addr, -1}}}},
		{"address without port", "alice", "web", GroupSpec{Targets: []TargetSpec{{"127.0.0.1", 1}}}},
		{"duplicate address", "alice", "web", GroupSpec{Targets: []TargetSpec{{a.addr, 1}, {a.addr, 2}}}},
		{"health path without slash", "alice", "web", GroupSpec{HealthPath: "healthz"}},
		{"bad environment name", "Alice_1", "web", GroupSpec{}},
	}
	for _, tt := range invalid {
		if err := cl.SetGroup(ctx, tt.env, tt.app, tt.spec); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Fatalf("%s: %v, want code %s", tt.name, err, spacepods.EINVALID)
		}
	}
	req, _ := http.NewRequest("PUT", ctl.URL+"/v1/groups/alice/web", strings.NewReader(`{"healthpath":"/x","targets":[]}`))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown JSON field: %d, want 400", resp.StatusCode)
	}

	if _, err := cl.Stats(ctx, "alice", "nope"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("stats of a missing group: %v, want %s", err, spacepods.ENOTFOUND)
	}
	if err := cl.DeleteGroup(ctx, "alice", "web"); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteGroup(ctx, "alice", "web"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("second delete: %v, want %s", err, spacepods.ENOTFOUND)
	}
	if err := cl.RemoveEnvironment(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := cl.RemoveEnvironment(ctx, "alice"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("second remove: %v, want %s", err, spacepods.ENOTFOUND)
	}

	down := NewClient(deadAddr(t), "tok")
	if err := down.Health(ctx); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("unreachable router: %v, want %s", err, spacepods.EUNAVAILABLE)
	}
}

func TestRun_ServesWritesFilesAndCanBeAdopted(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t, "a")
	cfg := Config{Listen: "127.0.0.1:0", ControlListen: "127.0.0.1:0", DataDir: dir,
		HealthInterval: 20 * time.Millisecond, DrainTimeout: time.Second, Logger: testLogger(t)}

	start := func() (context.CancelFunc, chan error, *Client) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg) }()
		var cl *Client
		waitFor(t, 5*time.Second, "router to answer", func() bool {
			select {
			case err := <-done:
				t.Fatalf("Run returned early: %v", err)
			default:
			}
			var ok bool
			cl, ok = Adopt(dir, "")
			return ok
		})
		return cancel, done, cl
	}
	stop := func(cancel context.CancelFunc, done chan error) {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}

	cancel, done, cl := start()
	ctx := context.Background()
	tokenPath := filepath.Join(dir, TokenFile)
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	token1, _ := os.ReadFile(tokenPath)
	pid, _ := os.ReadFile(filepath.Join(dir, PIDFile))
	if strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file = %q, want %d", pid, os.Getpid())
	}
	info, err := ReadInfo(dir)
	if err != nil || info.Listen == "" || info.PID != os.Getpid() {
		t.Fatalf("info = %+v, %v", info, err)
	}

	// A second router for the same data dir refuses to start.
	if err := Run(ctx, cfg); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("second Run: %v, want %s", err, spacepods.ECONFLICT)
	}

	if err := cl.SetGroup(ctx, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{b.addr, 1}}}); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := cl.WaitHealthy(wctx, "alice", "web", b.addr); err != nil {
		t.Fatal(err)
	}
	get := func(listen string) result {
		res, err := trySend(newTestClient(t), "http://"+listen, "GET", host, "/", "")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := get(info.Listen); res.status != 200 || res.body != "a" {
		t.Fatalf("through Run's listener: %d %q", res.status, res.body)
	}
	stop(cancel, done)
	if _, err := os.Stat(filepath.Join(dir, PIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file left after shutdown: %v", err)
	}
	if _, ok := Adopt(dir, info.Control); ok {
		t.Fatal("Adopt found a router after shutdown")
	}

	// Restart: same token, routes restored from the snapshot.
	cancel, done, _ = start()
	defer stop(cancel, done)
	token2, _ := os.ReadFile(tokenPath)
	if string(token1) != string(token2) {
		t.Fatal("restart made a new token; the control plane's copy would stop working")
	}
	info, _ = ReadInfo(dir)
	if res := get(info.Listen); res.status != 200 || res.body != "a" {
		t.Fatalf("after restart: %d %q, want the restored route", res.status, res.body)
	}
}

func TestRun_RefusesControlAPIOffLoopback(t *testing.T) {
	err := Run(context.Background(), Config{Listen: "127.0.0.1:0", ControlListen: "0.0.0.0:0", DataDir: t.TempDir()})
	if spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("Run with a public control address: %v, want %s", err, spacepods.EINVALID)
	}
}
