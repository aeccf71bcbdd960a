package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// The methods below make *Store the BlobStore of the local secret store
// (internal/secrets). They see only sealed bytes, never secret values.

// PutBlob stores or replaces the sealed secret at ref in one statement, so a
// failed write leaves the earlier blob intact.
func (s *Store) PutBlob(ctx context.Context, ref, keyID string, wrappedKey, sealed []byte) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO secrets (ref, key_id, wrapped_key, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (ref) DO UPDATE SET key_id = excluded.key_id, wrapped_key = excluded.wrapped_key, sealed = excluded.sealed, updated_at = excluded.updated_at`),
		ref, keyID, wrappedKey, sealed, micros(s.Now()))
	return s.wrap(err)
}

// GetBlob returns the sealed secret at ref. ENOTFOUND if there is none.
func (s *Store) GetBlob(ctx context.Context, ref string) (keyID string, wrappedKey, sealed []byte, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT key_id, wrapped_key, sealed FROM secrets WHERE ref = $1`), ref).
		Scan(&keyID, &wrappedKey, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil, spacepods.Errorf(spacepods.ENOTFOUND, "no secret %q", ref)
	}
	if err != nil {
		return "", nil, nil, s.wrap(err)
	}
	return keyID, wrappedKey, sealed, nil
}

// DeleteBlob removes the secret at ref; a missing ref is not an error.
func (s *Store) DeleteBlob(ctx context.Context, ref string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM secrets WHERE ref = $1`), ref)
	return s.wrap(err)
}

// likeEscaper makes a string match itself literally in LIKE ... ESCAPE '\'
// ('_' is common in refs and would otherwise match any character).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListBlobs returns the refs that start with prefix ("" for all), sorted
// bytewise whatever the database collation. LIKE narrows the scan; SQLite's
// LIKE ignores ASCII case, so the exact match is done here.
func (s *Store) ListBlobs(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT ref FROM secrets WHERE ref LIKE $1 ESCAPE '\'`), likeEscaper.Replace(prefix)+"%")
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return nil, s.wrap(err)
		}
		if strings.HasPrefix(ref, prefix) {
			out = append(out, ref)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	sort.Strings(out)
	return out, nil
}

// ListAll calls fn with the ref and master key ID of every secret, in ref
// order; an error from fn stops the walk and is returned.
func (s *Store) ListAll(ctx context.Context, fn func(ref, keyID string) error) error {
	type row struct{ ref, keyID string }
	var all []row
	rows, err := s.db.QueryContext(ctx, `SELECT ref, key_id FROM secrets`)
	if err != nil {
		return s.wrap(err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ref, &r.keyID); err != nil {
			rows.Close()
			return s.wrap(err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.wrap(err)
	}
	// fn runs after the rows are closed, so it may use the store itself.
	sort.Slice(all, func(i, j int) bool { return all[i].ref < all[j].ref })
	for _, r := range all {
		if err := fn(r.ref, r.keyID); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceWrappedKeys calls fn for every secret and stores the key ID and
// wrapped data key it returns, all in one transaction: if fn fails for any
// secret, nothing changes. Sealed values are left as they are. Other writers
// wait until it commits.
func (s *Store) ReplaceWrappedKeys(ctx context.Context, fn func(ref, keyID string, wrapped []byte) (newKeyID string, newWrapped []byte, err error)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			// SQLite's BEGIN IMMEDIATE already holds the write lock; on
			// PostgreSQL keep inserts of new rows out until we commit.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE secrets IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		type row struct {
			ref, keyID string
			wrapped    []byte
		}
		var all []row
		rows, err := tx.QueryContext(ctx, `SELECT ref, key_id, wrapped_key FROM secrets`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ref, &r.keyID, &r.wrapped); err != nil {
				rows.Close()
				return err
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		sort.Slice(all, func(i, j int) bool { return all[i].ref < all[j].ref })
		for _, r := range all {
			newID, newWrapped, err := fn(r.ref, r.keyID, r.wrapped)
			if err != nil {
				return err
			}
			if newID == r.keyID && bytes.Equal(newWrapped, r.wrapped) {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE secrets SET key_id = $1, wrapped_key = $2 WHERE ref = $3`), newID, newWrapped, r.ref); err != nil {
				return err
			}
		}
		return nil
	})
}
