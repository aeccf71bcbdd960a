package databases

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

func TestCluster_StartConnectStopRestartAdopt(t *testing.T) {
	t.Parallel()
	testenv.RequireBinary(t, "initdb")
	// As root the cluster runs as the postgres user, which must be able to
	// walk into the directory: t.TempDir's parents are closed to it.
	base, err := os.MkdirTemp("", "spacepods-cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "pg")
	ctx := testContext(t)
	logger := testLogger(t)

	c, err := StartLocal(ctx, dir, logger)
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("cleanup: Stop: %v", err)
		}
		os.RemoveAll(base)
	})
	query := func(url string) string {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect to the local cluster: %v", err)
		}
		defer conn.Close(ctx)
		var listen string
		if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil {
			t.Fatal(err)
		}
		return listen
	}
	if got := query(c.AdminURL()); got != "*" {
		t.Errorf("listen_addresses = %q, want *", got)
	}

	// Containers reach it through the Docker gateway.
	if gw := dockerGateway(); gw != "" {
		cfg, err := pgx.ParseConfig(c.AdminURL())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Host = gw
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connect through the Docker gateway %s: %v", gw, err)
		}
		conn.Close(ctx)
	}

	// A Manager works on it.
	m, err := Open(ctx, c.AdminURL(), logger)
	if err != nil {
		t.Fatalf("Open on the local cluster: %v", err)
	}
	db, err := m.Create(ctx, "local", "web", Source{Seed: "CREATE TABLE t (id int);"})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	// A second server process adopts the running cluster.
	adopted, err := StartLocal(ctx, dir, logger)
	if err != nil {
		t.Fatalf("StartLocal on a running cluster: %v", err)
	}
	if adopted.AdminURL() != c.AdminURL() {
		t.Errorf("adopted URL %q, want %q", adopted.AdminURL(), c.AdminURL())
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := pgx.Connect(ctx, c.AdminURL()); err == nil {
		conn.Close(ctx)
		t.Fatal("the cluster still answers after Stop")
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// Restart: same port, same data.
	c, err = StartLocal(ctx, dir, logger)
	if err != nil {
		t.Fatalf("StartLocal after Stop: %v", err)
	}
	if c.AdminURL() != adopted.AdminURL() {
		t.Errorf("restarted on %q, want the remembered %q", c.AdminURL(), adopted.AdminURL())
	}
	conn, err := pgx.Connect(ctx, db.URL("127.0.0.1"))
	if err != nil {
		t.Fatalf("the app's database after a restart: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT * FROM t"); err != nil {
		t.Error(err)
	}
}

func TestStartLocal_RefusesForeignDirectory(t *testing.T) {
	t.Parallel()
	testenv.RequireBinary(t, "initdb")
	base, err := os.MkdirTemp("", "spacepods-cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartLocal(testContext(t), base, testLogger(t)); err == nil {
		t.Fatal("StartLocal initialised a directory that holds other files")
	}
}

func TestStartLocal_AsRoot_SaysWhenPostgresUserCannotReachDir(t *testing.T) {
	t.Parallel()
	testenv.RequireBinary(t, "initdb")
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	closed := t.TempDir() // 0700, root's
	_, err := StartLocal(testContext(t), filepath.Join(closed, "pg"), testLogger(t))
	if err == nil || !strings.Contains(spacepods.ErrorMessage(err), "chmod o+x") {
		t.Fatalf("err = %v, want advice to open the directory", err)
	}
}
