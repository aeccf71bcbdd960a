package databases

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

func TestManager_CreateEmpty_RoleConnectsAndOwnsDatabase(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, "empty")
	db := mustCreate(t, m, env, "web", Source{})

	if db.Name != DatabaseName(env, "web") || db.User != db.Name || db.Password == "" || db.Port == 0 || db.Status != StatusReady {
		t.Fatalf("Create returned %+v", db)
	}
	conn := connectAs(t, db)
	ctx := testContext(t)
	var user, owner string
	var tables int
	err := conn.QueryRow(ctx, `SELECT current_user, pg_get_userbyid(datdba),
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')
		FROM pg_database WHERE datname = current_database()`).Scan(&user, &owner, &tables)
	if err != nil {
		t.Fatal(err)
	}
	if user != db.User || owner != db.User || tables != 0 {
		t.Errorf("user %q owner %q tables %d; want %q owning an empty database", user, owner, tables, db.User)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id serial PRIMARY KEY); INSERT INTO t DEFAULT VALUES"); err != nil {
		t.Errorf("owner cannot create tables: %v", err)
	}
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Errorf("role has admin powers (%v, %v)", super, err)
	}
}

func TestManager_CreateSeeded_RunsSeedAsOwner(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, "seeded")
	seed := `
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 1000) g;
CREATE FUNCTION item_count() RETURNS bigint AS $$ SELECT count(*) FROM items; $$ LANGUAGE sql;
`
	db := mustCreate(t, m, env, "catalog-api", Source{Seed: seed})
	conn := connectAs(t, db)
	var n int
	var owner string
	if err := conn.QueryRow(testContext(t), "SELECT item_count(), tableowner FROM pg_tables WHERE tablename = 'items'").Scan(&n, &owner); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || owner != db.User {
		t.Errorf("seeded %d rows owned by %q, want 1000 owned by %q", n, owner, db.User)
	}
}

func TestManager_SeedError_ReportsLineAndLeavesNothing(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, "badseed")
	tests := []struct {
		name, seed, want string
	}{
		{name: "syntax", seed: "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nSELEC 1;\n", want: "line 3, column 1"},
		{name: "unknown table", seed: "CREATE TABLE a (id int);\n\nINSERT INTO nope VALUES (1);\n", want: "line 3, column 13"},
		{name: "runtime", seed: "CREATE TABLE a (id int PRIMARY KEY);\nINSERT INTO a VALUES (1);\nINSERT INTO a\n  VALUES (1);\n", want: "statement 3, starting at line 3"},
		{name: "no admin escape", seed: "RESET ROLE;\nCREATE ROLE sneaky SUPERUSER;\n", want: "must be superuser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Create(testContext(t), env, "web", Source{Seed: tt.seed})
			wantCode(t, err, spacepods.EINVALID)
			if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			name := DatabaseName(env, "web")
			if existsDatabase(t, m, name) || existsRole(t, m, name) {
				t.Errorf("a failed seed left database or role %s behind", name)
			}
		})
	}
}

