package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Pipeline runs (migration 014).

const runCols = `id, app, build, git_sha, status, stage, stages, error, cause, created_by, created_at, ended_at`

func scanRun(row scanner) (spacepods.PipelineRun, error) {
	var r spacepods.PipelineRun
	var stages string
	var created int64
	var ended sql.NullInt64
	if err := row.Scan(&r.ID, &r.App, &r.Build, &r.GitSHA, &r.Status, &r.Stage, &stages, &r.Error, &r.Cause, &r.CreatedBy, &created, &ended); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(stages), &r.Stages); err != nil {
		return r, fmt.Errorf("pipeline run %d: stages column: %w", r.ID, err)
	}
	r.CreatedAt = fromMicros(created)
	if ended.Valid {
		t := fromMicros(ended.Int64)
		r.EndedAt = &t
	}
	return r, nil
}

// CreatePipelineRun records a new run. ECONFLICT when the build already
// started a run by itself (cause "build").
func (s *Store) CreatePipelineRun(ctx context.Context, r spacepods.PipelineRun) (spacepods.PipelineRun, error) {
	defer s.changes.Signal("")
	r.CreatedAt, r.CreatedBy = s.Now(), spacepods.ActorName(ctx)
	stages, _ := json.Marshal(r.Stages)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO pipeline_runs (app, build, git_sha, status, stage, stages, error, cause, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`),
			r.App, r.Build, r.GitSHA, r.Status, r.Stage, string(stages), r.Error, r.Cause, r.CreatedBy, micros(r.CreatedAt)).Scan(&r.ID)
		if isUniqueViolation(err) {
			return spacepods.Errorf(spacepods.ECONFLICT, "build %d of %s already started a pipeline run: see `spacepods pipeline runs %s`", r.Build, r.App, r.App)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, "pipeline.start", fmt.Sprintf("%s#%d", r.App, r.Build), fmt.Sprintf("run %d (%s)", r.ID, r.Cause))
	})
	return r, err
}

// SavePipelineRun writes a run's mutable fields (status, stage, stages,
// error, end).
func (s *Store) SavePipelineRun(ctx context.Context, r spacepods.PipelineRun) error {
	defer s.changes.Signal("")
	stages, _ := json.Marshal(r.Stages)
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE pipeline_runs SET status = $2, stage = $3, stages = $4, error = $5, ended_at = $6 WHERE id = $1`),
		r.ID, r.Status, r.Stage, string(stages), r.Error, nullMicros(r.EndedAt))
	return s.wrap(err)
}

// GetPipelineRun returns one run. ENOTFOUND if missing.
func (s *Store) GetPipelineRun(ctx context.Context, id int64) (spacepods.PipelineRun, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM pipeline_runs WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, spacepods.Errorf(spacepods.ENOTFOUND, "no pipeline run %d: see `spacepods pipeline runs APP`", id)
	}
	return r, s.wrap(err)
}

// ListPipelineRuns lists an app's runs, newest first.
func (s *Store) ListPipelineRuns(ctx context.Context, app string, limit int) ([]spacepods.PipelineRun, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	return queryAll(ctx, s, scanRun, `SELECT `+runCols+` FROM pipeline_runs WHERE app = $1 ORDER BY id DESC LIMIT $2`, app, limit)
}

// UnfinishedPipelineRuns lists the runs not ended of app ("" = every
// app), oldest first.
func (s *Store) UnfinishedPipelineRuns(ctx context.Context, app string) ([]spacepods.PipelineRun, error) {
	return queryAll(ctx, s, scanRun, `SELECT `+runCols+` FROM pipeline_runs WHERE status IN ('queued', 'running', 'waiting') AND ($1 = '' OR app = $1) ORDER BY id`, app)
}

// LatestRunBuild returns the highest build of app that started a run by
// itself (0 if none).
func (s *Store) LatestRunBuild(ctx context.Context, app string) (int, error) {
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT max(build) FROM pipeline_runs WHERE app = $1 AND cause = 'build'`), app).Scan(&n)
	return int(n.Int64), s.wrap(err)
}

// PipelineDecision is an approval or rejection of a run's gate.
type PipelineDecision struct {
	Run       int64
	Stage     int
	Approved  bool
	DecidedBy string
	DecidedAt time.Time
	Comment   string
}

// DecidePipelineGate records the decision on gate stage of run, audited.
// ECONFLICT if the gate was already decided.
func (s *Store) DecidePipelineGate(ctx context.Context, d PipelineDecision) (PipelineDecision, error) {
	defer s.changes.Signal("")
	d.DecidedAt = s.Now()
	if d.DecidedBy == "" {
		d.DecidedBy = spacepods.ActorName(ctx)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO pipeline_decisions (run, stage, approved, decided_by, decided_at, comment) VALUES ($1, $2, $3, $4, $5, $6)`),
			d.Run, d.Stage, boolInt(d.Approved), d.DecidedBy, micros(d.DecidedAt), d.Comment)
		if isUniqueViolation(err) {
			return spacepods.Errorf(spacepods.ECONFLICT, "the gate of pipeline run %d was already decided: see `spacepods pipeline run show %d`", d.Run, d.Run)
		}
		if err != nil {
			return err
		}
		action := "pipeline.reject"
		if d.Approved {
			action = "pipeline.approve"
		}
		return s.audit(ctx, tx, action, fmt.Sprintf("run %d stage %d", d.Run, d.Stage), d.Comment)
	})
	return d, err
}

// PipelineGateDecision returns the decision on gate stage of run, if any.
func (s *Store) PipelineGateDecision(ctx context.Context, run int64, stage int) (PipelineDecision, bool, error) {
	d := PipelineDecision{Run: run, Stage: stage}
	var approved int
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT approved, decided_by, decided_at, comment FROM pipeline_decisions WHERE run = $1 AND stage = $2`), run, stage).Scan(&approved, &d.DecidedBy, &at, &d.Comment)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	d.Approved, d.DecidedAt = approved != 0, fromMicros(at)
	return d, err == nil, s.wrap(err)
}
