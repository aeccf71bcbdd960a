package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/streams"
)

// Live pages open an EventSource on /ui/events/...; the stream waits for a
// change of its environment (Store.Changes, signalled by this process's
// writes; and every Poll for other processes' writes), reads the store
// once, and pushes:
//
//	event: line   data: a spacepods.Event (id: the event's id, for resuming)
//	event: state  data: {"hash": ..., "status": ..., "gone": bool, "final": bool}
//	event: done   the stream is over (deploy ended, environment gone)
//
// The page keeps the state hash it was rendered from; when a pushed hash
// differs, the script fetches the page again and swaps its live regions, so
// the server-rendered HTML stays the one source of truth.

// keepAlive is how often an idle stream sends a comment, so that proxies
// do not close it.
const keepAlive = 15 * time.Second

// liveState is what the script compares to know the page is stale.
type liveState struct {
	Hash   string `json:"hash"`
	Status string `json:"status"`
	Gone   bool   `json:"gone,omitempty"`  // the environment no longer exists: nothing to fetch
	Final  bool   `json:"final,omitempty"` // nothing more will change (a deploy ended)
}

type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sseWriter {
	streams.LiftDeadlines(w) // a stream outlives the server's read and write timeouts
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush() // the reader went away; nothing left to report to
	return s
}

// send writes one event (id 0: none) and flushes it.
func (s *sseWriter) send(event string, id int64, data string) error {
	var b strings.Builder
	if id > 0 {
		fmt.Fprintf(&b, "id: %d\n", id)
	}
	fmt.Fprintf(&b, "event: %s\n", event)
	for _, line := range strings.Split(data, "\n") {
		fmt.Fprintf(&b, "data: %s\n", line)
	}
	b.WriteString("\n")
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) sendJSON(event string, id int64, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.send(event, id, string(data))
}

