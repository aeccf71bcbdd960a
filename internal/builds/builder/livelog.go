package builder

import (
	"context"
	"io"
	"strings"
	"sync"
)

// liveLog is the log of a job running in this process: appended to by the
// job, read by any number of followers, each from its own offset.
type liveLog struct {
	mu      sync.Mutex
	text    strings.Builder
	done    bool
	changed chan struct{} // closed and replaced at every append
	ended   chan struct{} // closed when the job has ended and its end is saved
}

func newLiveLog(initial string) *liveLog {
	l := &liveLog{changed: make(chan struct{}), ended: make(chan struct{})}
	l.text.WriteString(initial)
	return l
}

func (l *liveLog) append(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.WriteString(s)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *liveLog) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	close(l.ended)
	close(l.changed)
	l.changed = make(chan struct{})
}

// String returns the log so far.
func (l *liveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// since returns the log from offset, whether it has ended, and a channel
// closed at the next change.
func (l *liveLog) since(offset int) (string, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.text.String()
	if offset > len(s) {
		offset = len(s)
	}
	return s[offset:], l.done, l.changed
}

// follow writes the log to w from offset until the job ends or ctx does,
// and returns the offset reached.
func (l *liveLog) follow(ctx context.Context, offset int, w io.Writer) (int, error) {
	for {
		chunk, done, changed := l.since(offset)
		if chunk != "" {
			if _, err := io.WriteString(w, chunk); err != nil {
				return offset, err
			}
			offset += len(chunk)
		}
		if done {
			return offset, nil
		}
		select {
		case <-ctx.Done():
			return offset, ctx.Err()
		case <-changed:
		}
	}
}
