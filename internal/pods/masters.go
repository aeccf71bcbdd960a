package pods

import (
	"context"

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
