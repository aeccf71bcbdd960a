package databases

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// parseSnapshotMarker returns the snapshot marker in a database comment.
func parseSnapshotMarker(comment *string) (marker, bool) {
	if comment == nil {
		return marker{}, false
	}
	mk, ok := parseMarker(*comment)
	return mk, ok && mk.Kind == kindSnapshot
}

// Snapshot copies the database of app in env into a new template database
// (see SnapshotDatabaseName) from which Create clones. PostgreSQL copies a
// database only while nobody is connected to it, so the source is briefly
// closed: new connections are refused (ALLOW_CONNECTIONS false), open ones
// are terminated (their transactions roll back), and connections are allowed
// again as soon as the copy is done, typically well under a second for
// environment-sized databases; the app's connection pool reconnects. Errors:
// EINVALID for bad names, ENOTFOUND when the source does not exist, ECONFLICT
// when a snapshot of that name exists, EUNAVAILABLE.
func (m *Manager) Snapshot(ctx context.Context, env, app, name string) (Snapshot, error) {
	if err := validateEnvApp(env, app); err != nil {
		return Snapshot{}, err
	}
	if err := validateSnapshotName(name); err != nil {
		return Snapshot{}, err
	}
	s, err := m.snapshot(ctx, env, app, name)
	return s, m.fail("take snapshot", err)
}

func (m *Manager) snapshot(ctx context.Context, env, app, name string) (Snapshot, error) {
	src := DatabaseName(env, app)
	snap := SnapshotDatabaseName(name)
	log := m.logger.With("env", env, "app", app, "database", src, "snapshot", name)
	conn, release, err := m.lock(ctx, snap, src)
	if err != nil {
		return Snapshot{}, err
	}
	defer release()

	f, err := inspect(ctx, conn, src)
	if err != nil {
		return Snapshot{}, err
	}
	if mk, ok := m.ownedBy(f.db, env, app); !ok || mk.State != stateReady {
		return Snapshot{}, spacepods.Errorf(spacepods.ENOTFOUND, "no database for app %q in environment %q to snapshot", app, env)
	}
	if _, ok := m.ownedBy(f.role, env, app); !ok {
		return Snapshot{}, spacepods.Errorf(spacepods.ENOTFOUND, "the database of app %q in environment %q has lost its login role: create it again to repair it", app, env)
	}
	if err := shareSnapshotOwner(ctx, conn); err != nil {
		return Snapshot{}, err
	}
	sf, err := inspect(ctx, conn, snap)
	if err != nil {
		return Snapshot{}, err
	}
	if sf.db != nil {
		mk, ok := parseSnapshotMarker(sf.db)
		switch {
		case ok && mk.Name == name && mk.State != stateReady:
			log.Warn("dropping a half-made snapshot left by an earlier failed snapshot")
			if err := dropSnapshotDatabase(ctx, conn, snap); err != nil {
				return Snapshot{}, err
			}
		case ok && mk.Name == name:
			return Snapshot{}, spacepods.Errorf(spacepods.ECONFLICT, "snapshot %q exists already (of app %q in environment %q, taken %s): drop it first or pick another name", name, mk.App, mk.Env, mk.Created.Format(time.RFC3339))
		default:
			return Snapshot{}, spacepods.Errorf(spacepods.ECONFLICT, "a PostgreSQL database %q exists that is not Spacepods snapshot %q: drop or rename it, or pick another name", snap, name)
		}
	}
	if err := m.ensureSnapshotOwner(ctx, conn); err != nil {
		return Snapshot{}, err
	}

	start := time.Now()
	closed, err := m.copyClosed(ctx, conn, src, snap)
	if err != nil {
		return Snapshot{}, err
	}
	undo := func(cause error) (Snapshot, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := dropSnapshotDatabase(ctx, m.alive(conn), snap); err != nil {
			log.Error("could not drop the half-made snapshot", "err", err)
		}
		return Snapshot{}, cause
	}
	mk := marker{Kind: kindSnapshot, Name: name, Env: env, App: app, State: stateCreating, Created: time.Now().UTC().Truncate(time.Second)}
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(snap)+" IS "+quoteLiteral(mk.String())); err != nil {
		return undo(err)
	}
	if err := m.detachSnapshot(ctx, snap, src); err != nil {
		return undo(fmt.Errorf("hand the snapshot's objects to %s: %w", snapshotOwner, err))
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(snap)+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
		return undo(err)
	}
	mk.State = stateReady
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(snap)+" IS "+quoteLiteral(mk.String())); err != nil {
		return undo(err)
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size($1)", snap).Scan(&size); err != nil {
		return undo(err)
	}
	log.Info("took snapshot", "source_closed_for", closed.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond), "bytes", size)
	return Snapshot{Name: name, Database: snap, Env: env, App: app, CreatedAt: mk.Created, SizeBytes: size}, nil
}

