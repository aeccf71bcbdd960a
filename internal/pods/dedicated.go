package pods

import (
	"context"
	"maps"
	"slices"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Dedicated keeps databases on instances of their own beside the PostgreSQL
// server of Service.Databases: in the rds-instance mode (internal/aws/rds's
// Databases), masters' RDS instances and pods' instances restored from
// their snapshots.
type Dedicated interface {
	// Snapshot takes the snapshot name of env's app's instance. handled
	// is false when that app has no instance of its own: its database is
	// then snapshotted on the PostgreSQL server.
	Snapshot(ctx context.Context, env, app, name string) (snap spacepods.Snapshot, handled bool, err error)
	// Snapshots lists the snapshots it took.
	Snapshots(ctx context.Context) ([]spacepods.Snapshot, error)
	// DestroyEnvironment deletes env's instances (a pod's; never a
	// master's own).
	DestroyEnvironment(ctx context.Context, env string) error
	// Instances returns the instances it made, identifier → environment.
	Instances(ctx context.Context) (map[string]string, error)
}

// LeakRDSInstance is the leak kind of a dedicated instance.
const LeakRDSInstance = "rds-instance"

// takeSnapshot snapshots env's app's database where it lives.
func (s *Service) takeSnapshot(ctx context.Context, env, app, name string) (spacepods.Snapshot, error) {
	if s.Dedicated != nil {
		snap, handled, err := s.Dedicated.Snapshot(ctx, env, app, name)
		if handled || err != nil {
			return snap, err
		}
	}
	if s.Databases == nil {
		return spacepods.Snapshot{}, spacepods.Errorf(spacepods.EUNAVAILABLE, "no PostgreSQL is configured")
	}
	return s.Databases.Snapshot(ctx, env, app, name)
}

// dedicatedLeftovers lists env's dedicated instances still there.
func (s *Service) dedicatedLeftovers(ctx context.Context, env string) ([]string, error) {
	if s.Dedicated == nil {
		return nil, nil
	}
	insts, err := s.Dedicated.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, id := range slices.Sorted(maps.Keys(insts)) {
		if insts[id] == env {
			left = append(left, "RDS instance "+id)
		}
	}
	return left, nil
}

// dedicatedLeaks lists the dedicated instances of environments not live.
func (s *Service) dedicatedLeaks(ctx context.Context, live map[string]bool) ([]spacepods.Leak, error) {
	if s.Dedicated == nil {
		return nil, nil
	}
	insts, err := s.Dedicated.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var leaks []spacepods.Leak
	for _, id := range slices.Sorted(maps.Keys(insts)) {
		if env := insts[id]; !live[env] {
			leaks = append(leaks, spacepods.Leak{Kind: LeakRDSInstance, Environment: env, Name: id})
		}
	}
	return leaks, nil
}
