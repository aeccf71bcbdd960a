package databases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spacepods/spacepods/internal/testenv"
)

// plantSQL creates functions that shadow the catalog functions admin SQL
// calls (left(name, int) in List and ListSnapshots, shobj_description(oid,
// text) in every lookup) in schema public: run by a superuser, they make
// role a superuser, then answer like the real ones.
func plantSQL(role string) string {
	escalate := fmt.Sprintf(`IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE %s SUPERUSER';
	END IF;`, ident(role))
	return `
CREATE FUNCTION public.left(name, integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	` + escalate + `
	RETURN pg_catalog.left($1::text, $2);
END $$;
CREATE FUNCTION public.shobj_description(oid, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	` + escalate + `
	RETURN pg_catalog.shobj_description($1, $2::name);
END $$;`
}

// TestManager_PodRoleCannotBecomeSuperuser is the attack of issue 11 §2: an
// app uses its own DATABASE_URL to plant public.left(name, int) where admin
// SQL runs, and waits for a leak audit, a destroy or a snapshot list to run
// it as superuser. Three walls stop it, each tested on its own: the pod's
// role cannot reach postgres (nor template1, nor another pod's database);
// admin sessions never look in public (search_path pg_catalog, pg_temp, and
// qualified calls), so a function planted there anyway is never run; and
// the role has no attribute to abuse.
func TestManager_PodRoleCannotBecomeSuperuser(t *testing.T) {
	m := mustOpen(t)
	ctx := testContext(t)
	env := newEnv(t, m, "attack")
	evil := mustCreate(t, m, env, "evil", Source{Seed: "CREATE TABLE loot (id int);"})
	victim := mustCreate(t, m, env, "victim", Source{Seed: "CREATE TABLE t (id int);"})
	isSuper := func() bool {
		t.Helper()
		return adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1 AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)", evil.User) > 0
	}
	if isSuper() {
		t.Fatalf("role %s has admin attributes from the start", evil.User)
	}

	// PostgreSQL 14's default, which this server (15+) no longer has.
	if _, err := m.pool.Exec(ctx, "GRANT CREATE ON SCHEMA public TO PUBLIC"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = m.pool.Exec(context.Background(), "REVOKE CREATE ON SCHEMA public FROM PUBLIC") })

	// Wall 1: the pod's own credentials reach its own database only.
	for _, name := range []string{"postgres", "template1", victim.Name} {
		d := evil
		d.Name = name
		conn, err := pgx.Connect(ctx, d.URL("127.0.0.1"))
		if err == nil {
			conn.Close(ctx)
			t.Errorf("the pod's role connected to %s with its DATABASE_URL's credentials", name)
			continue
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "28000") {
			t.Errorf("the pod's role connecting to %s: %v, want permission denied (42501) or no pg_hba.conf entry (28000)", name, err)
		}
	}
	for _, name := range []string{"postgres", "template1", evil.Name, victim.Name} {
		if n := adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1 AND pg_catalog.has_database_privilege('public', oid, 'CONNECT')", name); n != 0 {
			t.Errorf("PUBLIC may connect to %s", name)
		}
	}

	// Wall 2: planted anyway (say through a CONNECT an operator granted),
	// the functions are never run by admin SQL. In the pod's own database
	// it plants them itself; in postgres the test does, in its name.
	app := connectAs(t, evil)
	if _, err := app.Exec(ctx, plantSQL(evil.User)); err != nil {
		t.Fatalf("plant in the pod's own database: %v", err)
	}
	// And code that a copy of its data runs when loaded: a CHECK
	// constraint calling its function fires for every row pg_restore
	// copies in (restored by a superuser, this makes the role one). A
	// snapshot loads it as the pod's role, never as the admin.
	trap := `
CREATE FUNCTION public.trap(int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE ` + ident(evil.User) + ` SUPERUSER';
	END IF;
	RETURN true;
END $$;
CREATE TABLE trapped (x int CHECK (public.trap(x)));
INSERT INTO trapped (x) SELECT g FROM generate_series(1, 3) g;`
	if _, err := app.Exec(ctx, trap); err != nil {
		t.Fatalf("plant a trap in the pod's own data: %v", err)
	}
	if _, err := m.pool.Exec(ctx, plantSQL(evil.User)); err != nil {
		t.Fatalf("plant in postgres: %v", err)
	}
	t.Cleanup(func() {
		for _, f := range []string{"public.left(name, integer)", "public.shobj_description(oid, text)"} {
			_, _ = m.pool.Exec(context.Background(), "DROP FUNCTION IF EXISTS "+f)
		}
	})
	for _, f := range []string{"public.left(name, integer)", "public.shobj_description(oid, text)"} {
		if _, err := m.pool.Exec(ctx, "ALTER FUNCTION "+f+" OWNER TO "+ident(evil.User)); err != nil {
			t.Fatal(err)
		}
	}
	// The plant is live: the SQL of the old List, in a session with the
	// default search_path, makes the role a superuser.
	canary(t, ctx, evil.User, isSuper)

	checks := []struct {
		name string
		run  func() error
	}{
		{"leak audit (List)", func() error { _, err := m.List(ctx); return err }},
		{"snapshot list", func() error { _, err := m.ListSnapshots(ctx); return err }},
		{"get", func() error { _, err := m.Get(ctx, env, "evil"); return err }},
		{"snapshot of the planted database, clone, drop snapshot", func() error {
			name := newSnapshotName(t, m, "planted")
			if _, err := m.Snapshot(ctx, env, "evil", name); err != nil {
				return err
			}
			if _, err := m.Create(ctx, env, "clone", Source{Snapshot: name}); err != nil {
				return err
			}
			return m.DropSnapshot(ctx, name)
		}},
		{"destroy (Drop)", func() error { return m.Drop(ctx, env, "victim") }},
		{"destroy (DropEnvironment of another environment)", func() error { return m.DropEnvironment(ctx, "no-such-env") }},
		{"reopen (Open)", func() error {
			o, err := Open(ctx, testenv.PostgresURL(t), testLogger(t))
			if err == nil {
				o.Close()
			}
			return err
		}},
	}
	for _, c := range checks {
		if err := c.run(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if isSuper() {
			t.Fatalf("after %s the pod's role %s has become a superuser", c.name, evil.User)
		}
	}
}

