package pods

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Leaks lists (and with remove, removes) everything Spacepods made that
// belongs to no live environment: found from Docker's labels, PostgreSQL's
// markers, RDS instances' tags and the router's table, not from the store's memory of them.
func (s *Service) Leaks(ctx context.Context, remove bool) ([]spacepods.Leak, error) {
	envs, err := s.Store.ListEnvironments(ctx, "")
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, e := range envs {
		live[e.Name] = true
	}
	leaks := []spacepods.Leak{}
	svcs, err := s.Driver.ListServices(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, svc := range svcs {
		if !live[svc.Environment] {
			leaks = append(leaks, spacepods.Leak{Kind: "service", Environment: svc.Environment, Name: svc.Name})
		}
	}
	nets, err := s.Driver.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if !live[n] {
			leaks = append(leaks, spacepods.Leak{Kind: "network", Environment: n, Name: n})
		}
	}
	if s.Databases != nil {
		dbs, err := s.Databases.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, db := range dbs {
			if !live[db.Env] {
				leaks = append(leaks, spacepods.Leak{Kind: "database", Environment: db.Env, Name: db.Name})
			}
		}
	}
	insts, err := s.dedicatedLeaks(ctx, live)
	if err != nil {
		return nil, err
	}
	leaks = append(leaks, insts...)
	groups, err := s.router().Groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if !live[g.Environment] {
			leaks = append(leaks, spacepods.Leak{Kind: "route", Environment: g.Environment, Name: g.Host})
		}
	}
	if s.Routes != nil {
		hosts, err := s.Routes.Routes(ctx)
		if err != nil {
			return nil, err
		}
		for _, host := range slices.Sorted(maps.Keys(hosts)) {
			if env := hosts[host]; !live[env] {
				leaks = append(leaks, spacepods.Leak{Kind: "route", Environment: env, Name: host})
			}
		}
	}
	renvs, err := s.router().Environments(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range renvs {
		if !live[e] {
			leaks = append(leaks, spacepods.Leak{Kind: "router-environment", Environment: e, Name: e})
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
