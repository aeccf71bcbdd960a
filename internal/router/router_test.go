package router

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const host = "web.alice.localhost"

func TestRouter_TargetGetsTrafficOnlyAfterHealthCheck(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	c := newTestClient(t)
	b := newBackend(t, "a")
	b.healthy.Store(false)
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{b.addr, 1}}})

	waitFor(t, 5*time.Second, "three failed health checks", func() bool { return b.checks.Load() >= 3 })
	for i := 0; i < 5; i++ {
		res := send(t, c, front, "GET", host, "/", "")
		if res.status != http.StatusServiceUnavailable || res.header.Get(ErrorHeader) != ReasonNoHealthy {
			t.Fatalf("before the check passes: got %d %q (%s), want 503 %s", res.status, res.body, res.header.Get(ErrorHeader), ReasonNoHealthy)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("unchecked target got %d requests, want 0", n)
	}
	st := mustStats(t, r, "alice", "web")
	if ts, _ := st.Target(b.addr); ts.State != StateUnhealthy || !strings.Contains(ts.LastError, "503") {
		t.Fatalf("target status = %+v, want unhealthy with the failed check as last error", ts)
	}

	b.healthy.Store(true)
	waitHealthy(t, r, "alice", "web", b.addr)
	if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 || res.body != "a" {
		t.Fatalf("after the check passed: got %d %q, want 200 \"a\"", res.status, res.body)
	}

	// Failing checks take it out again, and the page now says it is failing.
	b.healthy.Store(false)
	waitFor(t, 5*time.Second, "target unhealthy", func() bool {
		ts, _ := mustStats(t, r, "alice", "web").Target(b.addr)
		return !ts.Healthy
	})
	hits := b.hits.Load()
	res := send(t, c, front, "GET", host, "/", "")
	if res.status != http.StatusBadGateway || res.header.Get(ErrorHeader) != ReasonTargetsFailing {
		t.Fatalf("after the target failed: got %d %q, want 502 %s", res.status, res.body, ReasonTargetsFailing)
	}
	if b.hits.Load() != hits {
		t.Fatal("an unhealthy target got a request")
	}
}

func TestRouter_EmptyHealthPathMakesTargetsHealthyAtOnce(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	b := newBackend(t, "a")
	mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{b.addr, 1}}})
	if res := send(t, newTestClient(t), front, "GET", host, "/", ""); res.status != 200 || res.body != "a" {
		t.Fatalf("got %d %q, want 200 \"a\" right after SetGroup", res.status, res.body)
	}
	if n := b.checks.Load(); n != 0 {
		t.Fatalf("backend got %d health checks, want none", n)
	}
}

func TestTarget_HealthVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		checks  []bool
		healthy bool
	}{
		{name: "unchecked target is unhealthy", checks: nil, healthy: false},
		{name: "one pass makes it healthy", checks: []bool{true}, healthy: true},
		{name: "failing from the start stays unhealthy", checks: []bool{false, false, false}, healthy: false},
		{name: "one failure is forgiven", checks: []bool{true, false}, healthy: true},
		{name: "two consecutive failures make it unhealthy", checks: []bool{true, false, false}, healthy: false},
		{name: "a pass resets the failure count", checks: []bool{true, false, true, false}, healthy: true},
		{name: "one pass brings it back", checks: []bool{true, false, false, true}, healthy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(context.Background(), "127.0.0.1:1", 1)
			for _, ok := range tt.checks {
				tg.observe(ok, 2)
			}
			if got := tg.healthy.Load(); got != tt.healthy {
				t.Fatalf("healthy = %v after %v, want %v", got, tt.checks, tt.healthy)
			}
		})
	}
}

