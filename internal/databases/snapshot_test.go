package databases

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestManager_SnapshotWhileConnected_ThenClone(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	ctx := testContext(t)
	src, dst := newEnv(t, m, "snapsrc"), newEnv(t, m, "snapdst")
	snapName := newSnapshotName(t, m, "golden")
	source := mustCreate(t, m, src, "catalog", Source{Seed: `
CREATE TABLE items (id serial PRIMARY KEY, name text);
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 100) g;
CREATE VIEW item_names AS SELECT name FROM items;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;`})

	// The live app: a pool with a session idle in a transaction.
	app, err := pgxpool.New(ctx, source.URL("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) // before app.Close, which waits for its connection
	if _, err := tx.Exec(ctx, "INSERT INTO items (name) VALUES ('uncommitted')"); err != nil {
		t.Fatal(err)
	}

	snap, err := m.Snapshot(ctx, src, "catalog", snapName)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if snap.Name != snapName || snap.Env != src || snap.App != "catalog" || snap.CreatedAt.IsZero() || snap.SizeBytes == 0 {
		t.Errorf("Snapshot = %+v", snap)
	}
	// The snapshot did not disturb the app: its open transaction goes on.
	if _, err := tx.Exec(ctx, "INSERT INTO items (name) VALUES ('uncommitted 2')"); err != nil {
		t.Fatalf("the app's open transaction after the snapshot: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("roll back the app's open transaction after the snapshot: %v", err)
	}
	var n int
	if err := app.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 100 {
		t.Fatalf("the source app after the snapshot: %d rows, %v", n, err)
	}
	if _, err := app.Exec(ctx, "INSERT INTO items (name) VALUES ('after snapshot')"); err != nil {
		t.Fatalf("the source app cannot write after the snapshot: %v", err)
	}
	var owner string
	if err := m.pool.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", source.Name).Scan(&owner); err != nil || owner != source.User {
		t.Errorf("the source database is now owned by %q (%v), want %q", owner, err, source.User)
	}

	// The source environment can go while its snapshot lives on.
	app.Close()
	if err := m.DropEnvironment(ctx, src); err != nil {
		t.Fatalf("drop the snapshot's source environment: %v", err)
	}

	clone := mustCreate(t, m, dst, "catalog", Source{Snapshot: snapName})
	conn := connectAs(t, clone)
	// The clone's role owns its own database and no other: the snapshot
	// database (the admin's) did not go along with REASSIGN OWNED.
	if n := adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_database WHERE datdba = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)", clone.User); n != 1 {
		t.Errorf("the clone's role owns %d databases, want 1", n)
	}
	if n := adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1 AND datdba = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)", SnapshotDatabaseName(snapName)); n != 1 {
		t.Error("the snapshot database is not the admin's")
	}
	var tableOwner string
	if err := conn.QueryRow(ctx, "SELECT count(*), (SELECT tableowner FROM pg_tables WHERE tablename = 'items') FROM item_names").Scan(&n, &tableOwner); err != nil {
		t.Fatal(err)
	}
	if n != 100 || tableOwner != clone.User {
		t.Errorf("clone has %d rows owned by %q, want 100 (no uncommitted or later rows) owned by %q", n, tableOwner, clone.User)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO items (name) VALUES ('in clone'); CREATE TABLE more (id int); ALTER TABLE items ADD COLUMN x int"); err != nil {
		t.Errorf("the clone's role cannot use its clone: %v", err)
	}

	list, err := m.ListSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list {
		found = found || (s.Name == snapName && !s.Incomplete && s.Env == src)
	}
	if !found {
		t.Errorf("ListSnapshots lacks %s: %+v", snapName, list)
	}
	if err := m.DropSnapshot(ctx, snapName); err != nil {
		t.Fatal(err)
	}
	if existsDatabase(t, m, SnapshotDatabaseName(snapName)) {
		t.Error("DropSnapshot left the template database")
	}
	if err := conn.Ping(ctx); err != nil {
		t.Errorf("dropping the snapshot broke its clone: %v", err)
	}
	wantCode(t, m.DropSnapshot(ctx, snapName), spacepods.ENOTFOUND)
}

func TestManager_SnapshotErrors(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	ctx := testContext(t)
	env := newEnv(t, m, "snaperr")
	name := newSnapshotName(t, m, "dup")
	mustCreate(t, m, env, "web", Source{})

	if _, err := m.Snapshot(ctx, env, "web", name); err != nil {
		t.Fatal(err)
	}
	_, err := m.Snapshot(ctx, env, "web", name)
	wantCode(t, err, spacepods.ECONFLICT)
	_, err = m.Snapshot(ctx, env, "missing", "other")
	wantCode(t, err, spacepods.ENOTFOUND)
	_, err = m.Snapshot(ctx, env, "web", "Bad_Name")
	wantCode(t, err, spacepods.EINVALID)

	_, err = m.Create(ctx, env, "clone", Source{Snapshot: "no-such-snapshot"})
	wantCode(t, err, spacepods.ENOTFOUND)
	if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "list the snapshots") {
		t.Errorf("message %q does not say how to find snapshots", msg)
	}
	if existsRole(t, m, DatabaseName(env, "clone")) {
		t.Error("a clone from a missing snapshot left its role")
	}
	_, err = m.Create(ctx, env, "clone", Source{Snapshot: name, Seed: "SELECT 1"})
	wantCode(t, err, spacepods.EINVALID)

	// Two clones of one snapshot at once.
	errs := make(chan error, 2)
	for _, app := range []string{"clone-a", "clone-b"} {
		go func() {
			_, err := m.Create(context.WithoutCancel(ctx), env, app, Source{Snapshot: name})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent clone: %v", err)
		}
	}
}

