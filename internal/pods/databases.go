package pods

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// DatabaseURL makes sure env has app's database (seeded or cloned from a
// snapshot on first use) and returns the URL its containers use: through
// DatabaseHost for a server on this host, else the environment network's
// gateway. The deploy engine calls it when it registers a release.
func (s *Service) DatabaseURL(ctx context.Context, env string, app spacepods.App) (string, error) {
	if app.Database == nil {
		return "", nil
	}
	if s.Databases == nil {
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "app %s needs a database but no PostgreSQL is configured: start the server with --postgres-admin-url, or let it start its own (initdb on PATH)", app.Name)
	}
	if err := s.checkSnapshotClone(ctx, env, app); err != nil {
		return "", err
	}
	db, err := s.Databases.Create(ctx, env, app.Name, dbSource(app))
	if err != nil {
		return "", fmt.Errorf("database of %s: %w", app.Name, err)
	}
	host := db.Host
	switch g, ok := s.Driver.(runtime.Gatewayer); {
	case s.DatabaseHost != "" && loopback(db.Host):
		host = s.DatabaseHost
	case ok:
		if host, err = g.HostAddress(ctx, env); err != nil {
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

// dbSource is what app's database starts from.
func dbSource(app spacepods.App) databases.Source {
	return databases.Source{Seed: app.Database.SeedSQL, Snapshot: app.Database.Snapshot}
}