func TestSmoothWeightedRoundRobin_SpreadsPicks(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		healthy []bool
		want    string // names of the first picks, a target per letter
	}{
		{name: "nginx example 5:1:1", weights: []int{5, 1, 1}, healthy: []bool{true, true, true}, want: "aabacaa"},
		{name: "equal weights alternate", weights: []int{1, 1}, healthy: []bool{true, true}, want: "abab"},
		{name: "weight 0 never picked", weights: []int{0, 2}, healthy: []bool{true, true}, want: "bbbb"},
		{name: "unhealthy never picked", weights: []int{3, 1}, healthy: []bool{false, true}, want: "bbbb"},
		{name: "1:3 interleaves", weights: []int{1, 3}, healthy: []bool{true, true}, want: "babbbabb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &group{}
			for i, w := range tt.weights {
				tg := newTarget(context.Background(), string(rune('a'+i)), w)
				tg.healthy.Store(tt.healthy[i])
				g.live = append(g.live, tg)
			}
			var got strings.Builder
			for range tt.want {
				got.WriteString(g.pick(nil).addr)
			}
			if got.String() != tt.want {
				t.Fatalf("picks = %s, want %s", got.String(), tt.want)
			}
		})
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		name, host, env, app string
		ok                   bool
	}{
		{name: "app and env", host: "web.alice.localhost", env: "alice", app: "web", ok: true},
		{name: "port ignored", host: "web.alice.localhost:8080", env: "alice", app: "web", ok: true},
		{name: "case folded", host: "WEB.Alice.LocalHost", env: "alice", app: "web", ok: true},
		{name: "trailing dot", host: "web.alice.localhost.", env: "alice", app: "web", ok: true},
		{name: "env only", host: "alice.localhost", ok: false},
		{name: "too many labels", host: "a.web.alice.localhost", ok: false},
		{name: "other domain", host: "web.alice.example.com", ok: false},
		{name: "bare domain", host: "localhost", ok: false},
		{name: "empty app", host: ".alice.localhost", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, app, ok := parseHost(tt.host, "localhost")
			if ok != tt.ok || env != tt.env || app != tt.app {
				t.Fatalf("parseHost(%q) = %q, %q, %v; want %q, %q, %v", tt.host, env, app, ok, tt.env, tt.app, tt.ok)
			}
		})
	}
}

func TestRouter_WeightsSplitTraffic(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	c := newTestClient(t)
	a, b, z := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "z")
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}, {b.addr, 3}, {z.addr, 0}}})
	waitHealthy(t, r, "alice", "web", a.addr, b.addr, z.addr)

	count := func(n int) map[string]int {
		got := map[string]int{}
		for i := 0; i < n; i++ {
			res := send(t, c, front, "GET", host, "/", "")
			if res.status != 200 {
				t.Fatalf("request %d: %d %q", i, res.status, res.body)
			}
			got[res.body]++
		}
		return got
	}
	if got := count(400); got["a"] != 100 || got["b"] != 300 || got["z"] != 0 {
		t.Fatalf("weights 1:3:0 over 400 requests gave %v, want a=100 b=300 z=0", got)
	}
	// In-flight ends when the proxy has finished with the body, which may be
	// just after the client has it.
	waitFor(t, 5*time.Second, "no request in flight", func() bool { return mustStats(t, r, "alice", "web").InFlight == 0 })
	st := mustStats(t, r, "alice", "web")
	if ta, _ := st.Target(a.addr); ta.Requests != 100 {
		t.Fatalf("target a counted %d requests, want 100", ta.Requests)
	}
	if st.Requests != 400 || st.InFlight != 0 || st.Responses5xx != 0 {
		t.Fatalf("group totals = %+v, want 400 requests, none in flight, no 5xx", st)
	}

	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}, {b.addr, 1}, {z.addr, 2}}})
	got := count(400)
	for name, want := range map[string]int{"a": 100, "b": 100, "z": 200} {
		if d := got[name] - want; d < -2 || d > 2 {
			t.Fatalf("weights 1:1:2 over 400 requests gave %v, want about a=100 b=100 z=200", got)
		}
	}
}

