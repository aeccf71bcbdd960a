package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// ProtectedSnapshot is a snapshot taken of a protected environment's
// database: it holds that environment's data.
type ProtectedSnapshot struct {
	Name      string
	Env       string
	App       string
	CreatedBy string
}

// MarkSnapshot records whether the snapshot name was taken of a protected
// environment (protected) or not (any earlier mark of the name goes).
func (s *Store) MarkSnapshot(ctx context.Context, name, env, app string, protected bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM protected_snapshots WHERE name = $1`), name); err != nil {
			return err
		}
		if !protected {
			return nil
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO protected_snapshots (name, env, app, created_by, created_at) VALUES ($1, $2, $3, $4, $5)`),
			name, env, app, spacepods.ActorName(ctx), micros(s.Now()))
		return err
	})
}

// ProtectedSnapshot returns the mark of a snapshot taken of a protected
// environment, and false for any other snapshot.
func (s *Store) ProtectedSnapshot(ctx context.Context, name string) (ProtectedSnapshot, bool, error) {
	p := ProtectedSnapshot{Name: name}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT env, app, created_by FROM protected_snapshots WHERE name = $1`), name).Scan(&p.Env, &p.App, &p.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, s.wrap(err)
	}
	return p, true, nil
}
