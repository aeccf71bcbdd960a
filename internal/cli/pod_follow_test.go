package cli

import (
	"testing"
	"time"
)

// TestFollowPause_LooksOftenWhileAPodIsYoung: `pod create --wait` looks
// every 100 ms for the first 5 s (it used to be every 500 ms: up to half a
// second added to what the user sees of a pod ready in ~1.5 s), then every
// 500 ms.
func TestFollowPause_LooksOftenWhileAPodIsYoung(t *testing.T) {
	for _, c := range []struct{ elapsed, want time.Duration }{
		{0, 100 * time.Millisecond},
		{4900 * time.Millisecond, 100 * time.Millisecond},
		{5 * time.Second, 500 * time.Millisecond},
		{10 * time.Minute, 500 * time.Millisecond},
	} {
		if got := followPause(c.elapsed); got != c.want {
			t.Errorf("followPause(%s) = %s, want %s", c.elapsed, got, c.want)
		}
	}
}