func TestRouter_DrainsBeforeRemovingTarget(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	c := newTestClient(t)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	// b is checked but takes no traffic yet, so the slow request lands on a.
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}, {b.addr, 0}}})
	waitHealthy(t, r, "alice", "web", a.addr, b.addr)

	slow := make(chan result, 1)
	go func() {
		res, err := trySend(c, front.URL, "GET", host, "/slow", "")
		if err != nil {
			res = result{status: -1, body: err.Error()}
		}
		slow <- res
	}()
	select {
	case <-a.slowStarted:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request did not reach target a")
	}

	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{b.addr, 1}}})
	ta, ok := mustStats(t, r, "alice", "web").Target(a.addr)
	if !ok || ta.State != StateDraining || ta.InFlight != 1 {
		t.Fatalf("removed target a = %+v (listed %v), want draining with 1 in flight", ta, ok)
	}

	hitsA := a.hits.Load()
	for i := 0; i < 20; i++ {
		if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 || res.body != "b" {
			t.Fatalf("request %d while a drains: %d %q, want 200 from b", i, res.status, res.body)
		}
	}
	if a.hits.Load() != hitsA {
		t.Fatalf("draining target a got %d new requests", a.hits.Load()-hitsA)
	}
	select {
	case res := <-slow:
		t.Fatalf("in-flight request ended before it was released: %+v", res)
	default:
	}

	a.unblock()
	select {
	case res := <-slow:
		if res.status != 200 || res.body != "slow a" {
			t.Fatalf("in-flight request on the drained target: %d %q, want 200 \"slow a\"", res.status, res.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request did not finish")
	}
	waitDropped(t, r, "alice", "web", a.addr)

	// Dropped means no more health checks either.
	checks := a.checks.Load()
	time.Sleep(100 * time.Millisecond)
	if n := a.checks.Load() - checks; n > 1 {
		t.Fatalf("dropped target still gets health checks (%d more)", n)
	}
}

func TestRouter_DrainTimeoutCutsStuckRequests(t *testing.T) {
	opts := testOptions(t)
	opts.DrainTimeout = 200 * time.Millisecond
	r, front := mustNewRouter(t, opts)
	c := newTestClient(t)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}, {b.addr, 0}}})
	waitHealthy(t, r, "alice", "web", a.addr, b.addr)

	slow := make(chan result, 1)
	go func() {
		res, err := trySend(c, front.URL, "GET", host, "/slow", "")
		if err != nil {
			res = result{status: -1, body: err.Error()}
		}
		slow <- res
	}()
	<-a.slowStarted
	start := time.Now()
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{b.addr, 1}}})
	select {
	case res := <-slow:
		if res.status != http.StatusBadGateway || res.header.Get(ErrorHeader) != ReasonDrained {
			t.Fatalf("stuck request: %d %q, want 502 %s", res.status, res.body, ReasonDrained)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("stuck request cut after %s, before the drain timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stuck request was not cut after the drain timeout")
	}
	waitDropped(t, r, "alice", "web", a.addr)
}

func TestRouter_HealthGatedSwapKeepsOldTargetUntilNewIsHealthy(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	c := newTestClient(t)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}}})
	waitHealthy(t, r, "alice", "web", a.addr)

	b.healthy.Store(false)
	mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{b.addr, 1}}})
	waitFor(t, 5*time.Second, "checks of b", func() bool { return b.checks.Load() >= 3 })
	for i := 0; i < 10; i++ {
		if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 || res.body != "a" {
			t.Fatalf("while b is not healthy: %d %q, want 200 from a", res.status, res.body)
		}
	}
	if ta, _ := mustStats(t, r, "alice", "web").Target(a.addr); ta.State != StateStandby {
		t.Fatalf("a = %+v, want standby", ta)
	}

	b.healthy.Store(true)
	waitDropped(t, r, "alice", "web", a.addr)
	for i := 0; i < 10; i++ {
		if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 || res.body != "b" {
			t.Fatalf("after b turned healthy: %d %q, want 200 from b", res.status, res.body)
		}
	}
}