// canary runs the unqualified SQL of the old List in a session with the
// server's default search_path ("$user", public), asserts that it made role
// a superuser, and takes that back: proof that the planted functions would
// work, so that the checks after it mean something.
func canary(t *testing.T, ctx context.Context, role string, isSuper func() bool) {
	t.Helper()
	conn, err := pgx.Connect(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT rolname FROM pg_roles WHERE left(rolname, 3) = 'sp_'"); err != nil {
		t.Fatal(err)
	}
	if !isSuper() {
		t.Fatal("the planted public.left(name, int) did not fire in a default session: the test proves nothing")
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(role)+" NOSUPERUSER"); err != nil {
		t.Fatal(err)
	}
	if isSuper() {
		t.Fatalf("role %s is still a superuser", role)
	}
	if !strings.HasPrefix(role, prefix) {
		t.Fatalf("role %s is not a pod's role", role)
	}
}

// TestOpen_ClosesSharedDatabasesToPublic: Open takes CONNECT on postgres
// and template1 from PUBLIC however it finds them, and is idempotent. Not
// parallel: PUBLIC may connect to postgres for a moment.
func TestOpen_ClosesSharedDatabasesToPublic(t *testing.T) {
	m := mustOpen(t)
	ctx := testContext(t)
	for _, db := range []string{"postgres", "template1"} {
		if _, err := m.pool.Exec(ctx, "GRANT CONNECT ON DATABASE "+db+" TO PUBLIC"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // a superuser (the admin) still connects to postgres
		mustOpen(t)
		if n := adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_database WHERE pg_catalog.has_database_privilege('public', oid, 'CONNECT') AND datname IN ('postgres', 'template1', 'template0')"); n != 0 {
			t.Errorf("after Open PUBLIC may still connect to %d of postgres, template1, template0", n)
		}
	}
}
