package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// ExternalSnapshot is a snapshot that lives outside the PostgreSQL server
// of pod databases: Kind "rds" is an RDS DB snapshot (Ref) of a master's
// instance (Source).
type ExternalSnapshot struct {
	Name      string // the name users give (database.snapshot in manifests)
	Kind      string
	Env       string // the master environment it was taken of
	App       string
	Source    string // e.g. the RDS instance identifier
	Ref       string // e.g. the RDS DB snapshot identifier
	Status    string // creating, available, failed
	CreatedBy string
	CreatedAt time.Time
}

// ExternalSnapshot statuses.
const (
	ExternalCreating  = "creating"
	ExternalAvailable = "available"
	ExternalFailed    = "failed"
)

// AddExternalSnapshot records a snapshot about to be taken (its status is
// ExternalCreating). ECONFLICT when the name is taken by one that did not
// fail; a failed one is replaced.
func (s *Store) AddExternalSnapshot(ctx context.Context, x ExternalSnapshot) (ExternalSnapshot, error) {
	x.Status, x.CreatedBy, x.CreatedAt = ExternalCreating, spacepods.ActorName(ctx), s.Now().UTC().Truncate(time.Microsecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM external_snapshots WHERE name = $1`), x.Name).Scan(&status)
		switch {
		case err == nil && status != ExternalFailed:
			return spacepods.Errorf(spacepods.ECONFLICT, "a snapshot named %s exists (%s): pick another name (spacepods snapshot list)", x.Name, status)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM external_snapshots WHERE name = $1`), x.Name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO external_snapshots (name, kind, env, app, source, ref, status, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`), x.Name, x.Kind, x.Env, x.App, x.Source, x.Ref, x.Status, x.CreatedBy, micros(x.CreatedAt))
		return err
	})
	return x, err
}

// SetExternalSnapshotStatus records where a snapshot's making ended.
func (s *Store) SetExternalSnapshotStatus(ctx context.Context, name, status string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE external_snapshots SET status = $2 WHERE name = $1`), name, status)
	return s.wrap(err)
}

// GetExternalSnapshot returns the external snapshot named name, and false
// when there is none (the name is a PostgreSQL snapshot's, or no one's).
func (s *Store) GetExternalSnapshot(ctx context.Context, name string) (ExternalSnapshot, bool, error) {
	x, err := scanExternal(s.db.QueryRowContext(ctx, s.q(`SELECT `+externalCols+` FROM external_snapshots WHERE name = $1`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return x, false, nil
	}
	if err != nil {
		return x, false, s.wrap(err)
	}
	return x, true, nil
}

// ListExternalSnapshots lists the external snapshots of kind ("" = all),
// by name.
func (s *Store) ListExternalSnapshots(ctx context.Context, kind string) ([]ExternalSnapshot, error) {
	return queryAll(ctx, s, scanExternal, `SELECT `+externalCols+` FROM external_snapshots WHERE ($1 = '' OR kind = $1) ORDER BY name`, kind)
}

const externalCols = `name, kind, env, app, source, ref, status, created_by, created_at`

func scanExternal(r scanner) (ExternalSnapshot, error) {
	var x ExternalSnapshot
	var at int64
	err := r.Scan(&x.Name, &x.Kind, &x.Env, &x.App, &x.Source, &x.Ref, &x.Status, &x.CreatedBy, &at)
	x.CreatedAt = fromMicros(at)
	return x, err
}
