package pods

import (
	"context"
	"fmt"
	"net/netip"
	"sort"

	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// CreateMaster creates a long-lived master environment (qa, staging,
// production): same routing, databases and env injection as pods, never
// wiped, never expiring.
func (s *Service) CreateMaster(ctx context.Context, name string, protected bool) (spacepods.Environment, error) {
	if err := spacepods.ValidateEnvName(name); err != nil {
		return spacepods.Environment{}, err
	}
	env, err := s.Store.CreateEnvironment(ctx, spacepods.Environment{Name: name, Kind: spacepods.EnvMaster, Owner: spacepods.ActorName(ctx), Status: spacepods.StatusCreating, Protected: protected, Apps: []string{}})
	if err != nil {
		return env, err
	}
	if err := s.Driver.EnsureEnvironment(ctx, runtime.EnvSpec{Name: name}); err != nil {
		s.createFailed(ctx, name, err)
		return env, err
	}
	if err := s.setRouterEnvironment(ctx, name); err != nil {
		s.createFailed(ctx, name, err)
		return env, err
	}
	env.Status = spacepods.StatusReady
	return env, s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusReady, "")
}

// createFailed marks a master environment whose creation failed. The
// caller returns the creation's error; a failed status write is logged, not
// returned over it (the environment then stays creating until a restart
// marks it failed).
func (s *Service) createFailed(ctx context.Context, name string, err error) {
	if serr := s.Store.SetEnvironmentStatus(context.WithoutCancel(ctx), name, spacepods.StatusFailed, spacepods.ErrorMessage(err)); serr != nil {
		s.Logger.Error("set environment status", "env", name, "status", spacepods.StatusFailed, "err", serr)
	}
}

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

// Snapshot takes a named snapshot of app's database in env. A protected
// environment's data is read only by admins: EFORBIDDEN for anyone else.
// Its snapshots are marked, so that they are cloned only into protected
// environments (see DatabaseURL).
func (s *Service) Snapshot(ctx context.Context, env, app, name string) (databases.Snapshot, error) {
	e, err := s.Store.GetEnvironment(ctx, env)
	if err != nil {
		return databases.Snapshot{}, err
	}
	if e.Protected && !spacepods.ActorIsAdmin(ctx) {
		return databases.Snapshot{}, spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: only an admin may snapshot its databases (snapshots hold its data); ask an admin, or snapshot an unprotected environment", env)
	}
	if s.Databases == nil {
		return databases.Snapshot{}, spacepods.Errorf(spacepods.EUNAVAILABLE, "no PostgreSQL is configured")
	}
	if e.Protected {
		// Marked before the copy exists, so that no failure in between
		// leaves protected data unmarked; not over a snapshot that exists.
		existing, err := s.Databases.ListSnapshots(ctx)
		if err != nil {
			return databases.Snapshot{}, err
		}
		for _, x := range existing {
			if x.Name == name && !x.Incomplete {
				return databases.Snapshot{}, spacepods.Errorf(spacepods.ECONFLICT, "a snapshot named %s exists: pick another name (spacepods snapshot list)", name)
			}
		}
		if err := s.Store.MarkSnapshot(ctx, name, env, app, true); err != nil {
			return databases.Snapshot{}, err
		}
	}
	snap, err := s.Databases.Snapshot(ctx, env, app, name)
	if err != nil {
		return snap, err
	}
	if !e.Protected {
		if err := s.Store.MarkSnapshot(ctx, name, env, app, false); err != nil {
			return snap, err
		}
	}
	if err := s.Store.AddAudit(ctx, "snapshot.create", name, env+"/"+app); err != nil {
		// Logged, not returned: the snapshot exists, and a caller told it
		// failed would retry into "a snapshot named ... exists".
		s.Logger.Error("audit snapshot.create", "snapshot", name, "env", env, "app", app, "err", err)
	}
	return snap, nil
}

