package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// errNoSession is what every unusable session cookie gets: unknown,
// expired, revoked, or its token revoked. The user's fix is the same.
func errNoSession() error {
	return spacepods.Errorf(spacepods.EUNAUTHORIZED, "your session has ended (signed out, expired, or its token was revoked): sign in again at /login")
}

// CreateSession stores a session of a token by the hash of its random ID.
func (s *Store) CreateSession(ctx context.Context, hash string, tokenID int64, expires time.Time) (spacepods.Session, error) {
	now := s.Now()
	sess := spacepods.Session{CreatedAt: now, ExpiresAt: expires}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Sessions that ended over a day ago are of no use to anyone.
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1`), micros(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.q(`INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`),
			hash, tokenID, micros(now), micros(expires)).Scan(&sess.ID)
	})
	return sess, err
}

// SessionByHash returns the live session whose ID hashes to hash, with its
// token. EUNAUTHORIZED if there is none, it expired or was revoked, or its
// token was revoked.
func (s *Store) SessionByHash(ctx context.Context, hash string) (spacepods.Session, error) {
	var sess spacepods.Session
	var created, expires, tokCreated int64
	var revoked, used sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT s.id, s.created_at, s.expires_at, s.revoked_at, t.id, t.name, t.role, t.created_by, t.created_at, t.last_used
		FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = $1`), hash).
		Scan(&sess.ID, &created, &expires, &revoked, &sess.Token.ID, &sess.Token.Name, &sess.Token.Role, &sess.Token.CreatedBy, &tokCreated, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, errNoSession()
	}
	if err != nil {
		return sess, s.wrap(err)
	}
	sess.CreatedAt, sess.ExpiresAt, sess.Token.CreatedAt = fromMicros(created), fromMicros(expires), fromMicros(tokCreated)
	if used.Valid {
		u := fromMicros(used.Int64)
		sess.Token.LastUsed = &u
	}
	if revoked.Valid || !s.Now().Before(sess.ExpiresAt) {
		return sess, errNoSession()
	}
	return sess, nil
}

// RevokeSession ends the session whose ID hashes to hash (sign-out). A
// session already ended or unknown is not an error: the browser is signed
// out either way.
func (s *Store) RevokeSession(ctx context.Context, hash string) error {
	defer s.changes.Signal(spacepods.SessionsTopic)
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE sessions SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL`), hash, micros(s.Now()))
	return s.wrap(err)
}
