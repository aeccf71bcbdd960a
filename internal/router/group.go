package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// groupKey names a target group: one app in one environment.
type groupKey struct{ env, app string }

// membership of a target in its group; guarded by Router.mu.
type membership int

const (
	memberLive     membership = iota // in the spec
	memberStandby                    // removed, serving until a live target is healthy
	memberDraining                   // removed, finishing in-flight requests
)

// group is one target group. Its lists and health path are guarded by
// Router.mu; the smooth weighted round robin state by pickMu, so that picks
// only need the router's read lock.
type group struct {
	env, app string
	proxy    http.Handler // groupProxy

	healthPath string
	asleep     bool      // GroupSpec.Asleep
	tracked    time.Time // since when this router counts the group's requests
	live       []*target
	standby    []*target
	draining   []*target

	pickMu sync.Mutex

	requests        atomic.Uint64
	responses5xx    atomic.Uint64
	transportErrors atomic.Uint64
	routerErrors    atomic.Uint64
	inflight        atomic.Int64
	lastRequest     atomic.Int64 // unix nanoseconds of the latest request; 0 = none since start
}

// target is one backend address of a group.
type target struct {
	addr string

	// guarded by Router.mu
	weight   int
	member   membership
	drainGen int

	cw int // current weight of smooth weighted round robin; guarded by group.pickMu

	healthy     atomic.Bool
	everHealthy atomic.Bool
	fails       atomic.Int32 // consecutive failed checks
	lastErr     atomic.Pointer[string]

	inflight        atomic.Int64
	requests        atomic.Uint64
	responses5xx    atomic.Uint64
	transportErrors atomic.Uint64

	checkedOnce sync.Once
	checked     chan struct{} // closed after the first health verdict

	// ctx ends when the target is dropped (drained or router closed): it
	// stops the health checker.
	ctx    context.Context
	cancel context.CancelFunc

	// Each target has its own connection pool, and knows its connections, so
	// that dropping it can cut requests still running past the drain timeout
	// (WebSockets included) without any per-request bookkeeping.
	transport *targetPool
	connMu    sync.Mutex
	conns     map[*trackedConn]struct{}
	dropped   bool // guarded by connMu: no more connections
	wasCut    atomic.Bool
}

func newTarget(parent context.Context, addr string, weight int) *target {
	ctx, cancel := context.WithCancel(parent)
	t := &target{addr: addr, weight: weight, checked: make(chan struct{}), ctx: ctx, cancel: cancel,
		conns: make(map[*trackedConn]struct{})}
	t.transport = newTargetPool(addr, t.dial)
	return t
}

var dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// errDropped fails a connection attempt to a target that has been dropped.
var errDropped = errors.New("target was removed")

// dial opens a tracked connection to the target.
func (t *target) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.connMu.Lock()
	defer t.connMu.Unlock()
	if t.dropped {
		_ = c.Close() // best-effort cleanup; nothing useful to do on failure
		return nil, errDropped
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// drop closes the target's pool. With cut, connections still busy are
// closed too, failing the requests on them.
func (t *target) drop(cut bool) {
	t.cancel()
	t.connMu.Lock()
	t.dropped = true
	var busy []*trackedConn
	if cut {
		t.wasCut.Store(true)
		for c := range t.conns {
			busy = append(busy, c)
		}
	}
	t.connMu.Unlock()
	for _, c := range busy {
		_ = c.Close() // best-effort cleanup; nothing useful to do on failure
	}
	t.transport.closeIdle(true)
}

// trackedConn removes itself from its target's set when closed.
type trackedConn struct {
	net.Conn
	t    *target
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.connMu.Lock()
		delete(c.t.conns, c)
		c.t.connMu.Unlock()
	})
	return c.Conn.Close()
}

// ReadFrom keeps the kernel fast path (splice) for request bodies.
func (c *trackedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// observe records one health verdict and reports whether the target's health
// changed. One success makes a target healthy; unhealthyAfter consecutive
// failures make it unhealthy.
func (t *target) observe(ok bool, unhealthyAfter int) (changed bool) {
	if ok {
		t.fails.Store(0)
		if !t.healthy.Swap(true) {
			t.everHealthy.Store(true)
			return true
		}
		return false
	}
	n := t.fails.Add(1)
	if int(n) >= unhealthyAfter {
		return t.healthy.Swap(false)
	}
	return false
}

func (t *target) markChecked() { t.checkedOnce.Do(func() { close(t.checked) }) }

func (t *target) setLastError(msg string) { t.lastErr.Store(&msg) }

func (t *target) lastError() string {
	if p := t.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// eligible reports whether t may take a new request. Caller holds Router.mu.
func (t *target) eligible() bool { return t.weight > 0 && t.healthy.Load() }

// pick chooses the next target by smooth weighted round robin among eligible
// live targets, falling back to standby targets while no live one is healthy.
// exclude (may be nil) is skipped: the target a retry must avoid.
// Caller holds Router.mu for reading.
func (g *group) pick(exclude *target) *target {
	g.pickMu.Lock()
	defer g.pickMu.Unlock()
	if t := swrr(g.live, exclude); t != nil {
		return t
	}
	return swrr(g.standby, exclude)
}

// swrr is nginx's smooth weighted round robin: every eligible target gains its
// weight, the richest wins and pays the total. Over any window of sum(weights)
// picks each target is chosen exactly weight times, evenly spread.
func swrr(ts []*target, exclude *target) *target {
	total := 0
	var best *target
	for _, t := range ts {
		if t == exclude || !t.eligible() {
			continue
		}
		t.cw += t.weight
		total += t.weight
		if best == nil || t.cw > best.cw {
			best = t
		}
	}
	if best != nil {
		best.cw -= total
	}
	return best
}

// hasEligibleLive reports whether any live target can take traffic.
// Caller holds Router.mu.
func (g *group) hasEligibleLive() bool {
	for _, t := range g.live {
		if t.eligible() {
			return true
		}
	}
	return false
}

// hasWeightedLive reports whether the spec routes any traffic at all.
func (g *group) hasWeightedLive() bool {
	for _, t := range g.live {
		if t.weight > 0 {
			return true
		}
	}
	return false
}

// everHealthy reports whether any live target ever passed a health check.
func (g *group) everHealthy() bool {
	for _, t := range g.live {
		if t.everHealthy.Load() {
			return true
		}
	}
	return false
}

func removeTarget(ts []*target, t *target) []*target {
	for i, x := range ts {
		if x == t {
			return append(ts[:i:i], ts[i+1:]...)
		}
	}
	return ts
}
