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
// (see SnapshotDatabaseName) from which Create clones. The copy is a
// consistent logical copy (pg_dump into pg_restore, both logged in as the
// database's own role) taken while the app runs: its sessions, transactions
// and new connections go on undisturbed. Only DDL on the source waits while
// the dump holds its share locks. Snapshots need pg_dump and pg_restore of
// the server's major version or newer on this host (package
// postgresql-client). Errors: EINVALID for bad names, ENOTFOUND when the
// source does not exist, ECONFLICT when a snapshot of that name exists,
// EUNAVAILABLE (also when the tools are missing).
func (m *Manager) Snapshot(ctx context.Context, env, app, name string) (spacepods.Snapshot, error) {
	if err := validateEnvApp(env, app); err != nil {
		return spacepods.Snapshot{}, err
	}
	if err := validateSnapshotName(name); err != nil {
		return spacepods.Snapshot{}, err
	}
	s, err := m.snapshot(ctx, env, app, name)
	return s, m.fail("take snapshot", err)
}

func (m *Manager) snapshot(ctx context.Context, env, app, name string) (spacepods.Snapshot, error) {
	src := DatabaseName(env, app)
	snap := SnapshotDatabaseName(name)
	log := m.logger.With("env", env, "app", app, "database", src, "snapshot", name)
	conn, release, err := m.lock(ctx, snap, src)
	if err != nil {
		return spacepods.Snapshot{}, err
	}
	defer release()

	f, err := inspect(ctx, conn, src)
	if err != nil {
		return spacepods.Snapshot{}, err
	}
	if mk, ok := m.ownedBy(f.db, env, app); !ok || mk.State != stateReady {
		return spacepods.Snapshot{}, spacepods.Errorf(spacepods.ENOTFOUND, "no database for app %q in environment %q to snapshot", app, env)
	}
	if _, ok := m.ownedBy(f.role, env, app); !ok {
		return spacepods.Snapshot{}, spacepods.Errorf(spacepods.ENOTFOUND, "the database of app %q in environment %q has lost its login role: create it again to repair it", app, env)
	}
	if err := shareSnapshotOwner(ctx, conn); err != nil {
		return spacepods.Snapshot{}, err
	}
	sf, err := inspect(ctx, conn, snap)
	if err != nil {
		return spacepods.Snapshot{}, err
	}
	if sf.db != nil {
		mk, ok := parseSnapshotMarker(sf.db)
		switch {
		case ok && mk.Name == name && mk.State != stateReady:
			log.Warn("dropping a half-made snapshot left by an earlier failed snapshot")
			if err := dropSnapshotDatabase(ctx, conn, snap); err != nil {
				return spacepods.Snapshot{}, err
			}
		case ok && mk.Name == name:
			return spacepods.Snapshot{}, spacepods.Errorf(spacepods.ECONFLICT, "snapshot %q exists already (of app %q in environment %q, taken %s): drop it first or pick another name", name, mk.App, mk.Env, mk.Created.Format(time.RFC3339))
		default:
			return spacepods.Snapshot{}, spacepods.Errorf(spacepods.ECONFLICT, "a PostgreSQL database %q exists that is not Spacepods snapshot %q: drop or rename it, or pick another name", snap, name)
		}
	}
	if err := m.ensureSnapshotOwner(ctx, conn); err != nil {
		return spacepods.Snapshot{}, err
	}

	tools, err := m.dumpTools(ctx)
	if err != nil {
		return spacepods.Snapshot{}, err
	}
	start := time.Now()
	undo := func(cause error) (spacepods.Snapshot, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := dropSnapshotDatabase(ctx, m.alive(conn), snap); err != nil {
			log.Error("could not drop the half-made snapshot", "err", err)
		}
		return spacepods.Snapshot{}, cause
	}
	mk := marker{Kind: kindSnapshot, Name: name, Env: env, App: app, State: stateCreating, Created: time.Now().UTC().Truncate(time.Second)}
	if err := m.createSnapshotDatabase(ctx, conn, src, snap, mk); err != nil {
		return undo(err)
	}
	if err := m.copyLive(ctx, tools, src, snap); err != nil {
		return undo(err)
	}
	copied := time.Since(start)
	if err := m.detachSnapshot(ctx, snap, src); err != nil {
		return undo(fmt.Errorf("hand the snapshot's objects to %s: %w", snapshotOwner, err))
	}
	if err := closeSnapshotDatabase(ctx, conn, snap); err != nil {
		return undo(err)
	}
	mk.State = stateReady
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(snap)+" IS "+quoteLiteral(mk.String())); err != nil {
		return undo(err)
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_database_size($1::pg_catalog.name)", snap).Scan(&size); err != nil {
		return undo(err)
	}
	log.Info("took snapshot", "copy_took", copied.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond), "bytes", size)
	return spacepods.Snapshot{Name: name, Database: snap, Env: env, App: app, CreatedAt: mk.Created, SizeBytes: size}, nil
}

