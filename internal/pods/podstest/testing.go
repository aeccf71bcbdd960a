package podstest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// Start starts a Stack for t (skipping outside CI when Docker or PostgreSQL
// is missing). At cleanup it destroys every environment the test made
// through EnvName, fails the test if any of them leaked a container,
// network, database or route, and stops the stack. Logs are kept in memory
// and printed only when the test fails.
func Start(t testing.TB, cfg Config) *Stack {
	t.Helper()
	testenv.RequireDocker(t)
	cfg.PostgresURL = testenv.PostgresURL(t)
	if cfg.Logger == nil {
		cfg.Logger = testenv.Logger(t, "stack log", slog.LevelInfo)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := New(ctx, t.TempDir(), cfg)
	if err != nil {
		t.Fatalf("start the test stack: %v", err)
	}
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.DestroyAll(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		leaks, err := s.LeaksOf(ctx)
		if err != nil {
			t.Errorf("cleanup: leak audit: %v", err)
		}
		if len(leaks) > 0 {
			t.Errorf("cleanup: leaks after destroying every environment of the test:\n%s", FormatLeaks(leaks))
		}
	})
	return s
}

// Context returns a context for one step of a test, ended at cleanup.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// FormatLeaks lists leaks one a line.
func FormatLeaks(leaks []spacepods.Leak) string {
	var b strings.Builder
	for _, l := range leaks {
		fmt.Fprintf(&b, "  %s %s (environment %s)\n", l.Kind, l.Name, l.Environment)
	}
	return b.String()
}
