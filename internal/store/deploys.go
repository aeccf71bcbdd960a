package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// AddRelease registers the next release of (env, app); the number is
// assigned here, one more than the last.
func (s *Store) AddRelease(ctx context.Context, r spacepods.Release) (spacepods.Release, error) {
	defer s.changes.Signal(r.Env)
	r.CreatedAt = s.Now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT max(number) FROM releases WHERE env = $1 AND app = $2`), r.Env, r.App).Scan(&last); err != nil {
			return err
		}
		r.Number = int(last.Int64) + 1
		spec, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO releases (env, app, number, spec, created_at) VALUES ($1, $2, $3, $4, $5)`), r.Env, r.App, r.Number, string(spec), micros(r.CreatedAt))
		return err
	})
	return r, err
}

// GetRelease returns one release. ENOTFOUND if missing.
func (s *Store) GetRelease(ctx context.Context, env, app string, number int) (spacepods.Release, error) {
	var r spacepods.Release
	var spec string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT spec FROM releases WHERE env = $1 AND app = $2 AND number = $3`), env, app, number).Scan(&spec)
	if errors.Is(err, sql.ErrNoRows) {
		return r, spacepods.Errorf(spacepods.ENOTFOUND, "%s has no release %d of %s", env, number, app)
	}
	if err != nil {
		return r, s.wrap(err)
	}
	return r, json.Unmarshal([]byte(spec), &r)
}

const deployCols = `id, env, app, build, release, from_release, rollback, status, step, error, output, steps, created_by, created_at, started_at, ended_at, manifest_version, confirmed_by`

func scanDeploy(row scanner) (spacepods.Deploy, error) {
	var d spacepods.Deploy
	var rollback int
	var steps string
	var created int64
	var started, ended sql.NullInt64
	err := row.Scan(&d.ID, &d.Env, &d.App, &d.Build, &d.Release, &d.FromRelease, &rollback, &d.Status, &d.Step, &d.Error, &d.Output, &steps, &d.CreatedBy, &created, &started, &ended, &d.ManifestVersion, &d.ConfirmedBy)
	if err != nil {
		return d, err
	}
	d.Rollback = rollback != 0
	if err := json.Unmarshal([]byte(steps), &d.Steps); err != nil {
		return d, fmt.Errorf("deploy %d: steps column: %w", d.ID, err)
	}
	d.CreatedAt = fromMicros(created)
	if started.Valid {
		t := fromMicros(started.Int64)
		d.StartedAt = &t
	}
	if ended.Valid {
		t := fromMicros(ended.Int64)
		d.EndedAt = &t
	}
	return d, nil
}

// CreateDeploy queues a deploy.
func (s *Store) CreateDeploy(ctx context.Context, d spacepods.Deploy) (spacepods.Deploy, error) {
	defer s.changes.Signal(d.Env)
	d.CreatedAt, d.CreatedBy, d.Status = s.Now(), spacepods.ActorName(ctx), spacepods.DeployQueued
	steps, _ := json.Marshal(d.Steps)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO deploys (env, app, build, release, from_release, rollback, status, steps, created_by, created_at, manifest_version, confirmed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`),
			d.Env, d.App, d.Build, d.Release, d.FromRelease, boolInt(d.Rollback), d.Status, string(steps), d.CreatedBy, micros(d.CreatedAt), d.ManifestVersion, d.ConfirmedBy).Scan(&d.ID)
		if err != nil {
			return err
		}
		details := fmt.Sprintf("deploy %d build %d", d.ID, d.Build)
		if d.ConfirmedBy != "" {
			details += fmt.Sprintf("; manifest version %d, its changes to what runs confirmed by %s", d.ManifestVersion, d.ConfirmedBy)
		}
		return s.audit(ctx, tx, "deploy.create", fmt.Sprintf("%s/%s", d.Env, d.App), details)
	})
	return d, err
}

// SaveDeploy writes a deploy's mutable fields (status, step, steps, error,
// output, release, times).
func (s *Store) SaveDeploy(ctx context.Context, d spacepods.Deploy) error {
	defer s.changes.Signal(d.Env)
	steps, _ := json.Marshal(d.Steps)
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE deploys SET release = $2, from_release = $3, status = $4, step = $5, error = $6, output = $7, steps = $8, started_at = $9, ended_at = $10 WHERE id = $1`),
		d.ID, d.Release, d.FromRelease, d.Status, d.Step, d.Error, d.Output, string(steps), nullMicros(d.StartedAt), nullMicros(d.EndedAt))
	return s.wrap(err)
}

// GetDeploy returns one deploy. ENOTFOUND if missing.
func (s *Store) GetDeploy(ctx context.Context, id int64) (spacepods.Deploy, error) {
	d, err := scanDeploy(s.db.QueryRowContext(ctx, s.q(`SELECT `+deployCols+` FROM deploys WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, spacepods.Errorf(spacepods.ENOTFOUND, "no deploy %d: see `spacepods deploy list`", id)
	}
	return d, s.wrap(err)
}

// ListDeploys lists deploys, newest first, filtered by env and app ("" = any).
func (s *Store) ListDeploys(ctx context.Context, env, app string, limit int) ([]spacepods.Deploy, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	return queryAll(ctx, s, scanDeploy, `SELECT `+deployCols+` FROM deploys WHERE ($1 = '' OR env = $1) AND ($2 = '' OR app = $2) ORDER BY id DESC LIMIT $3`, env, app, limit)
}

// UnfinishedDeploys lists queued and running deploys, oldest first (for
// resuming after a restart and for queueing).
func (s *Store) UnfinishedDeploys(ctx context.Context) ([]spacepods.Deploy, error) {
	return queryAll(ctx, s, scanDeploy, `SELECT `+deployCols+` FROM deploys WHERE status IN ('queued', 'running') ORDER BY id`)
}
