package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/spacepods/spacepods/internal/testenv"
)

// MustOpenSQLite opens a fresh SQLite store in a temp dir.
func MustOpenSQLite(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), "", tb.TempDir())
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustOpenPostgres opens a fresh PostgreSQL store in a new database on the
// test server (SPACEPODS_TEST_POSTGRES), dropped at cleanup. It skips
// outside CI and fails in CI when no server is configured.
func MustOpenPostgres(tb testing.TB) *Store {
	tb.Helper()
	u := NewTestDatabase(tb, testenv.PostgresURL(tb))
	s, err := Open(context.Background(), u, "")
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// NewTestDatabase creates an empty database on the server at adminURL and
// returns its URL; it is dropped at cleanup.
func NewTestDatabase(tb testing.TB, adminURL string) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "sp_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		admin.Close()
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
		admin.Close()
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// ForEachDialect runs fn against a fresh SQLite store and, when a test
// PostgreSQL server is configured (always in CI), a fresh PostgreSQL store.
func ForEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run(SQLite, func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	t.Run(Postgres, func(t *testing.T) {
		if os.Getenv("SPACEPODS_TEST_POSTGRES") == "" && !testenv.InCI() {
			t.Skip("SPACEPODS_TEST_POSTGRES not set; run scripts/test.sh for the PostgreSQL half")
		}
		fn(t, MustOpenPostgres(t))
	})
}