func TestManager_CreateIsIdempotent_SameURL(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, "idem")
	first := mustCreate(t, m, env, "web", Source{Seed: "CREATE TABLE kept (id int);"})
	second := mustCreate(t, m, env, "web", Source{})
	if first.URL("127.0.0.1") != second.URL("127.0.0.1") {
		t.Errorf("second Create URL differs")
	}
	got, err := m.Get(testContext(t), env, "web")
	if err != nil || got.URL("127.0.0.1") != first.URL("127.0.0.1") {
		t.Errorf("Get = %v, %v; want the Create URL", got, err)
	}
	// Another Manager (a restarted server) derives the same password.
	other := mustOpen(t)
	again, err := other.Get(testContext(t), env, "web")
	if err != nil || again.URL("") != first.URL("") {
		t.Errorf("a second Manager's Get = %v, %v", again, err)
	}
	conn := connectAs(t, again)
	if _, err := conn.Exec(testContext(t), "SELECT * FROM kept"); err != nil {
		t.Errorf("the second Create replaced the first database: %v", err)
	}
	// Create also reopens a database a crashed Snapshot left closed.
	if _, err := m.pool.Exec(testContext(t), "ALTER DATABASE "+ident(first.Name)+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	connectAs(t, mustCreate(t, m, env, "web", Source{}))
	// And it takes back powers and grants given by hand.
	for _, stmt := range []string{
		"ALTER ROLE " + ident(first.User) + " CREATEDB CREATEROLE BYPASSRLS",
		"GRANT CONNECT ON DATABASE " + ident(first.Name) + " TO PUBLIC",
	} {
		if _, err := m.pool.Exec(testContext(t), stmt); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, m, env, "web", Source{})
	if n := adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1 AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)", first.User); n != 0 {
		t.Error("Create left the role's extra attributes")
	}
	if n := adminQueryInt(t, m, "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1 AND pg_catalog.has_database_privilege('public', oid, 'CONNECT')", first.Name); n != 0 {
		t.Error("Create left PUBLIC's CONNECT on the database")
	}
	if _, err := m.Get(testContext(t), env, "nope"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("Get of a missing database = %v, want ENOTFOUND", err)
	}
}

func TestManager_OtherEnvironmentRoleCannotConnect(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	envA, envB := newEnv(t, m, "iso-a"), newEnv(t, m, "iso-b")
	a := mustCreate(t, m, envA, "web", Source{})
	b := mustCreate(t, m, envB, "web", Source{})

	intruder := b
	intruder.Name = a.Name // B's credentials, A's database
	_, err := pgx.Connect(testContext(t), intruder.URL("127.0.0.1"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("B's role connecting to A's database: err = %v, want permission denied (42501)", err)
	}
	wrongPassword := a
	wrongPassword.Password = b.Password
	if conn, err := pgx.Connect(testContext(t), wrongPassword.URL("127.0.0.1")); err == nil {
		conn.Close(context.Background())
		t.Fatal("connected with another database's password")
	}
}

func TestManager_DropEnvironment_DropsOnlyThatEnvironment(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env, keep := newEnv(t, m, "dropenv"), newEnv(t, m, "keepenv")
	mustCreate(t, m, env, "web", Source{})
	mustCreate(t, m, env, "worker", Source{})
	kept := mustCreate(t, m, keep, "web", Source{})
	conn := connectAs(t, mustCreate(t, m, env, "api", Source{})) // a live session is disconnected

	if err := m.DropEnvironment(testContext(t), env); err != nil {
		t.Fatalf("DropEnvironment: %v", err)
	}
	for _, app := range []string{"web", "worker", "api"} {
		name := DatabaseName(env, app)
		if existsDatabase(t, m, name) || existsRole(t, m, name) {
			t.Errorf("%s left behind", name)
		}
	}
	if err := conn.Ping(testContext(t)); err == nil {
		t.Error("a session on a dropped database still works")
	}
	if _, err := m.Get(testContext(t), keep, "web"); err != nil || !existsRole(t, m, kept.User) {
		t.Errorf("another environment's database went too: %v", err)
	}
	if err := m.DropEnvironment(testContext(t), env); err != nil {
		t.Errorf("second DropEnvironment: %v", err)
	}
	if err := m.Drop(testContext(t), env, "web"); err != nil {
		t.Errorf("Drop of a dropped database: %v", err)
	}
}

func TestManager_List_FindsLeftovers(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, "leak")
	ctx := testContext(t)
	mustCreate(t, m, env, "ready", Source{})
	// A Create that died after CREATE DATABASE, before its marker said ready.
	half := mustCreate(t, m, env, "half", Source{})
	if _, err := m.pool.Exec(ctx, "COMMENT ON DATABASE "+ident(half.Name)+" IS "+quoteLiteral(marker{Kind: kindDatabase, Env: env, App: "half", State: stateCreating}.String())); err != nil {
		t.Fatal(err)
	}
	// A Create that died before it could even mark the database.
	unmarked := mustCreate(t, m, env, "unmarked", Source{})
	if _, err := m.pool.Exec(ctx, "COMMENT ON DATABASE "+ident(unmarked.Name)+" IS NULL"); err != nil {
		t.Fatal(err)
	}
	// A role whose database was dropped by hand.
	orphan := mustCreate(t, m, env, "orphan", Source{})
	if _, err := m.pool.Exec(ctx, "DROP DATABASE "+ident(orphan.Name)); err != nil {
		t.Fatal(err)
	}
	// Not ours: same prefix, no marker, no role.
	foreign := "sp_" + strings.ReplaceAll(env, "-", "_") + "__foreign"
	if _, err := m.pool.Exec(ctx, "CREATE DATABASE "+ident(foreign)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = m.pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(foreign)) })

	all, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Status{}
	for _, d := range all {
		if d.Env == env {
			got[d.App] = d.Status
		}
		if d.Name == foreign {
			t.Errorf("List reports a database Spacepods did not make: %s", foreign)
		}
	}
	want := map[string]Status{"ready": StatusReady, "half": StatusIncomplete, "unmarked": StatusIncomplete, "orphan": StatusRoleOnly}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if _, err := m.Get(ctx, env, "half"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("Get of a half-made database = %v, want ENOTFOUND", err)
	}
	// Create repairs a half-made database by making it again.
	if db := mustCreate(t, m, env, "half", Source{Seed: "CREATE TABLE fresh (id int);"}); db.Status != StatusReady {
		t.Errorf("re-Create of a half-made database: %+v", db)
	}
	if err := m.DropEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"ready", "half", "unmarked", "orphan"} {
		if existsDatabase(t, m, DatabaseName(env, app)) || existsRole(t, m, DatabaseName(env, app)) {
			t.Errorf("DropEnvironment left %s", app)
		}
	}
	if !existsDatabase(t, m, foreign) {
		t.Error("DropEnvironment dropped a database Spacepods did not make")
	}
}

