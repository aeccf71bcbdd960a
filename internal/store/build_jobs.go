package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// AddBuildJob queues a build job of an app. ENOTFOUND if the app is not
// registered.
func (s *Store) AddBuildJob(ctx context.Context, app, ref string) (spacepods.BuildJob, error) {
	defer s.changes.Signal("")
	j := spacepods.BuildJob{App: app, Ref: ref, Status: spacepods.JobQueued, CreatedBy: spacepods.ActorName(ctx), CreatedAt: s.Now()}
	if _, err := s.GetApp(ctx, app); err != nil {
		return j, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO build_jobs (app, ref, status, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`),
			j.App, j.Ref, j.Status, j.CreatedBy, micros(j.CreatedAt)).Scan(&j.ID); err != nil {
			return err
		}
		target := j.App
		if ref != "" {
			target += "@" + ref
		}
		return s.audit(ctx, tx, "build.run", target, fmt.Sprintf("job %d", j.ID))
	})
	if err != nil {
		return j, err
	}
	return s.GetBuildJob(ctx, j.ID, false)
}

const buildJobCols = `id, app, ref, sha, branch, author, message, status, error, image, digest, build_number, created_by, created_at, started_at, finished_at`

func scanBuildJob(row scanner) (spacepods.BuildJob, error) {
	var j spacepods.BuildJob
	var at int64
	var started, finished sql.NullInt64
	err := row.Scan(&j.ID, &j.App, &j.Ref, &j.SHA, &j.Branch, &j.Author, &j.Message, &j.Status, &j.Error, &j.Image, &j.Digest, &j.BuildNumber, &j.CreatedBy, &at, &started, &finished)
	j.CreatedAt = fromMicros(at)
	if started.Valid {
		t := fromMicros(started.Int64)
		j.StartedAt = &t
	}
	if finished.Valid {
		t := fromMicros(finished.Int64)
		j.FinishedAt = &t
	}
	return j, err
}

// GetBuildJob returns one build job, with its log when withLog, and its
// place in the queue while queued. ENOTFOUND if missing.
func (s *Store) GetBuildJob(ctx context.Context, id int64, withLog bool) (spacepods.BuildJob, error) {
	j, err := scanBuildJob(s.db.QueryRowContext(ctx, s.q(`SELECT `+buildJobCols+` FROM build_jobs WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, spacepods.Errorf(spacepods.ENOTFOUND, "there is no build job %d: list an app's jobs with `spacepods build jobs APP`", id)
	}
	if err != nil {
		return j, s.wrap(err)
	}
	if j.Status == spacepods.JobQueued {
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM build_jobs WHERE status = $1 AND id <= $2`), spacepods.JobQueued, id).Scan(&j.QueuePosition); err != nil {
			return j, s.wrap(err)
		}
	}
	if withLog {
		if j.Log, err = s.BuildJobLog(ctx, id); err != nil {
			return j, err
		}
	}
	return j, nil
}

// BuildJobLog returns a build job's log as last saved.
func (s *Store) BuildJobLog(ctx context.Context, id int64) (string, error) {
	var log string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT log FROM build_jobs WHERE id = $1`), id).Scan(&log)
	if errors.Is(err, sql.ErrNoRows) {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "there is no build job %d: list an app's jobs with `spacepods build jobs APP`", id)
	}
	return log, s.wrap(err)
}

// ListBuildJobs lists an app's build jobs, newest first, without logs.
func (s *Store) ListBuildJobs(ctx context.Context, app string, limit int) ([]spacepods.BuildJob, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	jobs, err := queryAll(ctx, s, scanBuildJob, `SELECT `+buildJobCols+` FROM build_jobs WHERE app = $1 ORDER BY id DESC LIMIT $2`, app, limit)
	if err != nil {
		return nil, err
	}
	var queued []int64
	if err := func() error {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM build_jobs WHERE status = $1 ORDER BY id`), spacepods.JobQueued)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			queued = append(queued, id)
		}
		return rows.Err()
	}(); err != nil {
		return nil, s.wrap(err)
	}
	for i := range jobs {
		for p, id := range queued {
			if id == jobs[i].ID {
				jobs[i].QueuePosition = p + 1
			}
		}
	}
	return jobs, nil
}

// QueuedBuildJobs lists the jobs waiting to run, oldest first.
func (s *Store) QueuedBuildJobs(ctx context.Context) ([]spacepods.BuildJob, error) {
	return queryAll(ctx, s, scanBuildJob, `SELECT `+buildJobCols+` FROM build_jobs WHERE status = $1 ORDER BY id`, spacepods.JobQueued)
}

// StartBuildJob moves a queued job to running. ECONFLICT when it is no
// longer queued (canceled meanwhile).
func (s *Store) StartBuildJob(ctx context.Context, id int64) (spacepods.BuildJob, error) {
	defer s.changes.Signal("")
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE build_jobs SET status = $2, started_at = $3 WHERE id = $1 AND status = $4`),
		id, spacepods.JobRunning, micros(s.Now()), spacepods.JobQueued)
	if err != nil {
		return spacepods.BuildJob{}, s.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return spacepods.BuildJob{}, spacepods.Errorf(spacepods.ECONFLICT, "build job %d is no longer queued", id)
	}
	return s.GetBuildJob(ctx, id, false)
}

