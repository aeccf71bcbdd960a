package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Gatekeeper test runs (migration 012).

const testRunCols = `id, env, app, build, git_sha, image, status, exit_code, error, log_tail, cause, created_by, started_at, ended_at`

func scanTestRun(row scanner) (spacepods.TestRun, error) {
	var r spacepods.TestRun
	var started int64
	var ended sql.NullInt64
	err := row.Scan(&r.ID, &r.Env, &r.App, &r.Build, &r.GitSHA, &r.Image, &r.Status, &r.ExitCode, &r.Error, &r.LogTail, &r.Trigger, &r.By, &started, &ended)
	r.Started = fromMicros(started)
	if ended.Valid {
		t := fromMicros(ended.Int64)
		r.Ended = &t
		r.Duration = t.Sub(r.Started).Seconds()
	}
	return r, err
}

// AddTestRun records a test run that starts now (status running).
func (s *Store) AddTestRun(ctx context.Context, r spacepods.TestRun) (spacepods.TestRun, error) {
	defer s.changes.Signal(r.Env)
	r.Started, r.By, r.Status = s.Now(), spacepods.ActorName(ctx), spacepods.TestRunning
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO test_runs (env, app, build, git_sha, image, status, cause, created_by, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`),
		r.Env, r.App, r.Build, r.GitSHA, r.Image, r.Status, r.Trigger, r.By, micros(r.Started)).Scan(&r.ID)
	return r, s.wrap(err)
}

// FinishTestRun records the end of a run: its status, exit code, error,
// output tail and whole output (cut to its last spacepods.MaxTestLog bytes).
func (s *Store) FinishTestRun(ctx context.Context, r spacepods.TestRun, log string) (spacepods.TestRun, error) {
	defer s.changes.Signal(r.Env)
	if len(log) > spacepods.MaxTestLog {
		log = log[len(log)-spacepods.MaxTestLog:]
	}
	end := s.Now()
	r.Ended = &end
	r.Duration = end.Sub(r.Started).Seconds()
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE test_runs SET status = $2, exit_code = $3, error = $4, log_tail = $5, log = $6, ended_at = $7 WHERE id = $1`),
		r.ID, r.Status, r.ExitCode, r.Error, r.LogTail, log, micros(end))
	return r, s.wrap(err)
}

// GetTestRun returns one run. ENOTFOUND if missing.
func (s *Store) GetTestRun(ctx context.Context, id int64) (spacepods.TestRun, error) {
	r, err := scanTestRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+testRunCols+` FROM test_runs WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, spacepods.Errorf(spacepods.ENOTFOUND, "no test run %d: list an environment's runs with `spacepods pod show NAME` or GET /api/v1/envs/NAME/tests", id)
	}
	return r, s.wrap(err)
}

// TestRunLog returns the whole kept output of a run.
func (s *Store) TestRunLog(ctx context.Context, id int64) (string, error) {
	var log string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT log FROM test_runs WHERE id = $1`), id).Scan(&log)
	if errors.Is(err, sql.ErrNoRows) {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "no test run %d", id)
	}
	return log, s.wrap(err)
}

// ListTestRuns lists an environment's runs, newest first (app "" = all).
func (s *Store) ListTestRuns(ctx context.Context, env, app string, limit int) ([]spacepods.TestRun, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return queryAll(ctx, s, scanTestRun, `SELECT `+testRunCols+` FROM test_runs WHERE env = $1 AND ($2 = '' OR app = $2) ORDER BY id DESC LIMIT $3`, env, app, limit)
}

// RunningTestRuns lists runs not ended (after a restart: runs cut short).
func (s *Store) RunningTestRuns(ctx context.Context) ([]spacepods.TestRun, error) {
	return queryAll(ctx, s, scanTestRun, `SELECT `+testRunCols+` FROM test_runs WHERE status = $1 ORDER BY id`, spacepods.TestRunning)
}
