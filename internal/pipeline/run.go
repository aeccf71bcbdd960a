package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// maxTries bounds the deploys (and test runs) of one stage that restarts
// of the control plane may cost.
const maxTries = 3

// work runs app's unfinished runs, one transition at a time, oldest run
// first, until none is left. A newer run supersedes older ones that wait
// at a gate, are queued, or sit between two stages; a run that is
// deploying or testing finishes that stage first.
func (s *Service) work(ctx context.Context, app string) {
	defer s.wg.Done()
	failures := 0
	for {
		s.mu.Lock()
		s.dirty[app] = false
		s.mu.Unlock()
		changed := s.Store.Changes().Watch("")
		progressed, err := s.step(ctx, app)
		if ctx.Err() != nil {
			s.mu.Lock()
			delete(s.workers, app)
			s.mu.Unlock()
			return
		}
		if err != nil {
			failures++
			s.Logger.Error("pipeline run step; trying again", "app", app, "err", err, "failures", failures)
		} else {
			failures = 0
		}
		if progressed && err == nil {
			continue
		}
		s.mu.Lock()
		if !progressed && err == nil && !s.dirty[app] && !s.hasRuns(ctx, app) {
			delete(s.workers, app)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		pause := s.poll()
		if err != nil {
			pause = min(s.poll()<<min(failures, 5), time.Minute)
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-time.After(pause):
		}
	}
}

func (s *Service) hasRuns(ctx context.Context, app string) bool {
	runs, err := s.Store.UnfinishedPipelineRuns(ctx, app)
	return err != nil || len(runs) > 0
}

// step supersedes what a newer run replaces, then moves the oldest run
// left by one transition. It reports whether anything changed (false:
// nothing to do, or a gate waits).
func (s *Service) step(ctx context.Context, app string) (bool, error) {
	runs, err := s.Store.UnfinishedPipelineRuns(ctx, app)
	if err != nil || len(runs) == 0 {
		return false, err
	}
	newest := runs[len(runs)-1]
	if len(runs) > 1 {
		r := runs[0]
		if !between(r) {
			return s.advance(ctx, &r)
		}
		r.Error = fmt.Sprintf("superseded by run %d of build %d", newest.ID, newest.Build)
		if err := s.end(ctx, &r, spacepods.RunSuperseded, spacepods.StageSkipped); err != nil {
			return false, err
		}
		return true, nil
	}
	return s.advance(ctx, &newest)
}

// between reports whether r may be superseded: queued, waiting at a gate,
// or between two stages (nothing deploying or testing).
func between(r spacepods.PipelineRun) bool {
	st := r.Stages[r.Stage].Status
	return r.Status == spacepods.RunQueued || r.Status == spacepods.RunWaiting || st == spacepods.StagePending
}

// advance moves r by one transition, written to the store before the next
// one starts.
func (s *Service) advance(ctx context.Context, r *spacepods.PipelineRun) (bool, error) {
	st := &r.Stages[r.Stage]
	log := s.Logger.With("run", r.ID, "app", r.App, "build", r.Build, "env", st.Env)
	switch st.Status {
	case spacepods.StagePending:
		now := s.now()
		if st.Approval && !st.Approved {
			st.Status, st.WaitingSince, r.Status = spacepods.StageWaiting, &now, spacepods.RunWaiting
			if err := s.save(ctx, r); err != nil {
				return false, err
			}
			log.Info("pipeline run waits for approval")
			s.event(ctx, r, "info", fmt.Sprintf("pipeline run %d of build %d waits for approval to enter %s: `spacepods pipeline approve %d`", r.ID, r.Build, st.Env, r.ID))
			if s.Notifier != nil {
				s.Notifier.ApprovalNeeded(ctx, *r, r.Stage)
			}
			return true, nil
		}
		st.Status, st.StartedAt, st.DeployID, r.Status = spacepods.StageDeploying, &now, 0, spacepods.RunRunning
		st.Tries++
		return true, s.save(ctx, r)

	case spacepods.StageWaiting:
		return s.gate(ctx, r)

	case spacepods.StageDeploying:
		if st.DeployID == 0 {
			d, err := s.deploy(ctx, r)
			if err != nil {
				return true, s.fail(ctx, r, "deploy: "+spacepods.ErrorMessage(err), false)
			}
			st.DeployID = d.ID
			log.Info("pipeline stage deploys", "deploy", d.ID)
			return true, s.save(ctx, r)
		}
		var d spacepods.Deploy
		err := s.waitEnv(ctx, st.Env, func() (bool, error) {
			var err error
			d, err = s.Store.GetDeploy(ctx, st.DeployID)
			return err == nil && d.Done(), err
		})
		if err != nil {
			return false, err
		}
		switch {
		case d.Status == spacepods.DeployCompleted && st.RunsTests():
			st.Status = spacepods.StageTesting
			return true, s.save(ctx, r)
		case d.Status == spacepods.DeployCompleted:
			return true, s.pass(ctx, r)
		case deploy.StoppedByRestart(d) && st.Tries < maxTries:
			// The engine rolled it back when the control plane
			// restarted mid-deploy: deploy again, once more.
			now := s.now()
			st.DeployID, st.StartedAt = 0, &now
			st.Tries++
			log.Info("pipeline stage deploys again: its deploy stopped with the control plane", "deploy", d.ID)
			return true, s.save(ctx, r)
		default:
			return true, s.fail(ctx, r, fmt.Sprintf("deploy %d %s: %s", d.ID, strings.ReplaceAll(d.Status, "_", " "), d.Error), false)
		}

	case spacepods.StageTesting:
		if len(st.TestRuns) == 0 {
			st.TestTries++
			if err := s.save(ctx, r); err != nil {
				return false, err
			}
			runs, err := s.Tests.Begin(ctx, st.Env, r.App, fmt.Sprintf("pipeline run %d", r.ID))
			switch {
			case spacepods.ErrorCode(err) == spacepods.EINVALID && len(runs) == 0:
				st.Error = "no tests declared (add tests: to the manifest)"
				return true, s.pass(ctx, r)
			case err != nil:
				return true, s.fail(ctx, r, "tests did not run: "+spacepods.ErrorMessage(err), false)
			}
			for _, tr := range runs {
				st.TestRuns = append(st.TestRuns, tr.ID)
			}
			return true, s.save(ctx, r)
		}
		var runs []spacepods.TestRun
		err := s.waitEnv(ctx, st.Env, func() (bool, error) {
			var err error
			if runs, err = s.testRuns(ctx, st.TestRuns); err != nil {
				return false, err
			}
			for _, tr := range runs {
				if !tr.Done() {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			return false, err
		}
		if interrupted(runs) && st.TestTries < maxTries {
			st.TestRuns = nil
			log.Info("pipeline stage tests again: they stopped with the control plane")
			return true, s.save(ctx, r)
		}
		ok, line := gatekeeper.Summary(runs)
		if !ok {
			return true, s.fail(ctx, r, "tests "+line, true)
		}
		st.Error = ""
		return true, s.pass(ctx, r)
	}
	return false, fmt.Errorf("pipeline run %d: stage %d has status %q", r.ID, r.Stage, st.Status)
}

// deploy asks the engine for the stage's deploy, or adopts the one this
// run asked for before a restart cut it off from recording its ID.
func (s *Service) deploy(ctx context.Context, r *spacepods.PipelineRun) (spacepods.Deploy, error) {
	st := r.Stages[r.Stage]
	ds, err := s.Store.ListDeploys(ctx, st.Env, r.App, 20)
	if err != nil {
		return spacepods.Deploy{}, err
	}
	for _, d := range ds {
		if d.Build == r.Build && !d.Rollback && st.StartedAt != nil && !d.CreatedAt.Before(*st.StartedAt) && d.CreatedBy == "pipeline" {
			return d, nil
		}
	}
	return s.Deploys.Deploy(ctx, deploy.Request{Env: st.Env, App: r.App, Build: r.Build})
}

func (s *Service) testRuns(ctx context.Context, ids []int64) ([]spacepods.TestRun, error) {
	runs := make([]spacepods.TestRun, 0, len(ids))
	for _, id := range ids {
		tr, err := s.Store.GetTestRun(ctx, id)
		if err != nil {
			return nil, err
		}
		runs = append(runs, tr)
	}
	return runs, nil
}

// interrupted reports whether a run's tests stopped because the control
// plane did (gatekeeper marks them so on start).
func interrupted(runs []spacepods.TestRun) bool {
	for _, r := range runs {
		if gatekeeper.StoppedByRestart(r) {
			return true
		}
	}
	return false
}

// gate looks at a waiting stage's decision and timeout.
func (s *Service) gate(ctx context.Context, r *spacepods.PipelineRun) (bool, error) {
	st := &r.Stages[r.Stage]
	d, ok, err := s.Store.PipelineGateDecision(ctx, r.ID, r.Stage)
	if err != nil {
		return false, err
	}
	if !ok {
		timeout, _ := st.Timeout()
		if timeout == 0 || st.WaitingSince == nil || s.now().Before(st.WaitingSince.Add(timeout)) {
			return false, nil
		}
		d, err = s.Store.DecidePipelineGate(actor(ctx), store.PipelineDecision{Run: r.ID, Stage: r.Stage, DecidedBy: "timeout", Comment: fmt.Sprintf("nobody decided within %s", timeout)})
		if err != nil && spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			return false, err
		}
		return true, nil // the decision, whoever made it, is read next time
	}
	at := d.DecidedAt
	st.DecidedBy, st.DecidedAt = d.DecidedBy, &at
	if d.Approved {
		st.Approved, st.Status = true, spacepods.StagePending
		s.event(ctx, r, "info", fmt.Sprintf("%s approved pipeline run %d of build %d into %s", d.DecidedBy, r.ID, r.Build, st.Env))
		return true, s.save(ctx, r)
	}
	why := fmt.Sprintf("%s rejected entering %s", d.DecidedBy, st.Env)
	if d.Comment != "" {
		why += ": " + d.Comment
	}
	st.Error = why
	r.Error = why
	if err := s.end(ctx, r, spacepods.RunRejected, spacepods.StageRejected); err != nil {
		return false, err
	}
	return true, nil
}

// pass ends the current stage as passed and moves to the next one, or
// completes the run after the last.
func (s *Service) pass(ctx context.Context, r *spacepods.PipelineRun) error {
	st := &r.Stages[r.Stage]
	now := s.now()
	st.Status, st.EndedAt = spacepods.StagePassed, &now
	s.event(ctx, r, "info", fmt.Sprintf("pipeline run %d: build %d passed %s", r.ID, r.Build, st.Env))
	stage, last := r.Stage, r.Stage == len(r.Stages)-1
	var err error
	if last {
		err = s.close(ctx, r, spacepods.RunCompleted, "")
	} else {
		r.Stage++
		err = s.save(ctx, r)
	}
	if err != nil {
		return err
	}
	// Told once the pass is written, so that a restart in between never
	// sends a stage's notes twice (at most once: a kill right here loses
	// them, as it would any notice); before the run's end.
	if s.Notifier != nil && r.Stages[stage].DeployID != 0 {
		s.Notifier.StagePassed(ctx, *r, stage)
	}
	if last {
		s.ended(ctx, r)
	}
	return nil
}

// fail ends the run at the current stage. When its tests failed and the
// stage's policy is rollback, the release it replaced comes back.
func (s *Service) fail(ctx context.Context, r *spacepods.PipelineRun, why string, testsFailed bool) error {
	st := &r.Stages[r.Stage]
	st.Error, r.Error = why, fmt.Sprintf("%s: %s", st.Env, why)
	if testsFailed && st.Policy() == spacepods.OnFailureRollback && st.DeployID != 0 {
		d, err := s.Store.GetDeploy(ctx, st.DeployID)
		if err != nil {
			return err
		}
		if d.FromRelease > 0 {
			rb, err := s.Deploys.Deploy(ctx, deploy.Request{Env: st.Env, App: r.App, Rollback: d.FromRelease})
			if err != nil {
				st.Error += "; the rollback could not start: " + spacepods.ErrorMessage(err)
			} else {
				st.RollbackDeployID = rb.ID
			}
		}
	}
	if err := s.end(ctx, r, spacepods.RunFailed, spacepods.StageFailed); err != nil {
		return err
	}
	s.event(ctx, r, "error", fmt.Sprintf("pipeline run %d of build %d failed at %s: %s", r.ID, r.Build, st.Env, why))
	if s.Notifier != nil {
		s.Notifier.StageFailed(ctx, *r, r.Stage)
	}
	return nil
}

// end ends r with status; the current stage takes stageStatus (unless ""),
// the stages after it are skipped.
func (s *Service) end(ctx context.Context, r *spacepods.PipelineRun, status, stageStatus string) error {
	if err := s.close(ctx, r, status, stageStatus); err != nil {
		return err
	}
	s.ended(ctx, r)
	return nil
}

// close writes r's end (see end) without telling anyone.
func (s *Service) close(ctx context.Context, r *spacepods.PipelineRun, status, stageStatus string) error {
	now := s.now()
	if stageStatus != "" {
		st := &r.Stages[r.Stage]
		st.Status, st.EndedAt = stageStatus, &now
	}
	for i := r.Stage + 1; i < len(r.Stages); i++ {
		r.Stages[i].Status = spacepods.StageSkipped
	}
	r.Status, r.EndedAt = status, &now
	return s.save(ctx, r)
}

// ended logs and tells the end of r, once written (a failure was told by
// StageFailed).
func (s *Service) ended(ctx context.Context, r *spacepods.PipelineRun) {
	s.Logger.Info("pipeline run ended", "run", r.ID, "app", r.App, "build", r.Build, "status", r.Status, "error", r.Error)
	if r.Status != spacepods.RunFailed && s.Notifier != nil {
		s.Notifier.RunEnded(ctx, *r)
	}
}

// event records a line in the events of the stage's environment.
func (s *Service) event(ctx context.Context, r *spacepods.PipelineRun, level, msg string) {
	env := r.Stages[r.Stage].Env
	if _, err := s.Store.AddEvent(context.WithoutCancel(ctx), spacepods.Event{Env: env, App: r.App, Level: level, Message: msg}); err != nil && !errors.Is(err, context.Canceled) {
		s.Logger.Error("record event", "env", env, "err", err)
	}
}

// save writes r, then its commit statuses.
func (s *Service) save(ctx context.Context, r *spacepods.PipelineRun) error {
	if err := s.Store.SavePipelineRun(ctx, *r); err != nil {
		return err
	}
	s.statuses(ctx, *r)
	return nil
}

// waitEnv waits until done reports true, looking again at each change the
// store signals for env (a deploy's or a test run's progress written by
// this process) and at least every Poll (writes by other servers).
func (s *Service) waitEnv(ctx context.Context, env string, done func() (bool, error)) error {
	for {
		changed := s.Store.Changes().Watch(env) // before reading: a change during the read wakes the wait
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(s.poll()):
		}
	}
}