// SaveBuildJob saves a running job's progress: what its ref resolved to,
// the image it makes, and its log so far.
func (s *Store) SaveBuildJob(ctx context.Context, j spacepods.BuildJob) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE build_jobs SET sha = $2, branch = $3, author = $4, message = $5, image = $6, digest = $7, log = $8 WHERE id = $1`),
		j.ID, j.SHA, j.Branch, j.Author, j.Message, j.Image, j.Digest, j.Log)
	return s.wrap(err)
}

// FinishBuildJob ends a job as failed or canceled, with the reason and its
// whole log. It records no build.
func (s *Store) FinishBuildJob(ctx context.Context, j spacepods.BuildJob) error {
	defer s.changes.Signal("")
	if j.Status != spacepods.JobFailed && j.Status != spacepods.JobCanceled {
		return fmt.Errorf("finish build job %d: status %q is not failed or canceled (a succeeded job ends with RecordJobBuild)", j.ID, j.Status)
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE build_jobs SET status = $2, error = $3, sha = $4, branch = $5, author = $6, message = $7, image = $8, digest = $9, log = $10, build_number = 0, finished_at = $11 WHERE id = $1`),
		j.ID, j.Status, j.Error, j.SHA, j.Branch, j.Author, j.Message, j.Image, j.Digest, j.Log, micros(s.Now()))
	return s.wrap(err)
}

// CancelQueuedBuildJob cancels a job that has not started. ECONFLICT when
// it has (the builder cancels running jobs itself).
func (s *Store) CancelQueuedBuildJob(ctx context.Context, id int64, reason string) error {
	defer s.changes.Signal("")
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE build_jobs SET status = $2, error = $3, finished_at = $4 WHERE id = $1 AND status = $5`),
		id, spacepods.JobCanceled, reason, micros(s.Now()), spacepods.JobQueued)
	if err != nil {
		return s.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return spacepods.Errorf(spacepods.ECONFLICT, "build job %d is not queued", id)
	}
	return nil
}

// FailInterruptedBuildJobs marks failed, with reason, every job left
// running by a server that stopped, and returns them.
func (s *Store) FailInterruptedBuildJobs(ctx context.Context, reason string) ([]spacepods.BuildJob, error) {
	defer s.changes.Signal("")
	jobs, err := queryAll(ctx, s, scanBuildJob, `SELECT `+buildJobCols+` FROM build_jobs WHERE status = $1 ORDER BY id`, spacepods.JobRunning)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE build_jobs SET status = $2, error = $3, build_number = 0, finished_at = $4, log = log || $5 WHERE id = $1 AND status = $6`),
			j.ID, spacepods.JobFailed, reason, micros(s.Now()), "\n"+reason+"\n", spacepods.JobRunning); err != nil {
			return nil, s.wrap(err)
		}
	}
	return jobs, nil
}

// ReserveBuildNumber gives a running job the next build number of its app
// (past every recorded build and every number another running job holds),
// which tags its image. The build is recorded under it only if the job
// succeeds.
func (s *Store) ReserveBuildNumber(ctx context.Context, id int64) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var app string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT app FROM build_jobs WHERE id = $1`), id).Scan(&app); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 + max(n) FROM (
			SELECT coalesce(max(number), 0) AS n FROM builds WHERE app = $1
			UNION ALL SELECT coalesce(max(build_number), 0) AS n FROM build_jobs WHERE app = $1 AND status = $2) AS t`),
			app, spacepods.JobRunning).Scan(&n); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE build_jobs SET build_number = $2 WHERE id = $1`), id, n)
		return err
	})
	return n, err
}

// RecordJobBuild ends a job as succeeded and records its build in one
// transaction. When the build's number is already recorded for the same
// commit (the registry's push notification of the job's image, whose
// labels carry the number and SHA, got there first), that build is kept
// and given the commit's author and message. ECONFLICT when the number
// holds another commit's build.
func (s *Store) RecordJobBuild(ctx context.Context, j spacepods.BuildJob, b spacepods.Build) (spacepods.Build, error) {
	defer s.changes.Signal("")
	if err := b.Validate(); err != nil {
		return b, err
	}
	b.CreatedAt, b.CreatedBy = s.Now(), j.CreatedBy
	err := s.tx(ctx, func(tx *sql.Tx) error {
		prev, err := scanBuild(tx.QueryRowContext(ctx, s.q(`SELECT `+buildCols+` FROM builds WHERE app = $1 AND number = $2`), b.App, b.Number))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// The pushed digest is the build's: the push notification that
			// follows finds the same image and records nothing more.
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO builds (app, number, git_sha, branch, pr, image, digest, created_by, created_at, author, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
				b.App, b.Number, b.GitSHA, b.Branch, b.PR, b.Image, j.Digest, b.CreatedBy, micros(b.CreatedAt), b.Author, b.Message); err != nil {
				return err
			}
		case err != nil:
			return err
		case prev.GitSHA == b.GitSHA:
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE builds SET author = $3, message = $4 WHERE app = $1 AND number = $2`), b.App, b.Number, b.Author, b.Message); err != nil {
				return err
			}
			b.CreatedAt, b.CreatedBy = prev.CreatedAt, prev.CreatedBy
		default:
			return spacepods.Errorf(spacepods.ECONFLICT, "app %s already has build %d (commit %s, not this job's %s): it was recorded while the job ran; run the job again", b.App, b.Number, prev.GitSHA, b.GitSHA)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE build_jobs SET status = $2, error = '', sha = $3, branch = $4, author = $5, message = $6, image = $7, digest = $8, log = $9, build_number = $10, finished_at = $11 WHERE id = $1`),
			j.ID, spacepods.JobSucceeded, j.SHA, j.Branch, j.Author, j.Message, j.Image, j.Digest, j.Log, b.Number, micros(s.Now())); err != nil {
			return err
		}
		return s.audit(ctx, tx, "build.record", fmt.Sprintf("%s#%d", b.App, b.Number), b.Image+" (build job "+fmt.Sprint(j.ID)+")")
	})
	return b, err
}
