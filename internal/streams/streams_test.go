package streams_test

import (
	"context"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/streams"
)

func TestLimiter_CapsPerUserAndInTotal(t *testing.T) {
	l := &streams.Limiter{PerUser: 2, Total: 3}
	alice := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "alice", Role: spacepods.RoleDeveloper})
	bob := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "bob", Role: spacepods.RoleDeveloper})
	r1, err := l.Acquire(alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(alice); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(alice); spacepods.ErrorCode(err) != spacepods.ELIMIT {
		t.Fatalf("alice's third stream: %v, want %s", err, spacepods.ELIMIT)
	}
	if _, err := l.Acquire(bob); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(bob); spacepods.ErrorCode(err) != spacepods.ELIMIT {
		t.Fatalf("a fourth stream in total: %v, want %s", err, spacepods.ELIMIT)
	}
	r1()
	r1() // releasing twice frees one slot only
	if got := l.Open(); got != 2 {
		t.Fatalf("Open = %d after one release, want 2", got)
	}
	if _, err := l.Acquire(bob); err != nil {
		t.Fatalf("bob after alice released one: %v", err)
	}
	var none *streams.Limiter
	if rel, err := none.Acquire(alice); err != nil || none.Open() != 0 {
		t.Fatalf("a nil Limiter caps nothing: %v", err)
	} else {
		rel()
	}
}