// checkSnapshotClone refuses to clone a snapshot of a protected
// environment into an environment that is not protected: its data would be
// readable by anyone who may deploy there (developers run any image in a
// pod or an unprotected environment).
func (s *Service) checkSnapshotClone(ctx context.Context, env string, app spacepods.App) error {
	if app.Database == nil || app.Database.Snapshot == "" {
		return nil
	}
	mark, ok, err := s.Store.ProtectedSnapshot(ctx, app.Database.Snapshot)
	if err != nil || !ok {
		return err
	}
	target, err := s.Store.GetEnvironment(ctx, env)
	if err != nil {
		return err
	}
	if target.Protected {
		return nil
	}
	return spacepods.Errorf(spacepods.EFORBIDDEN, "snapshot %s holds the data of protected environment %s (%s's database): it can be cloned only into a protected environment, not into %s; clone a snapshot of an unprotected environment instead (database.snapshot in %s's manifest)", mark.Name, mark.Env, mark.App, env, app.Name)
}

// Snapshots lists snapshots.
func (s *Service) Snapshots(ctx context.Context) ([]databases.Snapshot, error) {
	if s.Databases == nil {
		return []databases.Snapshot{}, nil
	}
	return s.Databases.ListSnapshots(ctx)
}

// Leak is one runtime object, database or route that belongs to no live
// environment.
type Leak struct {
	Kind        string `json:"kind"` // service, network, database, route, router-environment
	Environment string `json:"environment"`
	Name        string `json:"name"`
	Removed     bool   `json:"removed,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Leaks lists (and with remove, removes) everything Spacepods made that
// belongs to no live environment: found from Docker's labels, PostgreSQL's
// markers and the router's table, not from the store's memory of them.
func (s *Service) Leaks(ctx context.Context, remove bool) ([]Leak, error) {
	envs, err := s.Store.ListEnvironments(ctx, "")
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, e := range envs {
		live[e.Name] = true
	}
	leaks := []Leak{}
	svcs, err := s.Driver.ListServices(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, svc := range svcs {
		if !live[svc.Environment] {
			leaks = append(leaks, Leak{Kind: "service", Environment: svc.Environment, Name: svc.Name})
		}
	}
	nets, err := s.Driver.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if !live[n] {
			leaks = append(leaks, Leak{Kind: "network", Environment: n, Name: n})
		}
	}
	if s.Databases != nil {
		dbs, err := s.Databases.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, db := range dbs {
			if !live[db.Env] {
				leaks = append(leaks, Leak{Kind: "database", Environment: db.Env, Name: db.Name})
			}
		}
	}
	groups, err := s.router().Groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if !live[g.Environment] {
			leaks = append(leaks, Leak{Kind: "route", Environment: g.Environment, Name: g.Host})
		}
	}
	renvs, err := s.router().Environments(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range renvs {
		if !live[e] {
			leaks = append(leaks, Leak{Kind: "router-environment", Environment: e, Name: e})
		}
	}
	sort.SliceStable(leaks, func(i, j int) bool { return leaks[i].Environment < leaks[j].Environment })
	if remove {
		done := map[string]error{}
		for i, l := range leaks {
			if _, ok := done[l.Environment]; !ok {
				done[l.Environment] = s.removeLeaked(ctx, l.Environment)
			}
			if err := done[l.Environment]; err != nil {
				leaks[i].Error = err.Error()
			} else {
				leaks[i].Removed = true
			}
		}
		if err := s.Store.AddAudit(ctx, "audit.leaks.remove", fmt.Sprintf("%d leaks", len(leaks)), ""); err != nil {
			// Logged, not returned: the leaks are gone, and the caller needs
			// the per-leak results below.
			s.Logger.Error("audit audit.leaks.remove", "leaks", len(leaks), "err", err)
		}
	}
	return leaks, nil
}

// removeLeaked removes everything of a dead environment, as destroy does.
func (s *Service) removeLeaked(ctx context.Context, env string) error {
	return s.destroyParts(ctx, env)
}
