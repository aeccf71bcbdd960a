package databases

import (
	"context"
	"strings"
	"testing"

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
