package databases

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// testLogger logs into the test's output, shown for failed or -v runs.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustOpen opens a Manager on the test server (SPACEPODS_TEST_POSTGRES).
func mustOpen(t testing.TB, opts ...Option) *Manager {
	t.Helper()
	u := testenv.PostgresURL(t)
	m, err := Open(testContext(t), u, testLogger(t), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// newEnv returns a fresh environment name whose databases are dropped when
// the test ends.
func newEnv(t testing.TB, m *Manager, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	env := prefix + "-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.DropEnvironment(ctx, env); err != nil {
			t.Errorf("cleanup: DropEnvironment(%s): %v", env, err)
		}
	})
	return env
}

// newSnapshotName returns a fresh snapshot name dropped when the test ends.
func newSnapshotName(t testing.TB, m *Manager, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := prefix + "-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.DropSnapshot(ctx, name); err != nil && spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Errorf("cleanup: DropSnapshot(%s): %v", name, err)
		}
	})
	return name
}

// mustCreate creates a database or fails the test.
func mustCreate(t testing.TB, m *Manager, env, app string, src Source) Database {
	t.Helper()
	db, err := m.Create(testContext(t), env, app, src)
	if err != nil {
		t.Fatalf("Create(%s, %s): %v", env, app, err)
	}
	return db
}

// connectAs connects to db with its own credentials over loopback.
func connectAs(t testing.TB, db Database) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testContext(t), db.URL("127.0.0.1"))
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", db.Name, db.User, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// adminQueryInt runs a query returning one integer on the admin pool.
func adminQueryInt(t testing.TB, m *Manager, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := m.pool.QueryRow(testContext(t), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// wantCode fails the test unless err carries the error code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := spacepods.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// existsDatabase and existsRole look names up on the server.
func existsDatabase(t testing.TB, m *Manager, name string) bool {
	return adminQueryInt(t, m, "SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
}

func existsRole(t testing.TB, m *Manager, name string) bool {
	return adminQueryInt(t, m, "SELECT count(*) FROM pg_roles WHERE rolname = $1", name) == 1
}

// testLoggerTo logs text into w.
func testLoggerTo(w interface{ Write([]byte) (int, error) }) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// connectFrom connects to url from local address src (to test pg_hba.conf
// rules by client address).
func connectFrom(ctx context.Context, url, src string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	cfg.DialFunc = d.DialContext
	return pgx.ConnectConfig(ctx, cfg)
}
