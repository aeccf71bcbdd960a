// Package notifytest has a spacepods.Notifier that records notices, for
// the tests of the services that emit them.
package notifytest

import (
	"context"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Recorder records the notices it is given.
type Recorder struct {
	mu      sync.Mutex
	notices []spacepods.Notice
}

var _ spacepods.Notifier = (*Recorder)(nil)

// Notify records n.
func (r *Recorder) Notify(_ context.Context, n spacepods.Notice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
}

// Notices returns the notices recorded so far, of the given kinds (all
// when none are given).
func (r *Recorder) Notices(kinds ...string) []spacepods.Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []spacepods.Notice
	for _, n := range r.notices {
		if len(kinds) == 0 || contains(kinds, n.Kind) {
			out = append(out, n)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Wait returns the notices of the given kinds once there are at least n
// of them, or what there is after timeout (notices may come just after the
// state a test waited for).
func (r *Recorder) Wait(timeout time.Duration, n int, kinds ...string) []spacepods.Notice {
	deadline := time.Now().Add(timeout)
	for {
		got := r.Notices(kinds...)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}
