package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// PutConfigVars upserts vars of one app in one transaction, with one audit
// entry per var (never the value).
func (s *Store) PutConfigVars(ctx context.Context, vars []spacepods.ConfigVar) error {
	now, actor := micros(s.Now()), spacepods.ActorName(ctx)
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, v := range vars {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO config_vars (app, scope, key, value, secret, secret_ref, override, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (app, scope, key) DO UPDATE SET value = $4, secret = $5, secret_ref = $6, override = $7, updated_by = $8, updated_at = $9`),
				v.App, v.Scope, v.Key, v.Value, boolInt(v.Secret), v.SecretRef, boolInt(v.Override), actor, now); err != nil {
				return err
			}
			kind := "var"
			if v.Secret {
				kind = "secret"
			}
			details := fmt.Sprintf("%s %s in scope %s", kind, v.Key, v.Scope)
			if v.Override {
				details += " (overrides a standard var)"
			}
			if err := s.audit(ctx, tx, "config.set", v.App, details); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteConfigVar removes one var. ENOTFOUND if it is not set.
func (s *Store) DeleteConfigVar(ctx context.Context, app, scope, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM config_vars WHERE app = $1 AND scope = $2 AND key = $3`), app, scope, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return spacepods.Errorf(spacepods.ENOTFOUND, "%s has no var %s in scope %s: see `spacepods config list %s`", app, key, scope, app)
		}
		return s.audit(ctx, tx, "config.unset", app, fmt.Sprintf("%s in scope %s", key, scope))
	})
}

// ConfigVars lists an app's vars (all scopes), by scope then key.
func (s *Store) ConfigVars(ctx context.Context, app string) ([]spacepods.ConfigVar, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT app, scope, key, value, secret, secret_ref, override, updated_by, updated_at FROM config_vars WHERE app = $1 ORDER BY scope, key`), app)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []spacepods.ConfigVar{}
	for rows.Next() {
		var v spacepods.ConfigVar
		var secret, override int
		var at int64
		if err := rows.Scan(&v.App, &v.Scope, &v.Key, &v.Value, &secret, &v.SecretRef, &override, &v.UpdatedBy, &at); err != nil {
			return nil, s.wrap(err)
		}
		v.Secret, v.Override, v.UpdatedAt = secret != 0, override != 0, fromMicros(at)
		out = append(out, v)
	}
	return out, s.wrap(rows.Err())
}
