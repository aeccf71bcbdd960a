package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
)

// Installation returns this installation's ID, made on first call: 12
// random hex digits, the same for every server sharing the store.
func (s *Store) Installation(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT name FROM installation WHERE id = 1`).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	b := make([]byte, 6)
	rand.Read(b)
	// Two servers starting at once: one insert wins, both read it back.
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO installation (id, name, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`),
		hex.EncodeToString(b), micros(s.Now())); err != nil {
		return "", err
	}
	err = s.db.QueryRowContext(ctx, `SELECT name FROM installation WHERE id = 1`).Scan(&id)
	return id, err
}
