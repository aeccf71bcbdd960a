package secretstest_test

import (
	"context"
	"testing"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestMemory_PassesTheConformanceSuite: the fake that other packages' tests
// use behaves like a real backend.
func TestMemory_PassesTheConformanceSuite(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secrets.Store { return secretstest.NewMemory() })
}

func TestMemory_FailPutsKeepsTheOldValue(t *testing.T) {
	ctx := context.Background()
	s := secretstest.NewMemory()
	if err := s.Put(ctx, "apps/a/qa/TOKEN", []byte("old")); err != nil {
		t.Fatal(err)
	}
	s.FailPuts(spacepods.Errorf(spacepods.EUNAVAILABLE, "secret store down"))
	if err := s.Put(ctx, "apps/a/qa/TOKEN", []byte("new")); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("put while failing: %v, want unavailable", err)
	}
	s.FailPuts(nil)
	if got := s.Value("apps/a/qa/TOKEN"); got != "old" || s.Len() != 1 {
		t.Fatalf("after a failed put: value %q, %d refs; want old, 1", got, s.Len())
	}
}
