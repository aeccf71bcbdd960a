// Package store keeps Spacepods' state in SQL: an embedded SQLite file by
// default (pure Go, no cgo) or PostgreSQL when a postgres:// URL is given.
// SQL is hand-written, one file per entity; the schema comes from embedded,
// numbered migrations applied on open. The store knows only domain types.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"               // registers "sqlite"

	"github.com/spacepods/spacepods/internal/spacepods"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is the SQL store. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// changes is signalled after writes to environments, their apps,
	// events, releases, deploys, apps and builds (see Changes).
	changes *spacepods.Changes
}

// Changes is the broadcast that live views wait on: signalled by this
// process's writes to environments, their apps and events, releases,
// deploys (with the environment), apps and builds (everything).
func (s *Store) Changes() *spacepods.Changes { return s.changes }

// Option configures Open.
type Option func(*options)

type options struct {
	wrapSQLite func(driver.Driver) driver.Driver
}

// WrapSQLiteDriver makes Open use wrap(the SQLite driver): storetest counts
// the statements a store sends with it. PostgreSQL stores ignore it.
func WrapSQLiteDriver(wrap func(driver.Driver) driver.Driver) Option {
	return func(o *options) { o.wrapSQLite = wrap }
}

// Open opens (and migrates) the store. url "" means the SQLite file
// <dataDir>/spacepods.db; a postgres:// or postgresql:// URL means PostgreSQL.
func Open(ctx context.Context, url, dataDir string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	wrap := o.wrapSQLite
	s := &Store{Now: func() time.Time { return time.Now().UTC() }, changes: spacepods.NewChanges()}
	var err error
	switch {
	case url == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "cannot create data dir %s: %v (choose another with --data-dir)", dataDir, err)
		}
		s.dialect = SQLite
		path := filepath.Join(dataDir, "spacepods.db")
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		if wrap != nil {
			s.db = sql.OpenDB(dsnConnector{wrap(&sqlite.Driver{}), dsn})
		} else {
			s.db, err = sql.Open("sqlite", dsn)
		}
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One writer at a time is SQLite's model; a small pool serves reads.
		s.db.SetMaxOpenConns(4)
	case strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://"):
		s.dialect = Postgres
		s.db, err = sql.Open("pgx", url)
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "bad --database-url: %v", err)
		}
		s.db.SetMaxOpenConns(20)
		s.db.SetMaxIdleConns(10)
	default:
		return nil, spacepods.Errorf(spacepods.EINVALID, "--database-url must be empty (embedded SQLite) or a postgres:// URL, got %q", redactURL(url))
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		_ = s.db.Close() // best-effort cleanup; nothing useful to do on failure
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "cannot reach the database at %s: %v (is it running? check --database-url)", redactURL(url), err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.db.Close() // best-effort cleanup; nothing useful to do on failure
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Dialect returns SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// DB exposes the handle for tests and benchmarks.
func (s *Store) DB() *sql.DB { return s.db }

var pwRE = regexp.MustCompile(`://([^:/@]+):[^@]*@`)

func redactURL(u string) string { return pwRE.ReplaceAllString(u, "://$1:***@") }

// migrate applies the embedded migrations not yet applied, each in a tx.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		body, _ := migrationFS.ReadFile(name)
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM schema_migrations WHERE version = $1`), v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range splitSQL(s.dialectSQL(string(body))) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %s: %w", name, err)
				}
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`), v, s.Now().UnixMicro())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// dialectSQL fills the few dialect-specific spots of a migration.
func (s *Store) dialectSQL(body string) string {
	id := "BIGSERIAL PRIMARY KEY"
	if s.dialect == SQLite {
		id = "INTEGER PRIMARY KEY AUTOINCREMENT"
	}
	return strings.ReplaceAll(body, "{{ID}}", id)
}

// splitSQL drops comment lines, then splits a migration into statements.
func splitSQL(body string) []string {
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			lines = append(lines, l)
		}
	}
	var out []string
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		if strings.TrimSpace(stmt) != "" {
			out = append(out, strings.TrimSpace(stmt))
		}
	}
	return out
}

var paramRE = regexp.MustCompile(`\$(\d+)`)

// q rewrites $N placeholders to SQLite's ?N.
func (s *Store) q(query string) string {
	if s.dialect == SQLite {
		return paramRE.ReplaceAllString(query, "?$1")
	}
	return query
}

// tx runs fn in a transaction, committing on nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return s.wrap(err)
	}
	return s.wrap(tx.Commit())
}

// wrap turns driver errors that users can act on into coded errors.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	var se *spacepods.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("store: %w", err)
}

// isUniqueViolation reports a primary key / unique constraint failure.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505") || strings.Contains(m, "duplicate key value")
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, v)
	}
	return out, s.wrap(rows.Err())
}

// audit writes one audit entry inside tx.
func (s *Store) audit(ctx context.Context, tx *sql.Tx, action, target, details string) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit (actor, action, target, details, at) VALUES ($1, $2, $3, $4, $5)`),
		spacepods.ActorName(ctx), action, target, details, micros(s.Now()))
	return err
}

// dsnConnector opens connections of a driver with a fixed DSN.
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }
