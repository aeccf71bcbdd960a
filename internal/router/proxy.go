package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// newTransport makes the connection pool of one target. Keep-alive
// connections are plentiful so that a busy target does not pay a TCP
// handshake per request.
func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // never send target traffic through an outbound proxy
		DialContext:           dial,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass bodies through as the target sends them
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// bufferPool hands io.CopyBuffer its buffers so a proxied body costs no allocation.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (bp *bufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

// flushInterval bounds how long a response with a known length may sit in the
// write buffer on ReverseProxy's path (the lean path flushes whenever nothing
// more of the body has arrived: groupProxy.copyBody). Streaming responses (server-sent events, and any body of
// unknown length: chunked, long polls) are flushed after every write anyway:
// ReverseProxy forces that for them. Flushing known-length responses after
// every write too (FlushInterval -1) costs a timer goroutine and up to two
// extra write syscalls per response: about a quarter of the router's CPU per
// request in BenchmarkRouter_Proxy.
var flushInterval = 10 * time.Millisecond

// newGroupProxy builds the reverse proxy of one group. The Host header is kept
// (like an ALB) so apps see the name they were called by.
func (r *Router) newGroupProxy(g *group) http.Handler {
	gt := &groupTransport{r: r, g: g}
	return &groupProxy{r: r, g: g, gt: gt, rp: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = g.app + "." + g.env // replaced by the chosen target's address
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:     gt,
		FlushInterval: flushInterval,
		BufferPool:    r.buffers,
		ErrorLog:      r.proxyLog,
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			r.proxyError(g, w, req, err)
		},
	}}
}

var (
	_ http.RoundTripper   = (*groupTransport)(nil)
	_ httputil.BufferPool = (*bufferPool)(nil)
	_ io.ReadWriteCloser  = (*upgradedBody)(nil)
)

// groupTransport picks a target for each request and retries once on another
// healthy target when the first cannot be reached and retrying is safe.
type groupTransport struct {
	r *Router
	g *group
}

// noTargetError says the group had no target to send a request to.
type noTargetError struct{}

func (noTargetError) Error() string { return "no healthy target" }

// targetError is a failed attempt on one target.
type targetError struct {
	addr    string
	drained bool // cut by the drain timeout after the target was removed
	err     error
}

func (e *targetError) Error() string { return e.addr + ": " + e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

func (gt *groupTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *reusableBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &reusableBody{rc: req.Body}
	}
	return gt.send(req, body, func(t *target) (*http.Response, error) {
		out := new(http.Request)
		*out = *req
		u := *req.URL
		u.Host = t.addr
		out.URL = &u
		if body != nil {
			out.Body = body
		}
		return t.transport.RoundTrip(out)
	})
}

// send runs exchange, one attempt on a picked target, and a second on
// another when the first fails and retrying is safe: the loop both proxy
// paths (ReverseProxy's and the lean one) share.
func (gt *groupTransport) send(req *http.Request, body *reusableBody, exchange func(*target) (*http.Response, error)) (*http.Response, error) {
	var tried *target
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		t := gt.r.acquire(gt.g, tried)
		if t == nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, noTargetError{}
		}
		resp, err := gt.try(req, t, exchange)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if req.Context().Err() != nil || !retryable(req, body, err) {
			break
		}
		tried = t
	}
	return nil, lastErr
}

// retryable reports whether a failed request may be sent again: the target
// was never reached (so no byte of the body was read), or the request is a
// bodiless GET, HEAD or OPTIONS.
func retryable(req *http.Request, body *reusableBody, err error) bool {
	var te *targetError
	if errors.As(err, &te) && te.drained {
		return false
	}
	if isDialError(err) {
		return true
	}
	if body != nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// acquire picks a target and counts the request in flight before the read
// lock is released, so a removal that takes the write lock afterwards always
// sees it (and drains it) and no new request can reach a removed target.
func (r *Router) acquire(g *group, exclude *target) *target {
	r.mu.RLock()
	t := g.pick(exclude)
	if t != nil {
		t.inflight.Add(1)
		g.inflight.Add(1)
	}
	r.mu.RUnlock()
	return t
}

func release(g *group, t *target) {
	t.inflight.Add(-1)
	g.inflight.Add(-1)
}

// try sends req to t with exchange. A target dropped at the end of its
// drain timeout has its connections closed, which fails the requests still
// running on it.
func (gt *groupTransport) try(req *http.Request, t *target, exchange func(*target) (*http.Response, error)) (*http.Response, error) {
	g := gt.g
	t.requests.Add(1)
	g.requests.Add(1)

	resp, err := exchange(t)
	if err != nil {
		release(g, t)
		drained := t.wasCut.Load() && req.Context().Err() == nil
		if req.Context().Err() == nil && !drained {
			t.transportErrors.Add(1)
			g.transportErrors.Add(1)
			t.setLastError(err.Error())
			gt.r.log.Warn("request to target failed", "env", g.env, "app", g.app, "target", t.addr, "err", err)
			if isDialError(err) {
				gt.r.passiveFailure(g, t)
			}
		}
		return nil, &targetError{addr: t.addr, drained: drained, err: err}
	}
	if resp.StatusCode >= 500 {
		t.responses5xx.Add(1)
		g.responses5xx.Add(1)
	}
	tb := &trackedBody{rc: resp.Body, g: g, t: t}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &upgradedBody{trackedBody: tb, rwc: rwc}
		return resp, nil
	}
	resp.Body = tb
	return resp, nil
}

// reusableBody lets a request body survive a failed attempt: the transport
// closes the body it is given, so Close is a no-op here; the server closes
// the real body when the handler returns.
type reusableBody struct{ rc io.ReadCloser }

func (b *reusableBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b *reusableBody) Close() error               { return nil }

// trackedBody ends the request's in-flight accounting when the body has been
// read to its end or is closed, whichever comes first.
type trackedBody struct {
	rc   io.ReadCloser
	g    *group
	t    *target
	over atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish()
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.rc.Close()
	b.finish()
	return err
}

func (b *trackedBody) finish() {
	if !b.over.Swap(true) {
		release(b.g, b.t)
	}
}

// upgradedBody keeps the io.ReadWriteCloser that ReverseProxy needs to pass a
// switched protocol through.
type upgradedBody struct {
	*trackedBody
	rwc io.ReadWriteCloser
}

func (b *upgradedBody) Write(p []byte) (int, error) { return b.rwc.Write(p) }

// proxyError answers a request that could not be proxied.
func (r *Router) proxyError(g *group, w http.ResponseWriter, req *http.Request, err error) {
	if req.Context().Err() != nil {
		return // the client left; nobody to answer
	}
	g.routerErrors.Add(1)
	var nt noTargetError
	if errors.As(err, &nt) {
		r.mu.RLock()
		n, ever := len(g.live), g.everHealthy()
		r.mu.RUnlock()
		if ever {
			writePage(w, req, pageFailing(g.env, g.app, n, "health checks fail"))
		} else {
			writePage(w, req, pageNoHealthy(g.env, g.app, n))
		}
		return
	}
	var te *targetError
	if errors.As(err, &te) && te.drained {
		writePage(w, req, pageDrained(g.env, g.app, r.opts.DrainTimeout))
		return
	}
	r.mu.RLock()
	n := len(g.live)
	r.mu.RUnlock()
	writePage(w, req, pageFailing(g.env, g.app, n, err.Error()))
}
