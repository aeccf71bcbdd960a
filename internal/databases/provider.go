package databases

import (
	"context"
	"net/netip"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Provider hands environments their apps' databases: it is the deploy
// engine's Databases (deploy.Databases), and the one place where an app's
// database is made. It creates each on first use through Manager and
// returns the URL at which the environment's containers reach it.
type Provider struct {
	Manager *Manager
	// LocalHost is where containers reach a server that the admin URL
	// names on this host (loopback): with Docker, the default bridge's
	// gateway, where the local cluster listens. Empty, or for a server
	// elsewhere: Gateway.
	LocalHost string
	// Gateway returns the address at which env's containers reach this
	// host (the runtime's HostAddress, runtime.Gatewayer); nil: the admin
	// URL's own host.
	Gateway func(ctx context.Context, env string) (string, error)
}

// Ensure makes sure env has app's database, seeded or cloned from spec's
// snapshot on first use, and returns its URL as env's containers reach it.
func (p *Provider) Ensure(ctx context.Context, env, app string, spec spacepods.Database) (string, error) {
	db, err := p.Manager.Create(ctx, env, app, Source{Seed: spec.SeedSQL, Snapshot: spec.Snapshot})
	if err != nil {
		return "", err
	}
	host := db.Host
	switch {
	case p.LocalHost != "" && loopback(db.Host):
		host = p.LocalHost
	case p.Gateway != nil:
		if host, err = p.Gateway(ctx, env); err != nil {
			return "", err
		}
	}
	return db.URL(host), nil
}

// loopback reports whether host names this machine's loopback interface.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