func TestRouter_ErrorPagesNameEnvironmentAndApp(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	c := newTestClient(t)
	api, web, sick := newBackend(t, "api"), newBackend(t, "web"), newBackend(t, "sick")
	sick.healthy.Store(false)
	if err := r.SetEnvironment("alice", ""); err != nil {
		t.Fatal(err)
	}
	mustSetGroup(t, r, "bob", "api", GroupSpec{Targets: []TargetSpec{{api.addr, 1}}})
	mustSetGroup(t, r, "bob", "web", GroupSpec{Targets: []TargetSpec{{web.addr, 1}}})
	mustSetGroup(t, r, "carol", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{sick.addr, 1}}})
	mustSetGroup(t, r, "dave", "web", GroupSpec{Targets: []TargetSpec{{deadAddr(t), 1}}})
	mustSetGroup(t, r, "erin", "web", GroupSpec{Targets: []TargetSpec{}})

	tests := []struct {
		name     string
		host     string
		accept   string
		status   int
		reason   string
		contains []string
	}{
		{name: "unknown environment", host: "web.zed.localhost", status: 404, reason: ReasonNoEnvironment,
			contains: []string{"no environment named zed", "list them with `spacepods pod list`"}},
		{name: "declared environment without apps", host: "web.alice.localhost", status: 404, reason: ReasonNoApp,
			contains: []string{"environment alice has no app named web; it has no apps yet"}},
		{name: "environment without that app lists its apps", host: "shop.bob.localhost", status: 404, reason: ReasonNoApp,
			contains: []string{"environment bob has no app named shop; it has: api, web", "spacepods pod show bob"}},
		{name: "no healthy target yet", host: "web.carol.localhost", status: 503, reason: ReasonNoHealthy,
			contains: []string{"app web in environment carol has no healthy target yet", "check `spacepods pod show carol`"}},
		{name: "no targets at all", host: "web.erin.localhost", status: 503, reason: ReasonNoHealthy,
			contains: []string{"app web in environment erin has no targets"}},
		{name: "all targets failing", host: "web.dave.localhost", status: 502, reason: ReasonTargetsFailing,
			contains: []string{"app web in environment dave is failing", "connection refused", "spacepods pod show dave"}},
		{name: "host outside the domain", host: "example.com", status: 404, reason: ReasonUnknownHost,
			contains: []string{"host example.com is not an app address", "<app>.<environment>.localhost"}},
		{name: "browsers get HTML", host: "shop.bob.localhost", accept: "text/html,application/xhtml+xml", status: 404, reason: ReasonNoApp,
			contains: []string{"<!doctype html>", "environment bob has no app named shop; it has: api, web",
				"<code>spacepods pod show bob</code>", "environment: <b>bob</b> · app: <b>shop</b>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept", tt.accept}
			}
			res := send(t, c, front, "GET", tt.host, "/", "", hdr...)
			if res.status != tt.status || res.header.Get(ErrorHeader) != tt.reason {
				t.Fatalf("got %d %s, want %d %s; body:\n%s", res.status, res.header.Get(ErrorHeader), tt.status, tt.reason, res.body)
			}
			wantType := "text/plain"
			if tt.accept != "" {
				wantType = "text/html"
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
				t.Fatalf("Content-Type = %q, want %s", ct, wantType)
			}
			for _, s := range tt.contains {
				if !strings.Contains(res.body, s) {
					t.Fatalf("page does not say %q:\n%s", s, res.body)
				}
			}
		})
	}

	t.Run("routed hosts still work, any case, any port", func(t *testing.T) {
		for _, h := range []string{"api.bob.localhost", "API.Bob.localhost:8080"} {
			if res := send(t, c, front, "GET", h, "/", ""); res.status != 200 || res.body != "api" {
				t.Fatalf("%s: %d %q, want 200 \"api\"", h, res.status, res.body)
			}
		}
	})
	t.Run("router errors are counted", func(t *testing.T) {
		if st := mustStats(t, r, "dave", "web"); st.RouterErrors == 0 || st.TransportErrors == 0 {
			t.Fatalf("dave/web stats = %+v, want router and transport errors counted", st)
		}
	})
}

