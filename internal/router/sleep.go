package router

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Idle tracking and wake-on-request.
//
// Every request routed to a group (public listener and internal listener
// alike: InternalHandler goes through ServeHTTP) stamps the group's last
// request time; the control plane reads them (Activity) to decide which apps
// are idle. It puts an idle app to sleep by setting its group asleep
// (GroupSpec.Asleep, no targets) before it stops the app's containers. A
// request to an asleep group is held: the first one opens a wake request,
// which later ones share; the control plane long-polls them (WaitWakes),
// wakes the app, routes it again (SetGroup, awake) and reports the result
// (FinishWake), which releases the held requests: forwarded on success,
// answered with a page naming the app and the reason on failure. Nothing is
// needed of the control plane but the control API it already drives, so a
// restarted control plane picks up the wakes still pending.

// touchEvery bounds how often a group's last request time is written: one
// atomic store per request on a shared cache line is what a busy group would
// pay otherwise, and idleness is counted in minutes.
const touchEvery = int64(100 * time.Millisecond)

// touch records a request to g now.
func (g *group) touch() {
	now := time.Now().UnixNano()
	if now-g.lastRequest.Load() >= touchEvery {
		g.lastRequest.Store(now)
	}
}

// lastRequestTime returns the time of g's latest request, nil if none since
// the router started.
func (g *group) lastRequestTime() *time.Time {
	n := g.lastRequest.Load()
	if n == 0 {
		return nil
	}
	t := time.Unix(0, n).UTC()
	return &t
}

// Activity is the request activity of one app (GET /v1/activity).
type Activity struct {
	Environment string `json:"environment"`
	App         string `json:"app"`
	// LastRequest is the latest request through either listener; nil when
	// none came since the router started.
	LastRequest *time.Time `json:"last_request,omitempty"`
	// Since is when this router started counting the app's requests (the
	// group was made, or restored at the router's start): idle time is
	// counted from the later of the two.
	Since  time.Time `json:"since"`
	Asleep bool      `json:"asleep,omitempty"`
}

// Activity returns the last request time of every group, sorted.
func (r *Router) Activity() []Activity {
	r.mu.RLock()
	out := make([]Activity, 0, len(r.groups))
	for _, g := range r.groups {
		out = append(out, Activity{Environment: g.env, App: g.app, LastRequest: g.lastRequestTime(), Since: g.tracked.UTC(), Asleep: g.asleep})
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Activity) int {
		return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.App, b.App))
	})
	return out
}

// WakeRequest asks the control plane to wake an app: a request came for it
// while it was asleep, and is held until FinishWake.
type WakeRequest struct {
	Seq         uint64    `json:"seq"` // increasing; poll with after = the highest seen
	Environment string    `json:"environment"`
	App         string    `json:"app"`
	Host        string    `json:"host"`  // the host the first held request was for
	Since       time.Time `json:"since"` // when that request came
	Held        int64     `json:"held"`  // requests held now
}

// WakeResult is the control plane's answer to a WakeRequest (POST
// /v1/wakes/{env}/{app}): empty Error when the app is awake and routed.
type WakeResult struct {
	Error string `json:"error,omitempty"`
}

// wakeCall is one pending wake, shared by the requests held for it.
type wakeCall struct {
	WakeRequest
	held int64 // guarded by wakeQueue.mu
	done chan struct{}
	err  string // set before done is closed
}

// wakeQueue holds the pending wakes, one per group.
type wakeQueue struct {
	mu      sync.Mutex
	seq     uint64
	pending map[groupKey]*wakeCall
	changed chan struct{} // closed (and replaced) when a wake is opened
}

// init readies the queue. Numbers start from the clock, so that a control
// plane polling with the last number it saw from a router that has since
// restarted still gets the new router's requests.
func (q *wakeQueue) init() {
	q.pending = map[groupKey]*wakeCall{}
	q.changed = make(chan struct{})
	if n := time.Now().UnixNano(); n > 0 {
		q.seq = uint64(n) //nolint:gosec // positive: checked above
	}
}

// join returns the pending wake of g, opening one if there is none.
func (q *wakeQueue) join(g *group, host string) (c *wakeCall, opened bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := groupKey{g.env, g.app}
	c = q.pending[key]
	if c == nil {
		q.seq++
		c = &wakeCall{WakeRequest: WakeRequest{Seq: q.seq, Environment: g.env, App: g.app, Host: host, Since: time.Now().UTC()},
			done: make(chan struct{})}
		q.pending[key] = c
		close(q.changed)
		q.changed = make(chan struct{})
		opened = true
	}
	c.held++
	return c, opened
}

func (q *wakeQueue) leave(c *wakeCall) {
	q.mu.Lock()
	c.held--
	q.mu.Unlock()
}