// TestManager_SnapshotUnderLoad_NoFailedQueries: a master environment's app
// reads and writes without pause, through its own role, while its database
// is snapshotted. Not one query fails, and the snapshot is one consistent
// instant of the data.
func TestManager_SnapshotUnderLoad_NoFailedQueries(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	ctx := testContext(t)
	env := newEnv(t, m, "master")
	snapName := newSnapshotName(t, m, "live")
	src := mustCreate(t, m, env, "orders", Source{Seed: `
CREATE TABLE orders (id bigserial PRIMARY KEY, worker int NOT NULL, payload text NOT NULL);
CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders (id), line int NOT NULL, PRIMARY KEY (order_id, line));
INSERT INTO orders (worker, payload) SELECT 0, repeat('x', 200) FROM generate_series(1, 20000);
INSERT INTO order_lines SELECT id, l FROM orders, generate_series(1, 2) l;`})

	const workers = 4
	cfg, err := pgxpool.ParseConfig(src.URL("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = workers
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	var (
		queries, writes atomic.Int64
		failed          atomic.Int64
		slowest         atomic.Int64 // ns
		errMu           sync.Mutex
		firstErrs       []error
	)
	record := func(start time.Time, err error) {
		queries.Add(1)
		if d := int64(time.Since(start)); d > slowest.Load() {
			slowest.Store(d) // racy max, good enough for a report
		}
		if err != nil {
			failed.Add(1)
			errMu.Lock()
			if len(firstErrs) < 5 {
				firstErrs = append(firstErrs, err)
			}
			errMu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 1; w <= workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				err := pgx.BeginFunc(ctx, app, func(tx pgx.Tx) error {
					var id int64
					if err := tx.QueryRow(ctx, "INSERT INTO orders (worker, payload) VALUES ($1, 'live') RETURNING id", w).Scan(&id); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, "INSERT INTO order_lines VALUES ($1, 1), ($1, 2)", id)
					return err
				})
				if err == nil {
					writes.Add(1)
				}
				record(start, err)
				start = time.Now()
				var n int
				record(start, app.QueryRow(ctx, "SELECT count(*) FROM orders WHERE worker = $1", w).Scan(&n))
			}
		}()
	}
	// Let the load run before, during and after the snapshot.
	waitFor := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for queries.Load() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(50)
	writesBefore := writes.Load()
	queriesBefore := queries.Load()
	snap, err := m.Snapshot(ctx, env, "orders", snapName)
	queriesDuring := queries.Load() - queriesBefore
	if err == nil {
		waitFor(queries.Load() + 50)
	}
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Snapshot under load: %v", err)
	}
	writesAfter := writes.Load()
	t.Logf("load: %d queries (%d during the snapshot), %d writes, %d failed, slowest %s; snapshot %d bytes",
		queries.Load(), queriesDuring, writesAfter, failed.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), snap.SizeBytes)
	if failed.Load() != 0 {
		t.Errorf("%d queries failed during the snapshot, e.g. %v", failed.Load(), firstErrs)
	}
	if queries.Load() < 100 || queriesDuring == 0 {
		t.Errorf("the load ran only %d queries (%d during the snapshot): too few to mean anything", queries.Load(), queriesDuring)
	}

	clone := connectAs(t, mustCreate(t, m, env, "orders-copy", Source{Snapshot: snapName}))
	var orders, lines, live int64
	if err := clone.QueryRow(ctx, "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines), (SELECT count(*) FROM orders WHERE worker > 0)").Scan(&orders, &lines, &live); err != nil {
		t.Fatal(err)
	}
	if lines != 2*orders {
		t.Errorf("snapshot holds %d orders but %d lines: not one instant of the data", orders, lines)
	}
	if live < writesBefore || live > writesAfter || orders != 20000+live {
		t.Errorf("snapshot holds %d orders of the load (%d committed before it began, %d in all), %d in all", live, writesBefore, writesAfter, orders)
	}
}

// TestManager_Drop_RemovesWhatADeadSnapshotLeft: a Snapshot that died while
// copying leaves its database owned by the source's role. It is listed as
// incomplete, and dropping the source takes it along instead of failing on
// the role.
func TestManager_Drop_RemovesWhatADeadSnapshotLeft(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	ctx := testContext(t)
	env := newEnv(t, m, "deadsnap")
	name := newSnapshotName(t, m, "dead")
	db := mustCreate(t, m, env, "web", Source{})
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mk := marker{Kind: kindSnapshot, Name: name, Env: env, App: "web", State: stateCreating, Created: time.Now().UTC().Truncate(time.Second)}
	err = m.createSnapshotDatabase(ctx, conn, db.Name, SnapshotDatabaseName(name), mk)
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.ListSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list {
		found = found || s.Name == name && s.Incomplete
	}
	if !found {
		t.Errorf("ListSnapshots does not show the half-made snapshot %s", name)
	}
	if err := m.Drop(ctx, env, "web"); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	if existsRole(t, m, db.User) || existsDatabase(t, m, SnapshotDatabaseName(name)) {
		t.Error("Drop left the role or the half-made snapshot")
	}
}