// createSnapshotDatabase creates the empty database snap, marked as a
// half-made snapshot, for the copy of src: owned by src's role (which
// restores into it, so that nothing in the copy runs with the admin's
// privileges), with src's encoding and locale, and closed to everyone else.
func (m *Manager) createSnapshotDatabase(ctx context.Context, conn *pgxpool.Conn, src, snap string, mk marker) error {
	var encoding, collate, ctype string
	err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype
		FROM pg_catalog.pg_database WHERE datname = $1`, src).Scan(&encoding, &collate, &ctype)
	if err != nil {
		return err
	}
	stmts := []string{
		"CREATE DATABASE " + ident(snap) + " OWNER " + ident(src) + " TEMPLATE template0 ENCODING " + quoteLiteral(encoding) +
			" LC_COLLATE " + quoteLiteral(collate) + " LC_CTYPE " + quoteLiteral(ctype),
		"COMMENT ON DATABASE " + ident(snap) + " IS " + quoteLiteral(mk.String()),
		"REVOKE ALL ON DATABASE " + ident(snap) + " FROM PUBLIC",
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// closeSnapshotDatabase makes snap a template nobody connects to, ending
// any session the source's role opened in it while it owned it: a clone
// copies it only while nobody is connected.
func closeSnapshotDatabase(ctx context.Context, conn *pgxpool.Conn, snap string) error {
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(snap)+" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
		WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()`, snap)
	return err
}

// detachSnapshot hands the objects inside snapshot database snap from the
// source's role to the snapshot owner, and snap itself to the admin, so that
// the source role can be dropped while the snapshot lives on. REASSIGN OWNED
// also moves the other databases the role owns (its own), so their
// ownership is put back in the same transaction; DROP OWNED then removes the role's remaining
// privileges and default privileges inside the snapshot. Nothing here runs
// code the source's role wrote: REASSIGN and DROP OWNED only change the
// catalogs, and the admin session's search_path holds pg_catalog only.
func (m *Manager) detachSnapshot(ctx context.Context, snap, role string) error {
	c, err := m.connect(ctx, snap, "", "")
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }() // best-effort cleanup; nothing useful to do on failure
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT datname FROM pg_catalog.pg_database
			WHERE datdba = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) AND datname <> $2`, role, snap)
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
			// Not the snapshot owner's: a clone's REASSIGN OWNED BY it would
			// take every snapshot database along.
			"ALTER DATABASE " + ident(snap) + " OWNER TO CURRENT_USER",
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
	_, err := q.Exec(ctx, "SELECT pg_catalog.pg_advisory_lock_shared($1, $2)", int32(lockClass), int32(ownerLock))
	return err
}

// dropSnapshotOwnerIfUnused drops the snapshot owner role once no snapshot
// is left, so that Spacepods leaves nothing behind on the server. The caller
// holds conn until it releases its locks.
func (m *Manager) dropSnapshotOwnerIfUnused(ctx context.Context, conn *pgxpool.Conn) {
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_try_advisory_lock($1, $2)", int32(lockClass), int32(ownerLock)).Scan(&locked); err != nil || !locked {
		return // a snapshot or clone is under way; it keeps the role
	}
	var left int
	err := conn.QueryRow(ctx, `SELECT pg_catalog.count(*) FROM pg_catalog.pg_database
		WHERE pg_catalog.left(datname, 8) = 'sp_snap_' AND pg_catalog.shobj_description(oid, 'pg_database') LIKE $1`,
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
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", snapshotOwner).Scan(&exists); err != nil {
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
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)", snap).Scan(&exists); err != nil || !exists {
		return err
	}
	if _, err := q.Exec(ctx, "ALTER DATABASE "+ident(snap)+" WITH IS_TEMPLATE false"); err != nil {
		return err
	}
	return dropDatabase(ctx, q, snap)
}

// ListSnapshots returns every snapshot, oldest first, including half-made
// ones (Incomplete).
func (m *Manager) ListSnapshots(ctx context.Context) ([]spacepods.Snapshot, error) {
	rows, err := m.pool.Query(ctx, `
		SELECT datname, coalesce(pg_catalog.shobj_description(oid, 'pg_database'), ''), pg_catalog.pg_database_size(oid)
		FROM pg_catalog.pg_database WHERE pg_catalog.left(datname, 8) = 'sp_snap_'`)
	if err != nil {
		return nil, m.fail("list snapshots", err)
	}
	var (
		out           []spacepods.Snapshot
		name, comment string
		size          int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &comment, &size}, func() error {
		if mk, ok := parseSnapshotMarker(&comment); ok && SnapshotDatabaseName(mk.Name) == name {
			out = append(out, spacepods.Snapshot{Name: mk.Name, Database: name, Env: mk.Env, App: mk.App, CreatedAt: mk.Created, SizeBytes: size, Incomplete: mk.State != stateReady})
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
