package deploy

import (
	"context"
	"fmt"
	"github.com/spacepods/spacepods/internal/spacepods"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// taskOutput keeps what a running task printed, for its progress events:
// the last complete line and how many lines came. Safe for one writer (the
// driver's log stream) and other readers.
type taskOutput struct {
	mu      sync.Mutex
	partial []byte
	last    string
	lines   int
}

func (o *taskOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := strings.IndexByte(string(o.partial), '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(o.partial[:i])); line != "" {
			o.last = line
		}
		o.lines++
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) > 4096 { // a very long line: keep its start
		o.partial = o.partial[:4096]
	}
	return len(p), nil
}

// state returns the last line and the number of lines so far.
func (o *taskOutput) state() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.lines
}

// reportProgress records, every Options.TaskProgress while a task runs, a
// deploy event with the task's elapsed time and output ("migrate running
// 0:42 — 3 new lines, last: applying 0042_orders"), so that a follower
// (`deploy --wait`, `pod create --wait`, the UI) sees a long task move, or
// sees it hang. It returns a function that stops the reports.
func (r *run) reportProgress(ctx context.Context, what string, out *taskOutput, start time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	every := r.e.opts().TaskProgress
	go func() {
		defer close(done)
		seen := 0
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			last, n := out.state()
			msg, output := progressLine(what, time.Since(start), last, n-seen)
			r.e.record(ctx, spacepods.Event{Env: r.d.Env, App: r.d.App, Deploy: r.d.ID, Level: "info", Message: msg, Output: output})
			seen = n
		}
	}()
	return func() { cancel(); <-done }
}

// progressLine renders a running task's progress event: its message, and
// the task's latest output line apart (viewers get the message only).
func progressLine(what string, elapsed time.Duration, last string, fresh int) (msg, output string) {
	s := int(elapsed.Round(time.Second) / time.Second)
	msg = fmt.Sprintf("%s running %d:%02d", what, s/60, s%60)
	switch {
	case last == "":
		return msg + " — no output yet", ""
	case fresh == 0:
		return msg + " — no new output; last line", clipLine(last)
	case fresh == 1:
		return msg + " — 1 new line", clipLine(last)
	}
	return fmt.Sprintf("%s — %d new lines, last", msg, fresh), clipLine(last)
}

// clipLine shortens a line of output for an event.
func clipLine(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