func TestRouter_StreamsAndWebSockets(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))

	// Each stream case has its own backend: the backend holds the second
	// part until the test has read the first through the router.
	streams := []struct {
		name, path    string
		first, second string
	}{
		{name: "server-sent events arrive as they are sent", path: "/sse", first: "data: one\n\n", second: "data: two\n\n"},
		{name: "chunked response of unknown length arrives as written", path: "/stream", first: "part 1\n", second: "part 2\n"},
		{name: "known-length response is not held back", path: "/trickle", first: "hello", second: "world"},
	}
	for _, tt := range streams {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, "a")
			mustSetGroup(t, r, "alice", "stream", GroupSpec{Targets: []TargetSpec{{b.addr, 1}}})
			req, _ := http.NewRequest("GET", front.URL+tt.path, nil)
			req.Host = "stream.alice.localhost"
			resp, err := newTestClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			read := func(want string) {
				t.Helper()
				got := make(chan string, 1)
				go func() {
					buf := make([]byte, len(want))
					n, _ := io.ReadFull(resp.Body, buf)
					got <- string(buf[:n])
				}()
				select {
				case g := <-got:
					if g != want {
						t.Fatalf("read %q, want %q", g, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%q did not arrive while the backend held the rest: the router buffers", want)
				}
			}
			read(tt.first)
			close(b.next)
			read(tt.second)
		})
	}

	t.Run("websocket echo round-trips", func(t *testing.T) {
		b := newBackend(t, "a")
		mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{b.addr, 1}}})
		conn, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		keyBytes := make([]byte, 16)
		rand.Read(keyBytes)
		key := base64.StdEncoding.EncodeToString(keyBytes)
		fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", host, key)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
			t.Fatalf("handshake: %s, accept %q, want 101 with %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(key))
		}
		for _, msg := range []string{"hello router", strings.Repeat("x", 300)} {
			if err := writeFrame(conn, 1, []byte(msg), true); err != nil {
				t.Fatal(err)
			}
			op, payload, err := readFrame(br)
			if err != nil {
				t.Fatal(err)
			}
			if op != 1 || string(payload) != msg {
				t.Fatalf("echo = op %d %q, want text %q", op, payload, msg)
			}
		}
		if st := mustStats(t, r, "alice", "web"); st.InFlight != 1 {
			t.Fatalf("open websocket: in flight = %d, want 1", st.InFlight)
		}
		writeFrame(conn, 8, nil, true)
		if op, _, err := readFrame(br); err != nil || op != 8 {
			t.Fatalf("close echo: op %d, err %v", op, err)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after the close handshake the router should end the stream, got %v", err)
		}
		conn.Close()
		waitFor(t, 5*time.Second, "websocket no longer in flight", func() bool {
			return mustStats(t, r, "alice", "web").InFlight == 0
		})
	})
}

func TestRouter_RetriesIdempotentRequestOnDeadTarget(t *testing.T) {
	t.Run("never reachable target", func(t *testing.T) {
		r, front := mustNewRouter(t, testOptions(t))
		c := newTestClient(t)
		b := newBackend(t, "b")
		dead := deadAddr(t)
		mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{dead, 1}, {b.addr, 1}}})
		for i := 0; i < 20; i++ {
			if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 || res.body != "b" {
				t.Fatalf("GET %d: %d %q, want 200 from b", i, res.status, res.body)
			}
		}
		for i := 0; i < 10; i++ {
			body := fmt.Sprintf("payload-%d-%s", i, strings.Repeat("p", 1000))
			if res := send(t, c, front, "POST", host, "/echo", body); res.status != 200 || res.body != body {
				t.Fatalf("POST %d: %d, body intact %v; want 200 with the body echoed", i, res.status, res.body == body)
			}
		}
		st := mustStats(t, r, "alice", "web")
		td, _ := st.Target(dead)
		if td.TransportErrors < 10 || st.RouterErrors != 0 {
			t.Fatalf("dead target errors = %d, router errors = %d; want >= 10 retried attempts and no failed request",
				td.TransportErrors, st.RouterErrors)
		}
	})

	t.Run("target dies after its health check passed", func(t *testing.T) {
		opts := testOptions(t)
		opts.HealthInterval = time.Hour // only the first check: the router cannot know it died
		r, front := mustNewRouter(t, opts)
		c := newTestClient(t)
		a, b := newBackend(t, "a"), newBackend(t, "b")
		mustSetGroup(t, r, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 1}, {b.addr, 1}}})
		waitHealthy(t, r, "alice", "web", a.addr, b.addr)
		for i := 0; i < 4; i++ { // warm keep-alive connections to both
			send(t, c, front, "GET", host, "/", "")
		}
		a.close()
		for i := 0; i < 20; i++ {
			if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 || res.body != "b" {
				t.Fatalf("GET %d after a died: %d %q, want 200 from b", i, res.status, res.body)
			}
		}
		ta, _ := mustStats(t, r, "alice", "web").Target(a.addr)
		if ta.Healthy || ta.TransportErrors == 0 {
			t.Fatalf("dead target = %+v, want marked unhealthy by refused connections", ta)
		}
	})

	t.Run("non-idempotent request is not retried once sent", func(t *testing.T) {
		if retryable(httptestRequest("POST", "x"), &reusableBody{}, io.ErrUnexpectedEOF) {
			t.Fatal("a POST whose body may have been sent must not be retried")
		}
		if !retryable(httptestRequest("GET", ""), nil, io.ErrUnexpectedEOF) {
			t.Fatal("a bodiless GET must be retried")
		}
		if !retryable(httptestRequest("POST", "x"), &reusableBody{}, &net.OpError{Op: "dial", Err: io.EOF}) {
			t.Fatal("a POST that never reached the target must be retried")
		}
	})
}