// copyClosed copies database src into a new database dst while src refuses
// connections, and returns how long src was closed. It opens src again
// whatever happens.
func (m *Manager) copyClosed(ctx context.Context, conn *pgxpool.Conn, src, dst string) (time.Duration, error) {
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(src)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return 0, err
	}
	start := time.Now()
	reopen := func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := m.alive(conn).Exec(ctx, "ALTER DATABASE "+ident(src)+" WITH ALLOW_CONNECTIONS true")
		return err
	}
	var err error
	for attempt := 1; ; attempt++ {
		_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", src)
		if err == nil {
			_, err = conn.Exec(ctx, "CREATE DATABASE "+ident(dst)+" TEMPLATE "+ident(src))
		}
		var pgErr *pgconn.PgError
		// 55006: a terminated session had not gone yet (PostgreSQL waits 5 s).
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 3 {
			break
		}
	}
	closed := time.Since(start)
	if rerr := reopen(); rerr != nil {
		m.logger.Error("could not allow connections to the snapshot's source again; Create of it or ALTER DATABASE … ALLOW_CONNECTIONS true repairs it", "database", src, "err", rerr)
		if err == nil {
			err = rerr
		}
	}
	return closed, err
}

// detachSnapshot hands the objects inside snapshot database snap from the
// source's role to the snapshot owner, so that the source role can be
// dropped while the snapshot lives on. REASSIGN OWNED also moves the
// databases the role owns, so their ownership is put back in the same
// transaction; DROP OWNED then removes the role's remaining privileges and
// default privileges inside the snapshot.
func (m *Manager) detachSnapshot(ctx context.Context, snap, role string) error {
	c, err := m.connect(ctx, snap, "", "")
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)", role)
		if err != nil {
			return err
		}
		owned, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		stmts := []string{
			"REASSIGN OWNED BY " + ident(role) + " TO " + ident(snapshotOwner),
			"DROP OWNED BY " + ident(role),
		}
		for _, db := range owned {
			stmts = append(stmts, "ALTER DATABASE "+ident(db)+" OWNER TO "+ident(role))
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// ownerLock is the advisory lock guarding the snapshot owner role: Snapshot
// and clones hold it shared while they need the role, DropSnapshot takes it
// exclusively (without waiting) to drop the role with the last snapshot.
const ownerLock = 0x4f574e52 // "OWNR"

func shareSnapshotOwner(ctx context.Context, q querier) error {
	_, err := q.Exec(ctx, "SELECT pg_advisory_lock_shared($1, $2)", int32(lockClass), int32(ownerLock))
	return err
}

// dropSnapshotOwnerIfUnused drops the snapshot owner role once no snapshot
// is left, so that Spacepods leaves nothing behind on the server. The caller
// holds conn until it releases its locks.
func (m *Manager) dropSnapshotOwnerIfUnused(ctx context.Context, conn *pgxpool.Conn) {
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", int32(lockClass), int32(ownerLock)).Scan(&locked); err != nil || !locked {
		return // a snapshot or clone is under way; it keeps the role
	}
	var left int
	err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database
		WHERE left(datname, 8) = 'sp_snap_' AND shobj_description(oid, 'pg_database') LIKE $1`,
		markerPrefix+`{"kind":"`+kindSnapshot+`"%`).Scan(&left)
	if err != nil || left > 0 {
		return
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(snapshotOwner)); err != nil {
		m.logger.Debug("keeping the snapshot owner role", "err", err) // it still owns something
	}
}

// ensureSnapshotOwner creates the NOLOGIN role that owns snapshot contents,
// shared by all snapshots and dropped with the last of them.
func (m *Manager) ensureSnapshotOwner(ctx context.Context, conn *pgxpool.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", snapshotOwner).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		mk := marker{Kind: kindInternal}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "CREATE ROLE "+ident(snapshotOwner)+" NOLOGIN"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "COMMENT ON ROLE "+ident(snapshotOwner)+" IS "+quoteLiteral(mk.String()))
			return err
		})
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42710") { // made meanwhile by another process
			return err
		}
	}
	return m.grantToAdmin(ctx, conn, snapshotOwner)
}

// dropSnapshotDatabase drops a template database.
func dropSnapshotDatabase(ctx context.Context, q querier, snap string) error {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", snap).Scan(&exists); err != nil || !exists {
		return err
	}
	if _, err := q.Exec(ctx, "ALTER DATABASE "+ident(snap)+" WITH IS_TEMPLATE false"); err != nil {
		return err
	}
	return dropDatabase(ctx, q, snap)
}

// ListSnapshots returns every snapshot, oldest first, including half-made
// ones (Incomplete).
func (m *Manager) ListSnapshots(ctx context.Context) ([]Snapshot, error) {
	rows, err := m.pool.Query(ctx, `
		SELECT datname, coalesce(shobj_description(oid, 'pg_database'), ''), pg_database_size(oid)
		FROM pg_database WHERE left(datname, 8) = 'sp_snap_'`)
	if err != nil {
		return nil, m.fail("list snapshots", err)
	}
	var (
		out           []Snapshot
		name, comment string
		size          int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &comment, &size}, func() error {
		if mk, ok := parseSnapshotMarker(&comment); ok && SnapshotDatabaseName(mk.Name) == name {
			out = append(out, Snapshot{Name: mk.Name, Database: name, Env: mk.Env, App: mk.App, CreatedAt: mk.Created, SizeBytes: size, Incomplete: mk.State != stateReady})
		}
		return nil
	})
	if err != nil {
		return nil, m.fail("list snapshots", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// DropSnapshot drops the snapshot called name; databases cloned from it are
// not affected. ENOTFOUND when there is no such snapshot, ECONFLICT when its
// database name is taken by something else.
func (m *Manager) DropSnapshot(ctx context.Context, name string) error {
	if err := validateSnapshotName(name); err != nil {
		return err
	}
	return m.fail("drop snapshot", m.dropSnapshot(ctx, name))
}

func (m *Manager) dropSnapshot(ctx context.Context, name string) error {
	snap := SnapshotDatabaseName(name)
	conn, release, err := m.lock(ctx, snap)
	if err != nil {
		return err
	}
	defer release()
	f, err := inspect(ctx, conn, snap)
	if err != nil {
		return err
	}
	if f.db == nil {
		return spacepods.Errorf(spacepods.ENOTFOUND, "snapshot %q not found", name)
	}
	if mk, ok := parseSnapshotMarker(f.db); !ok || mk.Name != name {
		return spacepods.Errorf(spacepods.ECONFLICT, "refusing to drop database %q: it is not Spacepods snapshot %q", snap, name)
	}
	if err := dropSnapshotDatabase(ctx, conn, snap); err != nil {
		return err
	}
	m.logger.Info("dropped snapshot", "snapshot", name, "database", snap)
	m.dropSnapshotOwnerIfUnused(ctx, conn)
	return nil
}
