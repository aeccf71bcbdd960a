package databases

import (
	"context"
	"net/url"
	"testing"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// The engine's Databases is the Provider.
var _ deploy.Databases = (*Provider)(nil)

// TestProvider_EnsureMakesTheDatabaseOnceAndNamesTheHostContainersReach:
// Ensure creates the app's database from its seed on first use and keeps it
// afterwards; its URL names LocalHost for a server on this host, else the
// runtime's gateway of the environment, else the admin URL's host.
func TestProvider_EnsureMakesTheDatabaseOnceAndNamesTheHostContainersReach(t *testing.T) {
	t.Parallel()
	m := mustOpen(t)
	ctx := testContext(t)
	env := newEnv(t, m, "prov")
	var asked []string
	gateway := func(ctx context.Context, e string) (string, error) {
		asked = append(asked, e)
		return "192.0.2.1", nil
	}
	spec := spacepods.Database{Engine: "postgres", SeedSQL: "CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (7);"}
	hostOf := func(p *Provider) string {
		t.Helper()
		u, err := p.Ensure(ctx, env, "web", spec)
		if err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return pu.Hostname()
	}

	local := loopback(m.host)
	want := "10.9.8.7"
	if !local {
		want = "192.0.2.1" // a server elsewhere: the gateway
	}
	if h := hostOf(&Provider{Manager: m, LocalHost: "10.9.8.7", Gateway: gateway}); h != want {
		t.Errorf("with LocalHost, server %s: host %s, want %s", m.host, h, want)
	}
	if local && len(asked) != 0 {
		t.Errorf("the gateway was asked (%v) for a server on this host", asked)
	}
	db, err := m.Get(ctx, env, "web")
	if err != nil {
		t.Fatalf("the ensured database: %v", err)
	}
	conn := connectAs(t, db)
	var n int
	if err := conn.QueryRow(ctx, "SELECT id FROM seeded").Scan(&n); err != nil || n != 7 {
		t.Fatalf("seeded row: %d, %v", n, err)
	}
	// A second Ensure keeps the database as it is (the seed ran once).
	if _, err := conn.Exec(ctx, "INSERT INTO seeded VALUES (8)"); err != nil {
		t.Fatal(err)
	}
	asked = nil
	if h := hostOf(&Provider{Manager: m, Gateway: gateway}); h != "192.0.2.1" || len(asked) != 1 || asked[0] != env {
		t.Errorf("without LocalHost: host %s, gateway asked for %v; want 192.0.2.1 asked for %s", h, asked, env)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM seeded").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows after a second Ensure: %d, %v; want 2 (the database kept)", n, err)
	}
	if h := hostOf(&Provider{Manager: m}); h != db.Host {
		t.Errorf("neither LocalHost nor Gateway: host %s, want the admin URL's %s", h, db.Host)
	}
}
