package store

import (
	"context"
	"database/sql"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// AddAudit records a change that has no other row to ride with.
func (s *Store) AddAudit(ctx context.Context, action, target, details string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.audit(ctx, tx, action, target, details) })
}

// ListAudit returns audit entries, newest first; before = 0 starts at the newest.
func (s *Store) ListAudit(ctx context.Context, before int64, limit int) ([]spacepods.AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, actor, action, target, details, at FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2`), before, limit)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []spacepods.AuditEntry{}
	for rows.Next() {
		var e spacepods.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &e.Details, &at); err != nil {
			return nil, s.wrap(err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, s.wrap(rows.Err())
}
