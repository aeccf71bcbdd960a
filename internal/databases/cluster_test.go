package databases

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestCluster_StartConnectStopRestartAdopt runs a local cluster as the
// server does: listening on loopback and Docker's bridge address, admitting
// pods' roles from Docker's subnets (and, to test pg_hba.conf from this
// host, 127.0.0.2), each to its own database only, and the superuser from
// loopback only.
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

	const podHost = "127.0.0.2" // a "container subnet" on loopback: not 127.0.0.1, which admits every role
	gw := dockerGateway()
	opts := []LocalOption{AdmitPods(podHost + "/32")}
	wantListen := "127.0.0.1,::1"
	if gw != "" {
		opts = append(opts, ListenOn(gw), AdmitPods(dockerSubnets(t)...))
		wantListen += "," + gw
	} else if testenv.InCI() {
		t.Fatal("no docker0 bridge with an IPv4 address")
	}

	c, err := StartLocal(ctx, dir, logger, opts...)
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("cleanup: Stop: %v", err)
		}
		os.RemoveAll(base)
	})
	listenAddresses := func() string {
		t.Helper()
		conn, err := pgx.Connect(ctx, c.AdminURL())
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
	if got := listenAddresses(); got != wantListen {
		t.Errorf("listen_addresses = %q, want %q", got, wantListen)
	}
	// Not on this host's other addresses.
	if ip := otherHostAddress(); ip != "" {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(c.Port())), 5*time.Second); err == nil {
			conn.Close()
			t.Errorf("the cluster answers on %s, an address of this host it should not listen on", ip)
		}
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
	other, err := m.Create(ctx, "local", "api", Source{})
	if err != nil {
		t.Fatal(err)
	}
	// pg_hba.conf alone keeps a pod's role out of other databases: here it
	// may CONNECT to postgres, yet only loopback (the control plane) gets in.
	if _, err := m.pool.Exec(ctx, "GRANT CONNECT ON DATABASE postgres TO "+ident(db.User)); err != nil {
		t.Fatal(err)
	}
	m.Close()

	t.Run("LoginsByAddress", func(t *testing.T) {
		admin, err := pgx.ParseConfig(c.AdminURL())
		if err != nil {
			t.Fatal(err)
		}
		as := func(d Database, dbname string) string {
			d.Name = dbname
			return d.URL("127.0.0.1")
		}
		tests := []struct {
			name, url, from string
			ok              bool
		}{
			{"pod role, own database, loopback", db.URL("127.0.0.1"), "127.0.0.1", true},
			{"pod role, postgres, loopback (CONNECT granted)", as(db, "postgres"), "127.0.0.1", true},
			{"superuser, loopback", c.AdminURL(), "127.0.0.1", true},
			{"pod role, own database, pod subnet", db.URL("127.0.0.1"), podHost, true},
			{"pod role, postgres, pod subnet (CONNECT granted)", as(db, "postgres"), podHost, false},
			{"pod role, another pod's database, pod subnet", as(db, other.Name), podHost, false},
			{"superuser, pod subnet", c.AdminURL(), podHost, false},
			{"superuser, database named like the user, pod subnet", strings.Replace(c.AdminURL(), "/postgres?", "/"+admin.User+"?", 1), podHost, false},
			{"pod role, own database, elsewhere", db.URL("127.0.0.1"), "127.0.0.3", false},
		}
		for _, tt := range tests {
			conn, err := connectFrom(ctx, tt.url, tt.from)
			if err == nil {
				conn.Close(ctx)
			}
			var pgErr *pgconn.PgError
			switch {
			case tt.ok && err != nil:
				t.Errorf("%s: %v, want a session", tt.name, err)
			case !tt.ok && err == nil:
				t.Errorf("%s: logged in, want refused", tt.name)
			case !tt.ok && !(errors.As(err, &pgErr) && pgErr.Code == "28000"):
				t.Errorf("%s: %v, want refused by pg_hba.conf (28000)", tt.name, err)
			}
		}
	})

	t.Run("FromAContainer", func(t *testing.T) {
		if gw == "" {
			testenv.Missing(t, "the Docker bridge (docker0)", "start dockerd with its default bridge (scripts/test.sh does)")
		}
		admin := strings.Replace(c.AdminURL(), "127.0.0.1", gw, 1)
		onHost := ""
		if ip := otherHostAddress(); ip != "" {
			onHost = db.URL(ip)
		}
		probes := map[string]string{
			"own":       db.URL(gw),
			"postgres":  strings.Replace(db.URL(gw), "/"+db.Name+"?", "/postgres?", 1),
			"other":     strings.Replace(db.URL(gw), "/"+db.Name+"?", "/"+other.Name+"?", 1),
			"superuser": admin,
		}
		if onHost != "" {
			probes["host_address"] = onHost
		}
		got := probeFromContainer(t, probes)
		wantProbe(t, got, "own", true)
		wantProbe(t, got, "postgres", false, "28000")
		wantProbe(t, got, "other", false, "28000")
		wantProbe(t, got, "superuser", false, "28000")
		if onHost != "" {
			wantProbe(t, got, "host_address", false, "") // connection refused: not listening there
		}
	})

	// A second server process adopts the running cluster; given other
	// addresses, it restarts it to listen there.
	adopted, err := StartLocal(ctx, dir, logger, AdmitPods(podHost+"/32"))
	if err != nil {
		t.Fatalf("StartLocal on a running cluster: %v", err)
	}
	if adopted.AdminURL() != c.AdminURL() {
		t.Errorf("adopted URL %q, want %q", adopted.AdminURL(), c.AdminURL())
	}
	if got := listenAddresses(); got != "127.0.0.1,::1" {
		t.Errorf("after adopting with loopback only: listen_addresses = %q", got)
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

	// Restart: same port, same data, this start's addresses.
	c, err = StartLocal(ctx, dir, logger, opts...)
	if err != nil {
		t.Fatalf("StartLocal after Stop: %v", err)
	}
	if c.AdminURL() != adopted.AdminURL() {
		t.Errorf("restarted on %q, want the remembered %q", c.AdminURL(), adopted.AdminURL())
	}
	if got := listenAddresses(); got != wantListen {
		t.Errorf("after a restart: listen_addresses = %q, want %q", got, wantListen)
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

// dockerSubnets returns the subnets containers come from, as the server
// passes them to StartLocal.
func dockerSubnets(t testing.TB) []string {
	t.Helper()
	d, err := docker.New(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	subnets, err := d.ContainerSubnets(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return subnets
}

// otherHostAddress returns an IPv4 address of this host that is neither
// loopback nor a Docker bridge's, "" if there is none.
func otherHostAddress() string {
	ifaces, _ := net.Interfaces()
	for _, iface := range ifaces {
		if iface.Flags&net.FlagLoopback != 0 || iface.Name == "docker0" || strings.HasPrefix(iface.Name, "br-") || strings.HasPrefix(iface.Name, "veth") {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return ""
}

func TestLocalConfig_HBA(t *testing.T) {
	t.Parallel()
	var c localConfig
	ListenOn("172.17.0.1")(&c)
	AdmitPods("172.17.0.0/16", "192.168.0.0/16")(&c)
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.listenAddresses(); got != "127.0.0.1,::1,172.17.0.1" {
		t.Errorf("listenAddresses = %q", got)
	}
	hba := c.hbaConf()
	var rules []string
	for _, line := range strings.Split(hba, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			rules = append(rules, strings.Join(f, " "))
		}
	}
	want := []string{
		"host all postgres 127.0.0.1/32 scram-sha-256",
		"host all postgres ::1/128 scram-sha-256",
		"host all postgres all reject",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host all all ::1/128 scram-sha-256",
		"host sameuser all 172.17.0.0/16 scram-sha-256",
		"host sameuser all 192.168.0.0/16 scram-sha-256",
	}
	if strings.Join(rules, "\n") != strings.Join(want, "\n") {
		t.Errorf("pg_hba.conf rules:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []LocalOption{ListenOn("docker0"), AdmitPods("172.17.0.1")} {
		var c localConfig
		bad(&c)
		if err := c.validate(); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Errorf("validate of a bad option = %v, want EINVALID", err)
		}
	}
	var all localConfig
	ListenOn("*")(&all)
	if got := all.listenAddresses(); got != "*" {
		t.Errorf("ListenOn(*) gives listen_addresses %q", got)
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
