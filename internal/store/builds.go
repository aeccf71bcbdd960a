package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// AddBuild records a build. ECONFLICT if the app already has that number;
// ENOTFOUND if the app is not registered.
func (s *Store) AddBuild(ctx context.Context, b spacepods.Build) (spacepods.Build, error) {
	defer s.changes.Signal("")
	b.CreatedAt = s.Now()
	b.CreatedBy = spacepods.ActorName(ctx)
	if _, err := s.GetApp(ctx, b.App); err != nil {
		return b, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.insertBuild(ctx, tx, b)
	})
	return b, err
}

// insertBuild inserts b (CreatedAt and CreatedBy set) and its audit entry.
func (s *Store) insertBuild(ctx context.Context, tx *sql.Tx, b spacepods.Build) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO builds (app, number, git_sha, branch, pr, image, digest, created_by, created_at, author, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
		b.App, b.Number, b.GitSHA, b.Branch, b.PR, b.Image, b.Digest, b.CreatedBy, micros(b.CreatedAt), b.Author, b.Message)
	if isUniqueViolation(err) {
		return spacepods.Errorf(spacepods.ECONFLICT, "app %s already has build %d: build numbers are unique per app; record the next number (see `spacepods build list %s`)", b.App, b.Number, b.App)
	}
	if err != nil {
		return err
	}
	details := b.Image
	if b.Digest != "" {
		details += "@" + b.Digest
	}
	return s.audit(ctx, tx, "build.record", fmt.Sprintf("%s#%d", b.App, b.Number), details)
}

const buildCols = `app, number, git_sha, branch, pr, image, digest, created_by, created_at, author, message`

func scanBuild(row scanner) (spacepods.Build, error) {
	var b spacepods.Build
	var at int64
	err := row.Scan(&b.App, &b.Number, &b.GitSHA, &b.Branch, &b.PR, &b.Image, &b.Digest, &b.CreatedBy, &at, &b.Author, &b.Message)
	b.CreatedAt = fromMicros(at)
	return b, err
}

// GetBuild returns one build. ENOTFOUND if missing.
func (s *Store) GetBuild(ctx context.Context, app string, number int) (spacepods.Build, error) {
	b, err := scanBuild(s.db.QueryRowContext(ctx, s.q(`SELECT `+buildCols+` FROM builds WHERE app = $1 AND number = $2`), app, number))
	if errors.Is(err, sql.ErrNoRows) {
		return b, spacepods.Errorf(spacepods.ENOTFOUND, "app %s has no build %d: see `spacepods build list %s`", app, number, app)
	}
	return b, s.wrap(err)
}

// ListBuilds lists an app's builds, newest first.
func (s *Store) ListBuilds(ctx context.Context, f spacepods.BuildFilter) ([]spacepods.Build, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query := `SELECT ` + buildCols + ` FROM builds WHERE app = $1 ORDER BY number DESC LIMIT $2`
	args := []any{f.App, f.Limit}
	if f.Branch != "" {
		query = `SELECT ` + buildCols + ` FROM builds WHERE app = $1 AND branch = $3 ORDER BY number DESC LIMIT $2`
		args = append(args, f.Branch)
	}
	return queryAll(ctx, s, scanBuild, query, args...)
}

// LatestBuild returns the newest build of app on branch. ENOTFOUND if none.
func (s *Store) LatestBuild(ctx context.Context, app, branch string) (spacepods.Build, error) {
	b, err := scanBuild(s.db.QueryRowContext(ctx, s.q(`SELECT `+buildCols+` FROM builds WHERE app = $1 AND branch = $2 ORDER BY number DESC LIMIT 1`), app, branch))
	if errors.Is(err, sql.ErrNoRows) {
		return b, spacepods.Errorf(spacepods.ENOTFOUND, "app %s has no build on branch %s yet: CI records one with `spacepods build record %s --number N --image REF --sha SHA --branch %s`", app, branch, app, branch)
	}
	return b, s.wrap(err)
}

// ImportBuilds records many builds in one transaction (backfills from a CI
// system's history). One audit entry covers the batch.
func (s *Store) ImportBuilds(ctx context.Context, bs []spacepods.Build) error {
	defer s.changes.Signal("")
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO builds (app, number, git_sha, branch, pr, image, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		actor, now := spacepods.ActorName(ctx), micros(s.Now())
		for _, b := range bs {
			if err := b.Validate(); err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, b.App, b.Number, b.GitSHA, b.Branch, b.PR, b.Image, actor, now); err != nil {
				if isUniqueViolation(err) {
					return spacepods.Errorf(spacepods.ECONFLICT, "app %s already has build %d: nothing was imported", b.App, b.Number)
				}
				return err
			}
		}
		return s.audit(ctx, tx, "build.import", fmt.Sprintf("%d builds", len(bs)), "")
	})
}
