package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"time"
)

// targetPool is the connection pool of one target. Bodiless GET, HEAD and
// OPTIONS requests (most of the traffic) take the lean path (groupProxy): an
// HTTP/1.1 exchange run on the handler's goroutine over a pooled connection.
// Every other request (bodies, upgrades, other methods, anything unusual)
// goes through httputil.ReverseProxy and a standard http.Transport, which
// keep their semantics for them: uploads read while the answer comes,
// 100-continue, WebSockets, retries only when nothing was sent.
//
// Why: with ReverseProxy and http.Transport every request is cloned, its
// header copied and pruned, a flush timer started, and the request hops
// between three goroutines (the handler, the connection's writer and its
// reader). In the profile of the router under load that cost more of the
// router's CPU than the proxying itself (docs/benchmarks.md, edge router).
type targetPool struct {
	addr string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	std  *http.Transport // requests the lean path does not take

	mu     sync.Mutex
	idle   []*leanConn // most recently used last
	closed bool
}

// Limits of a pool's idle connections (the lean ones and the transport's).
const (
	maxIdlePerTarget = 1024
	idleConnTimeout  = 90 * time.Second
)

func newTargetPool(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *targetPool {
	return &targetPool{addr: addr, dial: dial, std: newTransport(dial)}
}

// leanConn is one connection of the lean path.
type leanConn struct {
	p      *targetPool
	nc     net.Conn
	br     *bufio.Reader
	head   []byte // the request head being sent, kept for the next
	idleAt time.Time
	reused bool
}

// RoundTrip sends a request of ReverseProxy's path to the target.
func (p *targetPool) RoundTrip(req *http.Request) (*http.Response, error) {
	return p.std.RoundTrip(req)
}

// lean sends the inbound request in to the target as a proxy does (see
// appendProxiedHead) and reads the head of the answer; on1xx gets interim
// answers (103 Early Hints).
func (p *targetPool) lean(in *http.Request, on1xx func(int, http.Header)) (*http.Response, error) {
	ctx := in.Context()
	fresh := false
	for {
		c, err := p.get(ctx, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(in, on1xx)
		if err == nil {
			return resp, nil
		}
		var stale staleError
		if !errors.As(err, &stale) || fresh || ctx.Err() != nil {
			return nil, err
		}
		// The target closed a kept-alive connection before answering (its
		// idle timeout, a restart): nothing came back and the request is
		// idempotent, so send it again on a new connection, as
		// http.Transport does.
		fresh = true
	}
}

// closeIdle closes the idle connections; with closePool (the target is
// dropped), connections that come back later are closed too.
func (p *targetPool) closeIdle(closePool bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if closePool {
		p.closed = true
	}
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close() // best-effort cleanup; nothing useful to do on failure
	}
	p.std.CloseIdleConnections()
}

// get returns an idle connection, or a new one if there is none or fresh is
// set.
func (p *targetPool) get(ctx context.Context, fresh bool) (*leanConn, error) {
	if !fresh {
		var expired []*leanConn
		p.mu.Lock()
		var c *leanConn
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			if time.Since(c.idleAt) > idleConnTimeout {
				// The newest is too old: so are all the others.
				expired = append(p.idle, c)
				p.idle, c = nil, nil
			}
		}
		p.mu.Unlock()
		for _, x := range expired {
			_ = x.nc.Close() // best-effort cleanup; nothing useful to do on failure
		}
		if c != nil {
			c.reused = true
			return c, nil
		}
	}
	nc, err := p.dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &leanConn{p: p, nc: nc, br: bufio.NewReaderSize(nc, 16<<10), head: make([]byte, 0, 1<<10)}, nil
}