func httptestRequest(method, body string) *http.Request {
	req, _ := http.NewRequest(method, "http://x/", strings.NewReader(body))
	return req
}

func TestRouter_SnapshotSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SnapshotFile)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	opts := testOptions(t)
	opts.SnapshotPath = path

	r1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.SetEnvironment("alice", ""); err != nil {
		t.Fatal(err)
	}
	mustSetGroup(t, r1, "bob", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{a.addr, 2}, {b.addr, 1}}})
	mustSetGroup(t, r1, "bob", "api", GroupSpec{Targets: []TargetSpec{{b.addr, 1}}})
	if err := r1.DeleteGroup("bob", "api"); err != nil {
		t.Fatal(err)
	}
	r1.Close()

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no snapshot written: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot mode = %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d files, want only the snapshot (no temp files left)", len(entries))
	}
	var s snapshot
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("snapshot is not JSON: %v", err)
	}

	r2, front := mustNewRouter(t, opts)
	if got := r2.Environments(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("environments after restart = %v, want [alice bob]", got)
	}
	st := mustStats(t, r2, "bob", "web")
	if st.HealthPath != "/healthz" || len(st.Targets) != 2 || st.Targets[0].Addr != a.addr || st.Targets[0].Weight != 2 || st.Targets[1].Weight != 1 {
		t.Fatalf("group after restart = %+v, want /healthz with a:2 b:1", st)
	}
	if _, err := r2.Stats("bob", "api"); err == nil {
		t.Fatal("deleted group came back after restart")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r2.WaitChecked(ctx); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t)
	if res := send(t, c, front, "GET", "web.bob.localhost", "/", ""); res.status != 200 {
		t.Fatalf("restored route: %d %q, want 200", res.status, res.body)
	}
	if res := send(t, c, front, "GET", "web.alice.localhost", "/", ""); res.status != 404 || res.header.Get(ErrorHeader) != ReasonNoApp {
		t.Fatalf("restored empty environment: %d %s, want 404 %s", res.status, res.header.Get(ErrorHeader), ReasonNoApp)
	}
}

func TestRouter_UnreadableSnapshotIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SnapshotFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t)
	opts.SnapshotPath = path
	r, _ := mustNewRouter(t, opts)
	if n := len(r.Groups()); n != 0 {
		t.Fatalf("groups = %d, want an empty table", n)
	}
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("corrupt snapshot not kept aside: %v", moved)
	}
	if err := r.SetEnvironment("alice", ""); err != nil {
		t.Fatalf("router cannot write a new snapshot: %v", err)
	}
}

func TestRouter_RemoveEnvironmentDeletesItsGroups(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	b := newBackend(t, "a")
	mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{b.addr, 1}}})
	mustSetGroup(t, r, "bob", "web", GroupSpec{Targets: []TargetSpec{{b.addr, 1}}})
	if err := r.RemoveEnvironment("alice"); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t)
	if res := send(t, c, front, "GET", host, "/", ""); res.status != 404 || res.header.Get(ErrorHeader) != ReasonNoEnvironment {
		t.Fatalf("removed environment: %d %s, want 404 %s", res.status, res.header.Get(ErrorHeader), ReasonNoEnvironment)
	}
	if res := send(t, c, front, "GET", "web.bob.localhost", "/", ""); res.status != 200 {
		t.Fatalf("other environment: %d, want 200", res.status)
	}
	if got := r.Environments(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("environments = %v, want [bob]", got)
	}
}
