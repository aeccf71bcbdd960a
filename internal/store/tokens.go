package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// CreateToken stores a token by the hash of its secret. ECONFLICT if the name is taken.
func (s *Store) CreateToken(ctx context.Context, name, role, hash string) (spacepods.Token, error) {
	t := spacepods.Token{Name: name, Role: role, CreatedBy: spacepods.ActorName(ctx), CreatedAt: s.Now()}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO tokens (name, role, hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`),
			name, role, hash, t.CreatedBy, micros(t.CreatedAt)).Scan(&t.ID)
		if isUniqueViolation(err) {
			return spacepods.Errorf(spacepods.ECONFLICT, "a token named %q exists: choose another name", name)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, "token.create", name, "role "+role)
	})
	return t, err
}

// TokenByHash finds a token by the hash of its secret and stamps its use.
// EUNAUTHORIZED if none matches.
func (s *Store) TokenByHash(ctx context.Context, hash string) (spacepods.Token, error) {
	var t spacepods.Token
	var created int64
	var used sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, name, role, created_by, created_at, last_used FROM tokens WHERE hash = $1`), hash).
		Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return t, spacepods.Errorf(spacepods.EUNAUTHORIZED, "unknown API token: check SPACEPODS_TOKEN (an admin creates tokens with `spacepods token create`)")
	}
	if err != nil {
		return t, s.wrap(err)
	}
	t.CreatedAt = fromMicros(created)
	now := s.Now()
	if !used.Valid || now.Sub(fromMicros(used.Int64)) > 60e9 { // stamp at most once a minute
		// Refused, not ignored: last_used is how an admin finds the tokens
		// in use, and a store that cannot write fails the request anyway.
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE tokens SET last_used = $1 WHERE id = $2`), micros(now), t.ID); err != nil {
			return spacepods.Token{}, s.wrap(err)
		}
	}
	if used.Valid {
		u := fromMicros(used.Int64)
		t.LastUsed = &u
	}
	return t, nil
}

// ListTokens lists tokens (never their secrets).
func (s *Store) ListTokens(ctx context.Context) ([]spacepods.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, role, created_by, created_at, last_used FROM tokens ORDER BY id`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []spacepods.Token{}
	for rows.Next() {
		var t spacepods.Token
		var created int64
		var used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.CreatedBy, &created, &used); err != nil {
			return nil, s.wrap(err)
		}
		t.CreatedAt = fromMicros(created)
		if used.Valid {
			u := fromMicros(used.Int64)
			t.LastUsed = &u
		}
		out = append(out, t)
	}
	return out, s.wrap(rows.Err())
}

// CountTokens returns how many tokens exist (0 on a fresh install).
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n)
	return n, s.wrap(err)
}

// DeleteToken revokes a token by name. ENOTFOUND if missing.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	defer s.changes.Signal(spacepods.SessionsTopic) // its sessions end with it
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tokens WHERE name = $1`), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return spacepods.Errorf(spacepods.ENOTFOUND, "no token named %q: see `spacepods token list`", name)
		}
		return s.audit(ctx, tx, "token.revoke", name, "")
	})
}
