package pods

import (
	"context"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Snapshot takes a named snapshot of app's database in env. A protected
// environment's data is read only by admins: EFORBIDDEN for anyone else.
// Its snapshots are marked, so that they are cloned only into protected
// environments (see deploy.Engine.EnsureDatabase).
func (s *Service) Snapshot(ctx context.Context, env, app, name string) (spacepods.Snapshot, error) {
	e, err := s.Store.GetEnvironment(ctx, env)
	if err != nil {
		return spacepods.Snapshot{}, err
	}
	if e.Protected && !spacepods.ActorIsAdmin(ctx) {
		return spacepods.Snapshot{}, spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: only an admin may snapshot its databases (snapshots hold its data); ask an admin, or snapshot an unprotected environment", env)
	}
	if s.Databases == nil && s.Dedicated == nil {
		return spacepods.Snapshot{}, spacepods.Errorf(spacepods.EUNAVAILABLE, "no PostgreSQL is configured")
	}
	if e.Protected {
		// Marked before the copy exists, so that no failure in between
		// leaves protected data unmarked; not over a snapshot that exists.
		existing, err := s.Snapshots(ctx)
		if err != nil {
			return spacepods.Snapshot{}, err
		}
		for _, x := range existing {
			if x.Name == name && !x.Incomplete {
				return spacepods.Snapshot{}, spacepods.Errorf(spacepods.ECONFLICT, "a snapshot named %s exists: pick another name (spacepods snapshot list)", name)
			}
		}
		if err := s.Store.MarkSnapshot(ctx, name, env, app, true); err != nil {
			return spacepods.Snapshot{}, err
		}
	}
	snap, err := s.takeSnapshot(ctx, env, app, name)
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

// Snapshots lists snapshots: the PostgreSQL server's, then the dedicated
// instances' (RDS), each with its Kind.
func (s *Service) Snapshots(ctx context.Context) ([]spacepods.Snapshot, error) {
	out := []spacepods.Snapshot{}
	if s.Databases != nil {
		snaps, err := s.Databases.ListSnapshots(ctx)
		if err != nil {
			return nil, err
		}
		for _, sn := range snaps {
			if sn.Kind == "" {
				sn.Kind = spacepods.SnapshotPostgres
			}
			out = append(out, sn)
		}
	}
	if s.Dedicated != nil {
		snaps, err := s.Dedicated.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, snaps...)
	}
	return out, nil
}
