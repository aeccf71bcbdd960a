package pods

import (
	"context"
	"fmt"
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
		s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusFailed, spacepods.ErrorMessage(err))
		return env, err
	}
	if err := s.setRouterEnvironment(ctx, name); err != nil {
		s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusFailed, spacepods.ErrorMessage(err))
		return env, err
	}
	env.Status = spacepods.StatusReady
	return env, s.Store.SetEnvironmentStatus(ctx, name, spacepods.StatusReady, "")
}

// Snapshot takes a named snapshot of app's database in env. A protected
// environment's data is read only by admins: EFORBIDDEN for anyone else.
// Its snapshots are marked, so that they are cloned only into protected
// environments (see deploy.Engine.EnsureDatabase).
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
	s.Store.AddAudit(ctx, "snapshot.create", name, env+"/"+app)
	return snap, nil
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
		s.Store.AddAudit(ctx, "audit.leaks.remove", fmt.Sprintf("%d leaks", len(leaks)), "")
	}
	return leaks, nil
}

// removeLeaked removes everything of a dead environment, as destroy does.
func (s *Service) removeLeaked(ctx context.Context, env string) error {
	return s.destroyParts(ctx, env)
}
