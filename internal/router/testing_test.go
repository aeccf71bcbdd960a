package router

// Shared test helpers (CONVENTIONS.md item 11). They live in a _test file so
// that the testing package never ends up in the router binary.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/testenv"
)

// testOptions are fast defaults for tests: checks every 20 ms.
func testOptions(t testing.TB) Options {
	return Options{
		HealthInterval: 20 * time.Millisecond,
		HealthTimeout:  time.Second,
		DrainTimeout:   5 * time.Second,
		Logger:         testLogger(t),
	}
}

// testLogger collects the router's logs and prints them only if the test fails.
func testLogger(t testing.TB) *slog.Logger {
	return testenv.Logger(t, "router log", slog.LevelDebug)
}

// mustNewRouter starts a router and an HTTP front for it on 127.0.0.1.
func mustNewRouter(t testing.TB, opts Options) (*Router, *httptest.Server) {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatalf("new router: %v", err)
	}
	front := httptest.NewServer(r)
	t.Cleanup(front.Close)
	t.Cleanup(func() { r.Close() }) // runs first: cuts requests still running
	return r, front
}

// backend is a test app on 127.0.0.1. Its routes:
//
//	/healthz   200 while healthy, else 503
//	/slow      blocks until release (or the request ends)
//	/sleep?ms= sleeps, then answers
//	/echo      answers with the request body
//	/sse       server-sent events: "one", then "two" after next is closed
//	/stream    chunked text of unknown length: "part 1", then "part 2" after next is closed
//	/trickle   "hello" then "world" after next is closed, with Content-Length 10
//	/ws        WebSocket echo on a hijacked connection
//	anything   answers with the backend's name
type backend struct {
	*httptest.Server
	name    string
	addr    string
	healthy atomic.Bool
	checks  atomic.Int64 // health checks received
	hits    atomic.Int64 // other requests received

	slowStarted chan struct{} // gets a value when a /slow request arrives
	release     chan struct{} // closed to let /slow requests finish
	next        chan struct{} // closed to send the second server-sent event
	closeOnce   sync.Once
	releaseOnce sync.Once
}

func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	b := &backend{
		name:        name,
		slowStarted: make(chan struct{}, 16),
		release:     make(chan struct{}),
		next:        make(chan struct{}),
	}
	b.healthy.Store(true)
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	b.addr = b.Listener.Addr().String()
	t.Cleanup(b.close)
	return b
}

// unblock lets /slow requests finish.
func (b *backend) unblock() { b.releaseOnce.Do(func() { close(b.release) }) }

// close lets blocked requests finish and stops the server.
func (b *backend) close() {
	b.closeOnce.Do(func() {
		b.unblock()
		b.Server.Close()
	})
}

func (b *backend) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/healthz" {
		b.checks.Add(1)
		if !b.healthy.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
		return
	}
	b.hits.Add(1)
	w.Header().Set("X-Backend", b.name)
	switch req.URL.Path {
	case "/slow":
		b.slowStarted <- struct{}{}
		select {
		case <-b.release:
		case <-req.Context().Done():
			return
		}
		io.WriteString(w, "slow "+b.name)
	case "/sleep":
		ms, _ := strconv.Atoi(req.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, b.name)
	case "/echo":
		data, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(data)
	case "/sse":
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-b.next:
		case <-req.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	case "/stream", "/trickle":
		first, second := "part 1\n", "part 2\n"
		if req.URL.Path == "/trickle" {
			first, second = "hello", "world"
			w.Header().Set("Content-Length", "10")
		}
		io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-b.next:
		case <-req.Context().Done():
			return
		}
		io.WriteString(w, second)
	case "/ws":
		serveWebSocketEcho(w, req)
	default:
		io.WriteString(w, b.name)
	}
}

// deadAddr returns a loopback address on which nothing listens.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newTestClient returns a keep-alive HTTP client that never uses a proxy.
func newTestClient(t testing.TB) *http.Client {
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// result is one answer through the router.
type result struct {
	status int
	body   string
	header http.Header
}

// send sends a request for host through the router front.
func send(t testing.TB, c *http.Client, front *httptest.Server, method, host, path, body string, hdr ...string) result {
	t.Helper()
	res, err := trySend(c, front.URL, method, host, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	return res
}

func trySend(c *http.Client, frontURL, method, host, path, body string, hdr ...string) (result, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, frontURL+path, rd)
	if err != nil {
		return result{}, err
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{status: resp.StatusCode, body: string(data), header: resp.Header}, nil
}

func mustSetGroup(t testing.TB, r *Router, env, app string, spec GroupSpec) {
	t.Helper()
	if err := r.SetGroup(env, app, spec); err != nil {
		t.Fatalf("set group %s/%s: %v", env, app, err)
	}
}

func mustStats(t testing.TB, r *Router, env, app string) GroupStatus {
	t.Helper()
	st, err := r.Stats(env, app)
	if err != nil {
		t.Fatalf("stats %s/%s: %v", env, app, err)
	}
	return st
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHealthy waits until every addr is a healthy target of env/app.
func waitHealthy(t testing.TB, r *Router, env, app string, addrs ...string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%v healthy in %s/%s", addrs, env, app), func() bool {
		st, err := r.Stats(env, app)
		return err == nil && st.AllHealthy(addrs...)
	})
}

// waitDropped waits until addr is no longer listed in env/app (drained and dropped).
func waitDropped(t testing.TB, r *Router, env, app, addr string) {
	t.Helper()
	waitFor(t, 10*time.Second, addr+" dropped from "+env+"/"+app, func() bool {
		st, err := r.Stats(env, app)
		if err != nil {
			return true
		}
		_, ok := st.Target(addr)
		return !ok
	})
}

// --- a minimal WebSocket (RFC 6455) for tests, on raw connections ---

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// serveWebSocketEcho completes the handshake by hand and echoes every frame
// until a close frame arrives.
func serveWebSocketEcho(w http.ResponseWriter, req *http.Request) {
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "websocket upgrade expected", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wsAccept(req.Header.Get("Sec-WebSocket-Key")))
	if rw.Flush() != nil {
		return
	}
	for {
		op, payload, err := readFrame(rw.Reader)
		if err != nil {
			return
		}
		if err := writeFrame(rw.Writer, op, payload, false); err != nil || rw.Flush() != nil {
			return
		}
		if op == 8 { // close
			return
		}
	}
}

// writeFrame writes one final frame; clients must mask, servers must not.
func writeFrame(w io.Writer, op byte, payload []byte, mask bool) error {
	var hdr []byte
	hdr = append(hdr, 0x80|op)
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, m|byte(n))
	default:
		hdr = append(hdr, m|126, byte(n>>8), byte(n))
	}
	data := payload
	if mask {
		key := []byte{0x12, 0x34, 0x56, 0x78}
		hdr = append(hdr, key...)
		data = make([]byte, len(payload))
		for i := range payload {
			data[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(hdr, data...))
	return err
}

// readFrame reads one frame (payloads below 64 KiB), unmasking if needed.
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err = io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	} else if n == 127 {
		return 0, nil, fmt.Errorf("frame too large for the test helper")
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, nil
}