// put keeps c for the next request, or closes it if the pool is closed or full.
func (p *targetPool) put(c *leanConn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerTarget {
		p.mu.Unlock()
		_ = c.nc.Close() // best-effort cleanup; nothing useful to do on failure
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// staleError is a failure on a reused connection before any byte of the
// answer came back.
type staleError struct{ err error }

func (e staleError) Error() string { return e.err.Error() }
func (e staleError) Unwrap() error { return e.err }

// aLongTimeAgo is a deadline in the past: setting it fails pending I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends in on c and reads the head of the answer. The body is
// read by the caller; c goes back to the pool when the body has been read to
// its end, or is closed when the body is closed early.
func (c *leanConn) roundTrip(in *http.Request, on1xx func(int, http.Header)) (*http.Response, error) {
	ctx := in.Context()
	// A client that goes away cuts the exchange: the deadline set then fails
	// the pending read, and the connection is not reused. Watching the
	// client's context costs more than most answers take, so it starts only
	// when the answer's head is late or its body still has to come.
	w := &cutWatch{c: c}
	fail := func(err error) (*http.Response, error) {
		w.stop()
		_ = c.nc.Close() // best-effort cleanup; nothing useful to do on failure
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	c.head = appendProxiedHead(c.head[:0], in)
	if _, err := c.nc.Write(c.head); err != nil {
		if c.reused {
			return fail(staleError{err})
		}
		return fail(err)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(headWait))
	_, err := c.br.Peek(1)
	_ = c.nc.SetReadDeadline(time.Time{}) // before watching: a cut sets a deadline of its own
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.start(ctx)
		_, err = c.br.Peek(1)
	}
	if err != nil {
		if c.reused {
			return fail(staleError{err})
		}
		return fail(err)
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, in)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		w.start(ctx)                        // the final answer may take a while
		on1xx(resp.StatusCode, resp.Header) // then the final answer follows
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The lean path sends no Upgrade, so this is the target's error.
		return fail(errors.New("unexpected 101 Switching Protocols to a request without Upgrade"))
	}
	if resp.ContentLength < 0 || int64(c.br.Buffered()) < resp.ContentLength {
		w.start(ctx) // reading the body will wait on the target
	}
	resp.Body = &leanBody{rc: resp.Body, c: c, w: w, reuse: !resp.Close}
	return resp, nil
}

// headWait is how long the lean path waits for the head of an answer before
// it watches the client's context.
const headWait = 20 * time.Millisecond

// cutWatch cuts a lean exchange when the client's context ends, once started.
type cutWatch struct {
	c    *leanConn
	halt func() bool // nil until started
}

func (w *cutWatch) start(ctx context.Context) {
	if w.halt == nil {
		w.halt = context.AfterFunc(ctx, func() { _ = w.c.nc.SetDeadline(aLongTimeAgo) })
	}
}

// stop ends the watch and reports whether the exchange was left uncut.
func (w *cutWatch) stop() bool {
	if w.halt == nil {
		return true
	}
	return w.halt()
}

// leanBody returns its connection to the pool at the end of the body.
type leanBody struct {
	rc    io.ReadCloser
	c     *leanConn
	w     *cutWatch
	reuse bool
	done  bool
}

func (b *leanBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.end(true)
	} else if err != nil {
		b.end(false)
	}
	return n, err
}

func (b *leanBody) Close() error {
	if !b.done {
		b.end(false) // closed early: the rest of the body is still on the wire
	}
	return nil
}

// end hands the connection back (read to its end, kept alive, not cut by the
// client's leaving) or closes it.
func (b *leanBody) end(complete bool) {
	b.done = true
	if b.w.stop() && complete && b.reuse && b.c.br.Buffered() == 0 {
		b.c.p.put(b.c)
		return
	}
	_ = b.c.nc.Close() // best-effort cleanup; nothing useful to do on failure
}

// pending reports whether more of the body has already arrived.
func (b *leanBody) pending() bool { return !b.done && b.c.br.Buffered() > 0 }

// isHopHeader reports whether the canonical header name k is a hop-by-hop
// header (RFC 9110 7.6.1, and those ReverseProxy drops): not passed on.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// leanable reports whether the inbound request in may take the lean path:
// no body (so a request sent on a connection the target had just closed can
// be sent again), an idempotent method (so sending it again is safe), no
// upgrade, no Connection header naming other headers, and a query that
// ReverseProxy would pass on as it is. Everything else goes through
// ReverseProxy.
func leanable(in *http.Request) bool {
	if in.Body != nil && in.Body != http.NoBody {
		return false
	}
	switch in.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	if _, upgrade := in.Header["Upgrade"]; upgrade {
		return false
	}
	for _, v := range in.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if !strings.EqualFold(tok, "keep-alive") && !strings.EqualFold(tok, "close") && tok != "" {
				return false
			}
		}
	}
	return plainQuery(in.URL.RawQuery)
}

