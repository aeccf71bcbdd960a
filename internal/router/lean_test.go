package router

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// headBackend answers with the head of the request it got, in a stable
// order, and an answer with hop-by-hop headers and a trailer.
func headBackend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var lines []string
		for k, vv := range req.Header {
			lines = append(lines, k+": "+strings.Join(vv, " | "))
		}
		slices.Sort(lines)
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not pass")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept", "yes")
		w.Header().Set("Trailer", "X-Sum")
		fmt.Fprintf(w, "%s %s host=%s\n%s\n", req.Method, req.RequestURI, req.Host, strings.Join(lines, "\n"))
		w.Header().Set("X-Sum", "42")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// TestLean_SendsAndAnswersLikeReverseProxy: for requests the lean path
// takes, the target sees the same request and the client the same answer
// (status, header, body, trailer) as through httputil.ReverseProxy.
func TestLean_SendsAndAnswersLikeReverseProxy(t *testing.T) {
	r, _ := mustNewRouter(t, testOptions(t))
	be, _ := headBackend(t)
	mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{be.Listener.Addr().String(), 1}}})
	waitHealthy(t, r, "alice", "web", be.Listener.Addr().String())
	r.mu.RLock()
	gp := r.groups[groupKey{"alice", "web"}].proxy.(*groupProxy)
	r.mu.RUnlock()

	for _, tc := range []struct{ method, target string }{
		{"GET", "/a/b%20c?x=1&y=%41"},
		{"HEAD", "/head"},
		{"OPTIONS", "/opt"},
	} {
		newReq := func() *http.Request {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			req.Host = host
			req.RemoteAddr = "192.0.2.7:5555"
			req.Header.Set("Connection", "keep-alive")
			req.Header.Set("Keep-Alive", "timeout=5")
			req.Header.Set("Te", "trailers, deflate")
			req.Header.Set("X-Forwarded-For", "203.0.113.1") // forged: replaced
			req.Header.Set("Proxy-Authorization", "secret")
			req.Header["X-Multi"] = []string{"one", "two"}
			req.Header.Set("Accept", "*/*")
			return req
		}
		if !leanable(newReq()) {
			t.Fatalf("%s %s: not on the lean path", tc.method, tc.target)
		}
		viaRP, viaLean := httptest.NewRecorder(), httptest.NewRecorder()
		gp.rp.ServeHTTP(viaRP, newReq())
		gp.ServeHTTP(viaLean, newReq())
		a, b := viaRP.Result(), viaLean.Result()
		ab, _ := io.ReadAll(a.Body)
		bb, _ := io.ReadAll(b.Body)
		if a.StatusCode != b.StatusCode || string(ab) != string(bb) {
			t.Errorf("%s %s:\nReverseProxy %d %q\nlean         %d %q", tc.method, tc.target, a.StatusCode, ab, b.StatusCode, bb)
		}
		a.Header.Del("Date")
		b.Header.Del("Date")
		if fmt.Sprint(a.Header) != fmt.Sprint(b.Header) || fmt.Sprint(a.Trailer) != fmt.Sprint(b.Trailer) {
			t.Errorf("%s %s: answers differ:\nReverseProxy %v trailer %v\nlean         %v trailer %v", tc.method, tc.target, a.Header, a.Trailer, b.Header, b.Trailer)
		}
		if tc.method == "GET" && (!strings.Contains(string(bb), "X-Forwarded-For: 192.0.2.7\n") || strings.Contains(string(bb), "secret") || b.Header.Get("X-Hop") != "" || b.Trailer.Get("X-Sum") != "42") {
			t.Errorf("GET: unexpected request or answer: %q, header %v, trailer %v", bb, b.Header, b.Trailer)
		}
	}
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/", strings.NewReader("x")),
		httptest.NewRequest("DELETE", "/", nil),
		httptest.NewRequest("GET", "/?a=1;b=2", nil),
		func() *http.Request {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Connection", "X-Custom")
			return req
		}(),
		func() *http.Request {
			req := httptest.NewRequest("GET", "/ws", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			return req
		}(),
	} {
		if leanable(req) {
			t.Errorf("%s %s (Connection %q) would take the lean path", req.Method, req.URL, req.Header.Get("Connection"))
		}
	}
}

// TestLean_KeepsConnectionsAndResendsOnAClosedOne: sequential requests
// share one connection to the target; when the target has closed it (its
// idle timeout, a restart), the next request is sent again on a new one
// and succeeds, counted as no error.
func TestLean_KeepsConnectionsAndResendsOnAClosedOne(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	be, conns := headBackend(t)
	addr := be.Listener.Addr().String()
	mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{addr, 1}}})
	waitHealthy(t, r, "alice", "web", addr)
	c := newTestClient(t)
	for i := 0; i < 20; i++ {
		if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 {
			t.Fatalf("request %d: %d %q", i, res.status, res.body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential requests opened %d connections to the target, want 1", n)
	}
	be.CloseClientConnections() // the router's pooled connection is now closed by the target
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if res := send(t, c, front, "GET", host, "/", ""); res.status != 200 {
			t.Fatalf("after the target closed the connection: %d %q", res.status, res.body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections to the target, want 2 (one resent)", n)
	}
	if st := mustStats(t, r, "alice", "web"); st.TransportErrors != 0 || st.RouterErrors != 0 {
		t.Fatalf("errors counted: %+v", st)
	}
}

// TestLean_ClientLeavingCutsTheRequest: a client that goes away while the
// target is still answering (its head late, or its body still streaming)
// ends the target's request too, and the request is no longer counted in
// flight.
func TestLean_ClientLeavingCutsTheRequest(t *testing.T) {
	for _, path := range []string{"/slow", "/sse"} {
		t.Run(path, func(t *testing.T) {
			r, front := mustNewRouter(t, testOptions(t))
			be := newBackend(t, "a")
			t.Cleanup(func() { close(be.next) }) // a stream still open ends before its server closes
			var ended atomic.Bool
			inner := be.Config.Handler
			be.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				inner.ServeHTTP(w, req)
				if req.URL.Path == path && req.Context().Err() != nil {
					ended.Store(true)
				}
			})
			mustSetGroup(t, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{be.addr, 1}}})
			waitHealthy(t, r, "alice", "web", be.addr)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+path, nil)
			req.Host = host
			errc := make(chan error, 1)
			go func() {
				resp, err := newTestClient(t).Do(req)
				if err == nil {
					defer resp.Body.Close()
					buf := make([]byte, len("data: one\n\n"))
					_, err = io.ReadFull(resp.Body, buf)
					if err == nil {
						be.slowStarted <- struct{}{} // the first event came through
						_, err = io.ReadAll(resp.Body)
					}
				}
				errc <- err
			}()
			select {
			case <-be.slowStarted:
			case <-time.After(5 * time.Second):
				t.Fatal("the request did not reach the target")
			}
			cancel()
			if err := <-errc; err == nil {
				t.Fatal("the canceled request succeeded")
			}
			waitFor(t, 5*time.Second, "the target's request to end and nothing in flight", func() bool {
				return ended.Load() && mustStats(t, r, "alice", "web").InFlight == 0
			})
		})
	}
}

func TestIsHopHeader_NamesReverseProxysList(t *testing.T) {
	for _, k := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		if !isHopHeader(k) {
			t.Errorf("isHopHeader(%q) = false", k)
		}
	}
	for _, k := range []string{"Host", "Accept", "X-Forwarded-For", "Content-Length"} {
		if isHopHeader(k) {
			t.Errorf("isHopHeader(%q) = true", k)
		}
	}
}