func TestManager_Drop_RefusesForeignDatabase(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, "foreign")
	ctx := testContext(t)
	name := DatabaseName(env, "web")
	if _, err := m.pool.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = m.pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(name)) })
	wantCode(t, m.Drop(ctx, env, "web"), spacepods.ECONFLICT)
	_, err := m.Create(ctx, env, "web", Source{})
	wantCode(t, err, spacepods.ECONFLICT)
	if !existsDatabase(t, m, name) {
		t.Error("a foreign database was dropped")
	}
}

func TestManager_LongNames(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	env := newEnv(t, m, strings.Repeat("long", 12))
	app1 := strings.Repeat("application", 5) + "-one"
	app2 := strings.Repeat("application", 5) + "-two"
	a := mustCreate(t, m, env, app1, Source{Seed: "CREATE TABLE one (id int);"})
	b := mustCreate(t, m, env, app2, Source{})
	if a.Name == b.Name || len(a.Name) > 63 || len(b.Name) > 63 {
		t.Fatalf("long names %q and %q", a.Name, b.Name)
	}
	conn := connectAs(t, a)
	if _, err := conn.Exec(testContext(t), "SELECT * FROM one"); err != nil {
		t.Error(err)
	}
	all, err := m.List(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range all {
		if d.Env == env && (d.App == app1 || d.App == app2) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("List found %d of the 2 long-named databases", n)
	}
	if err := m.Drop(testContext(t), env, app1); err != nil || existsDatabase(t, m, a.Name) {
		t.Errorf("Drop long name: %v", err)
	}
}

func TestOpen_UnreachableOrRefused_Unavailable(t *testing.T) {
	t.Parallel()
	u := testenv.PostgresURL(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = Open(testContext(t), fmt.Sprintf("postgres://postgres:x@127.0.0.1:%d/postgres?sslmode=disable", port), nil)
	wantCode(t, err, spacepods.EUNAVAILABLE)
	if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "cannot be reached") {
		t.Errorf("message %q does not say what is wrong", msg)
	}

	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	bad := fmt.Sprintf("postgres://%s:wrong@%s/postgres?sslmode=disable", cfg.User, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	_, err = Open(testContext(t), bad, nil)
	wantCode(t, err, spacepods.EUNAVAILABLE)
	if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "password") {
		t.Errorf("message %q does not point at the password", msg)
	}

	_, err = Open(testContext(t), "postgres://%zz", nil)
	wantCode(t, err, spacepods.EINVALID)
}

// TestDatabase_URL_FromAContainer_OnlyItsOwnDatabase: an app in a container
// reaches its database through the Docker bridge's gateway (what pods get as
// DATABASE_URL), and with the same credentials no other database.
func TestDatabase_URL_FromAContainer_OnlyItsOwnDatabase(t *testing.T) {
	t.Parallel()
	testenv.RequireDocker(t)
	gateway := dockerGateway()
	if gateway == "" {
		t.Fatal("Docker runs but there is no docker0 bridge with an IPv4 address")
	}
	m := mustOpen(t)
	env := newEnv(t, m, "gw")
	a := mustCreate(t, m, env, "web", Source{})
	b := mustCreate(t, m, env, "api", Source{})
	other, postgres, template1 := a, a, a
	other.Name, postgres.Name, template1.Name = b.Name, "postgres", "template1"
	got := probeFromContainer(t, map[string]string{
		"own":       a.URL(gateway),
		"other":     other.URL(gateway),
		"postgres":  postgres.URL(gateway),
		"template1": template1.URL(gateway),
	})
	wantProbe(t, got, "own", true)
	if r := got["own"]; r.User != a.User || r.Database != a.Name {
		t.Errorf("own login landed as %s in %s", r.User, r.Database)
	}
	// 42501: no CONNECT privilege; 28000: pg_hba.conf admits the role
	// only to the database of its own name (scripts/lib.sh's cluster).
	for _, name := range []string{"other", "postgres", "template1"} {
		wantProbe(t, got, name, false, "42501", "28000")
	}
}

// dockerGateway returns the IPv4 address of the docker0 bridge, "" if none.
func dockerGateway() string {
	iface, err := net.InterfaceByName("docker0")
	if err != nil {
		return ""
	}
	addrs, _ := iface.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}

// TestManager_InstallationsSharingAServerKeepApart: two installations on one
// PostgreSQL server. Neither lists the other's databases (so neither audit
// takes them for leaks), nor takes over, drops or snapshots them.
func TestManager_InstallationsSharingAServerKeepApart(t *testing.T) {
	t.Parallel()
	a := mustOpen(t, WithInstallation("inst-a"))
	b := mustOpen(t, WithInstallation("inst-b"))
	ctx := testContext(t)
	env := newEnv(t, a, "inst")
	mustCreate(t, a, env, "api", Source{})

	for name, m := range map[string]*Manager{"a": a, "b": b} {
		all, err := m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range all {
			found = found || d.Env == env
		}
		if found != (name == "a") {
			t.Errorf("installation %s lists the database of installation a: %v, want %v", name, found, name == "a")
		}
	}
	if _, err := b.Create(ctx, env, "api", Source{}); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Errorf("installation b creating a's database: %v, want a conflict", err)
	}
	if err := b.DropEnvironment(ctx, env); err != nil {
		t.Errorf("installation b dropping the environment: %v (it has nothing there)", err)
	}
	if _, err := b.Get(ctx, env, "api"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("installation b getting a's database: %v, want not found", err)
	}
	if _, err := a.Get(ctx, env, "api"); err != nil {
		t.Errorf("installation a's database after b's attempts: %v", err)
	}
}
