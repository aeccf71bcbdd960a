package spacepods_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func fired(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestChanges_WakesTheWatchersOfAnEnvironmentOrAll: a signal of one
// environment wakes its watchers only; a signal of "" wakes every one; a
// watch taken after a signal waits for the next.
func TestChanges_WakesTheWatchersOfAnEnvironmentOrAll(t *testing.T) {
	c := spacepods.NewChanges()
	a1, a2, b := c.Watch("a"), c.Watch("a"), c.Watch("b")
	c.Signal("a")
	if !fired(a1) || !fired(a2) || fired(b) {
		t.Fatalf("signal a: a1 %v a2 %v b %v", fired(a1), fired(a2), fired(b))
	}
	a3 := c.Watch("a")
	if fired(a3) {
		t.Fatal("a watch taken after the signal fired at once")
	}
	c.Signal("")
	if !fired(a3) || !fired(b) {
		t.Fatal("signal of everything missed a watcher")
	}
	if c.Generation() != 2 {
		t.Fatalf("generation %d, want 2", c.Generation())
	}
	var none *spacepods.Changes // a store without a broadcaster: never fires, never panics
	none.Signal("a")
	if fired(none.Watch("a")) || none.Generation() != 0 {
		t.Fatal("nil Changes")
	}
}