// after returns the pending wakes numbered after seq, and a channel closed
// when another is opened.
func (q *wakeQueue) after(seq uint64) ([]WakeRequest, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []WakeRequest
	for _, c := range q.pending {
		if c.Seq > seq {
			w := c.WakeRequest
			w.Held = c.held
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b WakeRequest) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, q.changed
}

// finish ends the pending wake of key, if any, releasing its requests.
func (q *wakeQueue) finish(key groupKey, errMsg string) bool {
	q.mu.Lock()
	c := q.pending[key]
	delete(q.pending, key)
	q.mu.Unlock()
	if c == nil {
		return false
	}
	c.err = errMsg
	close(c.done)
	return true
}

// serveAsleep holds req until the control plane has woken g's app, then
// forwards it; or answers with a page that names the app and why it could
// not be woken.
func (r *Router) serveAsleep(g *group, w http.ResponseWriter, req *http.Request) {
	c, opened := r.wakes.join(g, req.Host)
	if opened {
		r.log.Info("request to an asleep app: waking it", "env", g.env, "app", g.app, "host", req.Host)
	}
	timer := time.NewTimer(r.opts.WakeTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-req.Context().Done():
		r.wakes.leave(c)
		return
	case <-r.ctx.Done():
		r.wakes.leave(c)
		writePage(w, req, pageWakeFailed(g.env, g.app, "the router is shutting down"))
		return
	case <-timer.C:
		r.wakes.leave(c)
		g.routerErrors.Add(1)
		writePage(w, req, pageWakeFailed(g.env, g.app, "the control plane did not wake it within "+r.opts.WakeTimeout.String()+
			" (is `spacepods server` running?)"))
		return
	}
	if c.err != "" {
		g.routerErrors.Add(1)
		writePage(w, req, pageWakeFailed(g.env, g.app, c.err))
		return
	}
	// The group may have been replaced while the app woke: route afresh,
	// but never hold twice for one request.
	r.mu.RLock()
	cur := r.groups[groupKey{g.env, g.app}]
	asleep := cur != nil && cur.asleep
	r.mu.RUnlock()
	switch {
	case cur == nil:
		r.ServeHTTP(w, req)
	case asleep:
		cur.routerErrors.Add(1)
		writePage(w, req, pageWakeFailed(g.env, g.app, "it was put to sleep again while it woke"))
	default:
		cur.proxy.ServeHTTP(w, req)
	}
}

// WaitWakes returns the pending wake requests numbered after seq, waiting
// up to wait for one when there is none (a long poll). An empty list means
// none came in time.
func (r *Router) WaitWakes(ctx context.Context, after uint64, wait time.Duration) []WakeRequest {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		out, changed := r.wakes.after(after)
		if len(out) > 0 {
			return out
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		case <-r.ctx.Done():
			return nil
		case <-timer.C:
			return nil
		}
	}
}

// FinishWake ends the pending wake of app in env: with errMsg empty, the
// held requests are forwarded (the control plane has routed the app awake);
// else each is answered with a page saying the app could not be woken and
// errMsg. Reports whether a wake was pending.
func (r *Router) FinishWake(env, app, errMsg string) bool {
	ok := r.wakes.finish(groupKey{env, app}, errMsg)
	if ok {
		if errMsg == "" {
			r.log.Info("app woken: held requests forwarded", "env", env, "app", app)
		} else {
			r.log.Warn("app could not be woken", "env", env, "app", app, "err", errMsg)
		}
	}
	return ok
}

// maxWakeWait bounds a long poll of GET /v1/wakes.
const maxWakeWait = 60 * time.Second

func (c *control) activity(w http.ResponseWriter, req *http.Request) {
	httpjson.Write(w, http.StatusOK, c.r.Activity())
}

func (c *control) waitWakes(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			httpjson.WriteError(w, spacepods.Errorf(spacepods.EINVALID, "after=%q must be a wake request's seq (a number)", v))
			return
		}
		after = n
	}
	wait := time.Duration(0)
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			httpjson.WriteError(w, spacepods.Errorf(spacepods.EINVALID, "wait=%q must be a duration like 25s", v))
			return
		}
		wait = min(d, maxWakeWait)
	}
	out := c.r.WaitWakes(req.Context(), after, wait)
	if out == nil {
		out = []WakeRequest{}
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (c *control) finishWake(w http.ResponseWriter, req *http.Request) {
	var res WakeResult
	if err := readJSON(w, req, &res); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	c.r.FinishWake(req.PathValue("env"), req.PathValue("app"), res.Error)
	w.WriteHeader(http.StatusNoContent)
}

// ReasonWakeFailed is the X-Spacepods-Error of a request held for an asleep
// app that could not be woken.
const ReasonWakeFailed = "wake-failed"

func pageWakeFailed(env, app, reason string) page {
	return page{Status: http.StatusServiceUnavailable, Reason: ReasonWakeFailed, Env: env, App: app,
		Problem: fmt.Sprintf("app %s in environment %s was asleep and could not be woken: %s", app, env, reason),
		Advice:  "see its events, then wake it by hand with", Command: "spacepods pod wake " + env}
}
