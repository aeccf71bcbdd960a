// Package storetest opens fresh stores for tests: SQLite in a temp dir, and
// PostgreSQL on the test server (SPACEPODS_TEST_POSTGRES) in a database of
// its own. It lives apart from store so that the server binary does not
// link the testing package.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/testenv"
)

// MustOpenSQLite opens a fresh SQLite store in a temp dir.
func MustOpenSQLite(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), "", tb.TempDir())
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() }) // best-effort cleanup; nothing useful to do on failure
	return s
}

// MustOpenPostgres opens a fresh PostgreSQL store in a new database on the
// test server (SPACEPODS_TEST_POSTGRES), dropped at cleanup. It skips
// outside CI and fails in CI when no server is configured.
func MustOpenPostgres(tb testing.TB) *store.Store {
	tb.Helper()
	u := NewTestDatabase(tb, testenv.PostgresURL(tb))
	s, err := store.Open(context.Background(), u, "")
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() }) // best-effort cleanup; nothing useful to do on failure
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
		_ = admin.Close() // best-effort cleanup; nothing useful to do on failure
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) // best-effort cleanup; nothing useful to do on failure
		_ = admin.Close()                                                      // best-effort cleanup; nothing useful to do on failure
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
func ForEachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run(store.SQLite, func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	t.Run(store.Postgres, func(t *testing.T) {
		if os.Getenv("SPACEPODS_TEST_POSTGRES") == "" && !testenv.InCI() {
			t.Skip("SPACEPODS_TEST_POSTGRES not set; run scripts/test.sh for the PostgreSQL half")
		}
		fn(t, MustOpenPostgres(t))
	})
}

// MustOpenCountingSQLite opens a fresh SQLite store like MustOpenSQLite and
// returns a counter of the statements it sends to the database (queries,
// execs and prepares), for tests that prove something does not query.
func MustOpenCountingSQLite(tb testing.TB) (*store.Store, *atomic.Int64) {
	tb.Helper()
	n := new(atomic.Int64)
	s, err := store.Open(context.Background(), "", tb.TempDir(), store.WrapSQLiteDriver(func(d driver.Driver) driver.Driver { return countingDriver{d, n} }))
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() }) // best-effort cleanup; nothing useful to do on failure
	return s, n
}

type countingDriver struct {
	driver.Driver
	n *atomic.Int64
}

func (d countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: d.n}, nil
}

// countingConn counts statements and passes everything through; the
// optional interfaces it forwards are the ones database/sql uses.
type countingConn struct {
	driver.Conn
	n *atomic.Int64
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.n.Add(1)
	return qc.QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	c.n.Add(1)
	return ec.ExecContext(ctx, q, args)
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.n.Add(1)
	if pc, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return pc.PrepareContext(ctx, q)
	}
	return c.Conn.Prepare(q)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if bc, ok := c.Conn.(driver.ConnBeginTx); ok {
		return bc.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() //nolint:staticcheck // fallback for drivers without BeginTx
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}
