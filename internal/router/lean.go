package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// targetPool is the connection pool of one target. Bodiless GET, HEAD and
// OPTIONS requests (most of the traffic) take the lean path: an HTTP/1.1
// exchange run on the calling goroutine over a pooled connection. Every other
// request (bodies, upgrades, other methods) goes through a standard
// http.Transport, which keeps its semantics for them: uploads read while the
// response comes, 100-continue, retries only when nothing was sent.
//
// Why: with http.Transport every request hops between three goroutines (the
// caller, the connection's writer and its reader), and in the profile of the
// router under load those hand-offs, their selects and the scheduler cost
// more of the router's CPU than the proxying itself (docs/benchmarks.md).
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
	bw     *bufio.Writer
	idleAt time.Time
	reused bool
}

// leanable reports whether req may take the lean path: no body to stream
// (so a request sent on a connection the target had just closed can be sent
// again) and an idempotent method (so sending it again is safe).
func leanable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	_, upgrade := req.Header["Upgrade"]
	return !upgrade
}

// RoundTrip sends req to the pool's target.
func (p *targetPool) RoundTrip(req *http.Request) (*http.Response, error) {
	if !leanable(req) {
		return p.std.RoundTrip(req)
	}
	ctx := req.Context()
	fresh := false
	for {
		c, err := p.get(ctx, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		var stale staleError
		if !errors.As(err, &stale) || fresh || ctx.Err() != nil {
			return nil, err
		}
		// The target closed a kept-alive connection before answering (its
		// idle timeout, a restart): nothing was received, so send the
		// request again on a new connection, as http.Transport does.
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
	return &leanConn{p: p, nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
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

// roundTrip sends req on c and reads the head of the answer. The body is
// read by the caller; c goes back to the pool when the body has been read to
// its end, or is closed when the body is closed early.
func (c *leanConn) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// A client that goes away cuts the exchange: the deadline fails the
	// pending read or write, and the connection is not reused.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.nc.Close() // best-effort cleanup; nothing useful to do on failure
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}

	writeRequestHead(c.bw, req)
	if err := c.bw.Flush(); err != nil {
		if c.reused {
			return fail(staleError{err})
		}
		return fail(err)
	}
	if _, err := c.br.Peek(1); err != nil {
		if c.reused {
			return fail(staleError{err})
		}
		return fail(err)
	}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// An interim answer (103 Early Hints): passed on if the caller
		// listens (ReverseProxy does), then the final answer follows.
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return fail(err)
			}
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Not sent by the lean path (it takes no upgrades); never reuse.
		return fail(errors.New("unexpected 101 Switching Protocols to a request without Upgrade"))
	}
	resp.Body = &leanBody{rc: resp.Body, c: c, stop: stop, reuse: !resp.Close}
	return resp, nil
}

// leanBody returns its connection to the pool at the end of the body.
type leanBody struct {
	rc    io.ReadCloser
	c     *leanConn
	stop  func() bool
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
	if b.stop() && complete && b.reuse && b.c.br.Buffered() == 0 {
		b.c.p.put(b.c)
		return
	}
	_ = b.c.nc.Close() // best-effort cleanup; nothing useful to do on failure
}

// writeRequestHead writes the head of a bodiless request, as http.Request.Write
// would: the request line, Host, then the header. A User-Agent set to ""
// (ReverseProxy's way of sending none) is left out.
func writeRequestHead(w *bufio.Writer, req *http.Request) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(headerValue(host))
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			continue // framing is ours; hop-by-hop headers are gone already
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" {
				continue
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(headerValue(v))
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
}

// headerValue keeps a header value on its line, as http.Header.Write does.
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}