func (s *sseWriter) ping() error {
	if _, err := s.w.Write([]byte(": keep-alive\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// after is where a stream resumes: the browser's Last-Event-ID on a
// reconnect, else ?after=.
func after(r *http.Request) int64 {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return max(n, 0)
}

func hashOf(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%v\x00", p)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// envState hashes what a pod or environment page shows: status, expiry,
// apps and recent deploys. A destroyed environment is Gone.
func (u *UI) envState(ctx context.Context, name string) (liveState, error) {
	v, err := u.cfg.Pods.Show(ctx, name)
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		return liveState{Hash: "gone", Status: spacepods.StatusDestroyed, Gone: true}, nil
	}
	if err != nil {
		return liveState{}, err
	}
	ds, err := u.cfg.Deploys.List(ctx, name, "", 20)
	if err != nil {
		return liveState{}, err
	}
	parts := []any{v.Status, v.Reason, stampPtr(v.ExpiresAt), strings.Join(v.Apps, ",")}
	for _, a := range v.AppStatus {
		parts = append(parts, a.App, a.Build, a.Release, a.Status, a.Reason, a.URL)
	}
	for _, d := range ds {
		parts = append(parts, d.ID, d.Status, d.Step)
	}
	return liveState{Hash: hashOf(parts...), Status: v.Status}, nil
}

// deployState hashes what a deploy page shows.
func deployState(d spacepods.Deploy) liveState {
	parts := []any{d.Status, d.Step, d.Release, d.Error, len(d.Output)}
	for _, s := range d.Steps {
		parts = append(parts, s.Name, s.Status, s.Detail, stampPtr(s.EndedAt))
	}
	return liveState{Hash: hashOf(parts...), Status: d.Status}
}

// eventLines returns a pump that sends the events after the last one sent
// as "line" messages; fetch reads the events after an ID.
func eventLines(s *sseWriter, last int64, fetch func(after int64) ([]spacepods.Event, error)) func() error {
	return func() error {
		evs, err := fetch(last)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := s.sendJSON("line", ev.ID, ev); err != nil {
				return err
			}
			last = ev.ID
		}
		return nil
	}
}

// openStream takes a stream slot for the caller (429 over the caps) and a
// context that ends with the request or when the UI is closed. The caller
// must call done.
func (u *UI) openStream(r *http.Request) (ctx context.Context, done func(), err error) {
	release, err := u.cfg.Streams.Acquire(r.Context())
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := u.streamContext(r)
	if s := sessionOf(r); s != nil && u.cfg.Store != nil {
		go u.endWithSession(ctx, cancel, s.ID)
	}
	return ctx, func() { cancel(); release() }, nil
}

// sessionRecheck is how often an open stream checks that its session is
// still live when no revocation was signalled (expiry; sign-outs on other
// servers sharing the store).
const sessionRecheck = time.Minute

// endWithSession ends a stream (cancel) once its session has ended: signed
// out, or its token revoked. It looks when a revocation is signalled, and
// every sessionRecheck.
func (u *UI) endWithSession(ctx context.Context, cancel context.CancelFunc, id string) {
	t := time.NewTicker(sessionRecheck)
	defer t.Stop()
	for {
		// Watch, then look, then wait: a sign-out between the stream's
		// start and this goroutine's first watch is seen by the look.
		revoked := u.cfg.Store.Changes().Watch(spacepods.SessionsTopic)
		if _, err := u.cfg.Auth.Session(ctx, id); spacepods.ErrorCode(err) == spacepods.EUNAUTHORIZED {
			cancel()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-revoked:
		case <-t.C:
		}
	}
}

// envEvents streams a pod's or environment's progress lines and state.
func (u *UI) envEvents(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx, done, err := u.openStream(r)
	if err != nil {
		return err
	}
	defer done()
	name := r.PathValue("name")
	st, err := u.envState(ctx, name)
	if err != nil {
		return err
	}
	last := after(r)
	s := startSSE(w)
	lines := eventLines(s, last, func(after int64) ([]spacepods.Event, error) { return u.cfg.Pods.Events(ctx, name, after) })
	return u.stream(ctx, s, name, st, lines, func() (liveState, error) { return u.envState(ctx, name) })
}

// deployEvents streams a deploy's progress lines and state until it ends.
func (u *UI) deployEvents(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx, done, err := u.openStream(r)
	if err != nil {
		return err
	}
	defer done()
	d, err := u.cfg.Deploys.Get(ctx, id)
	if err != nil {
		return err
	}
	last := after(r)
	s := startSSE(w)
	lines := eventLines(s, last, func(after int64) ([]spacepods.Event, error) { return u.cfg.Deploys.Events(ctx, id, after) })
	state := func() (liveState, error) {
		d, err := u.cfg.Deploys.Get(ctx, id)
		if err != nil {
			return liveState{}, err
		}
		st := deployState(d)
		st.Final = d.Done()
		return st, nil
	}
	return u.stream(ctx, s, d.Env, deployState(d), lines, state)
}

// finalGrace is how long a stream whose state is final (deploy ended,
// environment gone) waits for the last progress lines written after it.
const finalGrace = 300 * time.Millisecond

// stream pushes the first state, then, each time env changes (or every
// Poll), new lines, then the state when it changed. A state that is Gone
// or Final is pushed after one last look for lines, followed by "done".
// An idle stream reads nothing: it only sends a keep-alive comment.
func (u *UI) stream(ctx context.Context, s *sseWriter, env string, first liveState, lines func() error, state func() (liveState, error)) error {
	if err := s.sendJSON("state", 0, first); err != nil {
		return nil
	}
	var changes *spacepods.Changes
	if u.cfg.Store != nil {
		changes = u.cfg.Store.Changes()
	}
	prev := first.Hash
	poll := time.NewTimer(u.cfg.Poll)
	defer poll.Stop()
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		changed := changes.Watch(env) // before reading: a change during the read wakes the next wait
		if err := lines(); err != nil {
			return nil
		}
		st, err := state()
		if err != nil {
			if ctx.Err() == nil { // not merely the stream ending
				u.log.Warn("ui event stream: read state", "err", err)
			}
			return nil
		}
		if st.Gone || st.Final {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(finalGrace):
			}
			_ = lines()                      // the reader went away; nothing left to report to
			_ = s.sendJSON("state", 0, st)   // the reader went away; nothing left to report to
			_ = s.send("done", 0, st.Status) // the reader went away; nothing left to report to
			return nil
		}
		if st.Hash != prev {
			prev = st.Hash
			if err := s.sendJSON("state", 0, st); err != nil {
				return nil
			}
		}
		if !u.wait(ctx, s, changed, poll, ping.C) {
			return nil
		}
	}
}

// wait blocks until env changed (then lets a burst of writes settle) or
// the fallback poll is due, keeping the connection alive meanwhile. It
// reports false when the stream is over.
func (u *UI) wait(ctx context.Context, s *sseWriter, changed <-chan struct{}, poll *time.Timer, ping <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-ping:
			if err := s.ping(); err != nil {
				return false
			}
		case <-poll.C:
			poll.Reset(u.cfg.Poll)
			return true
		case <-changed:
			select {
			case <-ctx.Done():
				return false
			case <-time.After(u.cfg.Settle):
			}
			poll.Reset(u.cfg.Poll)
			return true
		}
	}
}
