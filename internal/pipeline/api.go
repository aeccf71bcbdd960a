package pipeline

import (
	"context"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Show returns app's pipeline and its latest runs.
func (s *Service) Show(ctx context.Context, app string, limit int) (spacepods.PipelineView, error) {
	a, err := s.Catalog.Get(ctx, app)
	if err != nil {
		return spacepods.PipelineView{}, err
	}
	stages, source := s.StagesOf(a)
	runs, err := s.Store.ListPipelineRuns(ctx, app, limit)
	if stages == nil {
		stages = []spacepods.PipelineStage{}
	}
	return spacepods.PipelineView{App: app, Source: source, Stages: stages, Runs: runs}, err
}

// Runs lists app's runs, newest first.
func (s *Service) Runs(ctx context.Context, app string, limit int) ([]spacepods.PipelineRun, error) {
	if _, err := s.Catalog.Get(ctx, app); err != nil {
		return nil, err
	}
	return s.Store.ListPipelineRuns(ctx, app, limit)
}

// Run returns one run.
func (s *Service) Run(ctx context.Context, id int64) (spacepods.PipelineRun, error) {
	return s.Store.GetPipelineRun(ctx, id)
}

// StartRun starts a run of build of app by hand (a build that is not the
// newest, or one whose run failed). Any older run it supersedes stops at
// its next gate or between stages.
func (s *Service) StartRun(ctx context.Context, app string, build int) (spacepods.PipelineRun, error) {
	a, err := s.Catalog.Get(ctx, app)
	if err != nil {
		return spacepods.PipelineRun{}, err
	}
	b, err := s.Catalog.Build(ctx, app, build)
	if err != nil {
		return spacepods.PipelineRun{}, err
	}
	return s.create(ctx, a, b, "manual")
}

// Decide approves or rejects the gate run waits at. Developers decide;
// a gate into a protected environment takes an admin. The decision and
// who made it are audited. ECONFLICT if the run does not wait at a gate or
// it was decided already.
func (s *Service) Decide(ctx context.Context, id int64, approve bool, comment string) (spacepods.PipelineRun, error) {
	r, err := s.Store.GetPipelineRun(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Status != spacepods.RunWaiting {
		return r, spacepods.Errorf(spacepods.ECONFLICT, "pipeline run %d is %s, not waiting at a gate: nothing to approve or reject (see `spacepods pipeline run show %d`)", id, r.Status, id)
	}
	st := r.Stages[r.Stage]
	if !spacepods.RoleAtLeast(spacepods.ActorRole(ctx), spacepods.RoleDeveloper) {
		return r, spacepods.Errorf(spacepods.EFORBIDDEN, "approving or rejecting a pipeline gate takes a developer or admin: ask one")
	}
	if e, err := s.Store.GetEnvironment(ctx, st.Env); err == nil && e.Protected && !spacepods.ActorIsAdmin(ctx) {
		return r, spacepods.Errorf(spacepods.EFORBIDDEN, "%s is protected: only admins approve or reject entering it; ask an admin", st.Env)
	}
	if _, err := s.Store.DecidePipelineGate(ctx, store.PipelineDecision{Run: id, Stage: r.Stage, Approved: approve, Comment: comment}); err != nil {
		return r, err
	}
	s.kick(r.App)
	return r, nil
}