// plainQuery reports whether q has no ';' and only well-formed escapes
// (ReverseProxy re-encodes any other query) and not too many parameters.
func plainQuery(q string) bool {
	if strings.Count(q, "&") >= 1000 {
		return false
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendProxiedHead appends the head of the bodiless request in as
// ReverseProxy (with the group's Rewrite) and http.Transport would send it:
// the request line, the client's Host, its header without hop-by-hop and
// forwarding headers, "Te: trailers" if the client accepts trailers, and
// X-Forwarded-For, -Host and -Proto set by the router.
func appendProxiedHead(b []byte, in *http.Request) []byte {
	b = append(b, in.Method...)
	b = append(b, ' ')
	b = append(b, in.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, headerValue(in.Host)...)
	b = append(b, "\r\n"...)
	trailers := false
	for k, vv := range in.Header {
		switch {
		case k == "Te":
			for _, v := range vv {
				trailers = trailers || hasToken(v, "trailers")
			}
			continue
		case isHopHeader(k):
			continue
		}
		switch k {
		case "Host", "Content-Length", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue // framing is ours; forwarding headers are the router's
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, headerValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if trailers {
		b = append(b, "Te: trailers\r\n"...)
	}
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		b = append(b, "X-Forwarded-For: "...)
		b = append(b, ip...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Forwarded-Host: "...)
	b = append(b, headerValue(in.Host)...)
	if in.TLS == nil {
		return append(b, "\r\nX-Forwarded-Proto: http\r\n\r\n"...)
	}
	return append(b, "\r\nX-Forwarded-Proto: https\r\n\r\n"...)
}

func hasToken(v, token string) bool {
	for tok := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(tok), token) {
			return true
		}
	}
	return false
}

// headerValue keeps a header value on its line, as http.Header.Write does.
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// groupProxy is the handler of one group: the lean path for the requests
// it can take, ReverseProxy for the rest.
type groupProxy struct {
	r  *Router
	g  *group
	gt *groupTransport
	rp *httputil.ReverseProxy
}

func (gp *groupProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !leanable(req) {
		gp.rp.ServeHTTP(w, req)
		return
	}
	on1xx := func(code int, h http.Header) {
		dst := w.Header()
		copyHeader(dst, h)
		w.WriteHeader(code)
		clear(dst) // WriteHeader keeps a 1xx's header for the final answer otherwise
	}
	resp, err := gp.gt.send(req, nil, func(t *target) (*http.Response, error) { return t.transport.lean(req, on1xx) })
	if err != nil {
		gp.r.proxyError(gp.g, w, req, err)
		return
	}
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	copyHeader(w.Header(), resp.Header)
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		w.Header().Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	if err := gp.copyBody(w, resp); err != nil {
		// Only a cut connection tells the client that the answer is
		// incomplete (ReverseProxy does the same).
		panic(http.ErrAbortHandler)
	}
	if err := resp.Body.Close(); err != nil { // fills resp.Trailer
		panic(http.ErrAbortHandler)
	}
	if len(resp.Trailer) > 0 {
		_ = http.NewResponseController(w).Flush() // chunked, so that trailers can follow; a failure shows on the trailers' write
		if len(resp.Trailer) == announced {
			copyHeader(w.Header(), resp.Trailer)
			return
		}
		for k, vv := range resp.Trailer {
			for _, v := range vv {
				w.Header().Add(http.TrailerPrefix+k, v)
			}
		}
	}
}

// copyBody copies the answer's body to the client. The flush policy: a
// stream (server-sent events, a body of unknown length) is flushed after
// every write, like ReverseProxy does; a body of known length is flushed
// whenever nothing more of it has arrived yet, so no byte waits for the
// next one, and a body that arrives whole goes out with the head in one
// write when the handler returns.
func (gp *groupProxy) copyBody(w http.ResponseWriter, resp *http.Response) error {
	var body *leanBody
	if tb, ok := resp.Body.(*trackedBody); ok {
		body, _ = tb.rc.(*leanBody)
	}
	stream := resp.ContentLength == -1 || isEventStream(resp.Header)
	buf := gp.r.buffers.Get()
	defer gp.r.buffers.Put(buf)
	rc := http.NewResponseController(w)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil { // #nosec G705 -- a proxy passes the target's body on as it is
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if stream || body == nil || !body.pending() {
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
	}
}

func isEventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// removeHopHeaders removes hop-by-hop headers and those the Connection
// header names from an answer.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				h.Del(tok)
			}
		}
	}
	for k := range h { // an answer has a few headers: cheaper than deleting each hop-by-hop name
		if isHopHeader(k) {
			delete(h, k)
		}
	}
}

// copyHeader adds src's values to dst.
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if dst[k] == nil {
			dst[k] = vv
			continue
		}
		dst[k] = append(dst[k], vv...)
	}
}
