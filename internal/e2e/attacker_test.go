package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/internal/testenv"
)

// probe is what the attacker app reports of one attempt.
type probe struct {
	OK     bool   `json:"ok"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// attackerImage builds internal/e2e/attacker into an image FROM scratch
// with an ENTRYPOINT (as many real images have), tagged for this site.
func attackerImage(t *testing.T, s *site) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "attacker"), testenv.GoBinary(t, "github.com/spacepods/spacepods/internal/e2e/attacker"), 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY attacker /attacker\nUSER 65534:65534\nEXPOSE 8080\nENTRYPOINT [\"/attacker\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := "spacepods-e2e/attacker:" + s.suffix
	if out, err := execOut("docker", "build", "-q", "-t", ref, dir); err != nil {
		t.Fatalf("docker build attacker: %v\n%s", err, out)
	}
	t.Cleanup(func() { execOut("docker", "rmi", "-f", ref) })
	return ref
}

// attack asks the attacker app in env to run one probe.
func (s *site) attack(t *testing.T, env, path string, q url.Values) probe {
	t.Helper()
	status, body, err := s.get(env, "attacker", path+"?"+q.Encode())
	if err != nil || status != 200 {
		t.Fatalf("attacker %s %v: %d %v %s", path, q, status, err, body)
	}
	var p probe
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("attacker %s: %v %s", path, err, body)
	}
	return p
}

// TestE2E_AttackerInAPodGetsNowhere runs an "attacker" app in a pod, as any
// developer can, and from inside its container tries to reach the control
// plane's API and the router's control API, another environment's app
// through the router's internal listener, another pod's database and the
// `postgres` database, to become superuser through a function planted for
// the admin's queries, and to reach the Docker socket. Every attempt must
// fail; each negative probe has a positive twin (what a pod may reach) that
// must work, so a failure is never just a wrong address.
func TestE2E_AttackerInAPodGetsNowhere(t *testing.T) {
	s := newSite(t)
	s.start()
	s.registerExamples()
	image := attackerImage(t, s)
	mdir := t.TempDir()
	manifest := "name: attacker\nrepo: acme/attacker\nkind: web\nport: 8080\nhealth: /healthz\ncommand: [\"/attacker\"]\ndatabase:\n  engine: postgres\n"
	if err := os.WriteFile(filepath.Join(mdir, "spacepods.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustCLI("app", "register", "-f", filepath.Join(mdir, "spacepods.yaml"))
	s.mustCLI("build", "record", "attacker", "--number", "1", "--image", image, "--sha", "abcdef1", "--branch", "main")

	victim, attackEnv := s.name("victim"), s.name("attack")
	s.mustCLI("pod", "create", victim, "--app", "catalog-api", "--wait")
	s.mustCLI("pod", "create", attackEnv, "--app", "attacker", "--wait")

	var who struct {
		Gateway     string `json:"gateway"`
		DatabaseURL string `json:"database_url"`
	}
	status, body, err := s.get(attackEnv, "attacker", "/whoami")
	if err != nil || status != 200 || json.Unmarshal([]byte(body), &who) != nil || who.Gateway == "" || who.DatabaseURL == "" {
		t.Fatalf("attacker /whoami: %d %v %s", status, err, body)
	}
	bridge := bridgeAddress(t)
	hosts := []string{who.Gateway, bridge}
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	internal := net.JoinHostPort(bridge, internalPortOf(t, s))

	t.Run("control plane API", func(t *testing.T) {
		for _, h := range hosts {
			addr := net.JoinHostPort(h, port(s.api))
			if p := s.attack(t, attackEnv, "/probe/http", url.Values{"url": {"http://" + addr + "/api/v1/apps"}}); p.OK || p.Status != 0 {
				t.Errorf("the attacker reached the control plane's API at %s: %+v", addr, p)
			}
		}
	})
	t.Run("router control API", func(t *testing.T) {
		for _, h := range hosts {
			addr := net.JoinHostPort(h, port(s.control))
			if p := s.attack(t, attackEnv, "/probe/tcp", url.Values{"addr": {addr}}); p.OK {
				t.Errorf("the attacker reached the router's control API at %s", addr)
			}
		}
		// The internal listener serves app hosts only, never the control API.
		p := s.attack(t, attackEnv, "/probe/http", url.Values{"url": {"http://" + internal + "/v1/routes"}})
		if p.OK || strings.Contains(p.Body, "targets") {
			t.Errorf("the router's internal listener answered a control API path: %+v", p)
		}
	})
	t.Run("another environment through the internal listener", func(t *testing.T) {
		own := s.attack(t, attackEnv, "/probe/http", url.Values{"url": {"http://" + internal + "/healthz"}, "host": {"attacker." + attackEnv + ".localhost"}})
		if !own.OK {
			t.Fatalf("positive twin: the attacker's own environment through the internal listener %s: %+v", internal, own)
		}
		other := s.attack(t, attackEnv, "/probe/http", url.Values{"url": {"http://" + internal + "/products"}, "host": {"catalog-api." + victim + ".localhost"}})
		if other.OK || strings.Contains(other.Body, "sku") {
			t.Errorf("the attacker reached %s's catalog-api through the internal listener: %+v", victim, other)
		}
		t.Logf("another environment through the internal listener: %d %.120s", other.Status, other.Body)
	})

	own := who.DatabaseURL
	withDB := func(db string) string {
		u, err := url.Parse(own)
		if err != nil {
			t.Fatalf("the pod's DATABASE_URL %q: %v", own, err)
		}
		u.Path = "/" + db
		return u.String()
	}
	t.Run("databases", func(t *testing.T) {
		p := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {own}})
		if !p.OK || !strings.Contains(p.Body, "superuser=false") {
			t.Fatalf("positive twin: the attacker's own database: %+v", p)
		}
		names := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {own}, "sql": {"SELECT datname FROM pg_catalog.pg_database ORDER BY 1"}})
		var victimDB string
		for _, n := range strings.Split(names.Body, "\n") {
			if strings.Contains(n, strings.ReplaceAll(victim, "-", "_")) || strings.Contains(n, victim) {
				victimDB = n
			}
		}
		if victimDB == "" {
			t.Fatalf("no database of %s among %q", victim, names.Body)
		}
		for _, db := range []string{"postgres", "template1", victimDB} {
			if p := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {withDB(db)}}); p.OK {
				t.Errorf("the attacker's role connected to the database %s: %+v", db, p)
			} else {
				t.Logf("connect to %s: %s", db, p.Error)
			}
		}
	})
	t.Run("superuser through a planted function", func(t *testing.T) {
		me := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {own}, "sql": {"SELECT current_user"}})
		if !me.OK {
			t.Fatalf("current_user: %+v", me)
		}
		// Functions shaped like the catalog calls an admin's query may
		// make: left(name, int) beats pg_catalog.left(text, int) for a name
		// argument when public is on the search_path.
		escalate := fmt.Sprintf(`BEGIN EXECUTE 'ALTER ROLE %q SUPERUSER'; RETURN NULL; END`, me.Body)
		plants := []string{
			`CREATE FUNCTION public.left(name, integer) RETURNS text LANGUAGE plpgsql AS $f$` + escalate + `$f$`,
			`CREATE FUNCTION public.lower(name) RETURNS text LANGUAGE plpgsql AS $f$` + escalate + `$f$`,
			`CREATE FUNCTION public.starts_with(name, text) RETURNS boolean LANGUAGE plpgsql AS $f$BEGIN EXECUTE 'ALTER ROLE "` + me.Body + `" SUPERUSER'; RETURN false; END$f$`,
		}
		// PostgreSQL 14 and older let PUBLIC create objects in public:
		// give this server the same default for the test.
		admin, err := pgx.Connect(t.Context(), s.pgURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			admin.Exec(context.Background(), "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
			admin.Close(context.Background())
		})
		if _, err := admin.Exec(t.Context(), "GRANT CREATE ON SCHEMA public TO PUBLIC"); err != nil {
			t.Fatal(err)
		}
		for _, db := range []string{"", "postgres"} {
			dsn := own
			if db != "" {
				dsn = withDB(db)
			}
			for _, sql := range plants {
				p := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {dsn}, "sql": {sql}})
				if db == "" && !p.OK {
					t.Fatalf("plant in the pod's own database (allowed): %s: %+v", sql, p)
				}
				if db != "" && p.OK {
					t.Errorf("the attacker planted a function in %s: %s", db, sql)
				}
			}
		}
		// What runs admin SQL: the leak audit, snapshots (of the attacker's
		// own database too), their list, and destroying a pod.
		s.mustCLI("audit", "leaks")
		s.mustCLI("snapshot", "create", attackEnv, "attacker", "loot-"+s.suffix)
		s.mustCLI("snapshot", "list")
		s.mustCLI("pod", "destroy", victim, "--wait")
		s.mustCLI("audit", "leaks")
		p := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {own}})
		if !p.OK || !strings.Contains(p.Body, "superuser=false") {
			t.Fatalf("after the admin's queries the attacker's role is: %+v", p)
		}
		count := s.attack(t, attackEnv, "/probe/pg", url.Values{"dsn": {own}, "sql": {"SELECT count(*) FROM pg_catalog.pg_proc WHERE pronamespace = 'public'::regnamespace"}})
		if count.Body != "3" {
			t.Fatalf("positive twin: the planted functions are not all there: %+v", count)
		}
	})
	t.Run("docker socket", func(t *testing.T) {
		for _, path := range []string{"/var/run/docker.sock", "/run/docker.sock"} {
			if p := s.attack(t, attackEnv, "/probe/unix", url.Values{"path": {path}}); p.OK {
				t.Errorf("the attacker reached the Docker socket at %s", path)
			}
		}
		for _, h := range hosts {
			for _, port := range []string{"2375", "2376"} {
				if p := s.attack(t, attackEnv, "/probe/tcp", url.Values{"addr": {net.JoinHostPort(h, port)}}); p.OK {
					t.Errorf("the attacker reached a Docker API port at %s:%s", h, port)
				}
			}
		}
	})
}

// bridgeAddress is docker0's IPv4 address (where the router's internal
// listener is).
func bridgeAddress(t *testing.T) string {
	t.Helper()
	iface, err := net.InterfaceByName("docker0")
	if err != nil {
		t.Fatalf("no docker0: %v", err)
	}
	addrs, _ := iface.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	t.Fatal("docker0 has no IPv4 address")
	return ""
}
