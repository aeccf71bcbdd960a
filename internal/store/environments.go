package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

const envCols = `name, kind, owner, status, reason, protected, apps, builds, expires_at, created_at, updated_at, pr_url, no_secrets`

func scanEnv(row scanner) (spacepods.Environment, error) {
	var e spacepods.Environment
	var protected, noSecrets int
	var apps, builds string
	var expires sql.NullInt64
	var created, updated int64
	if err := row.Scan(&e.Name, &e.Kind, &e.Owner, &e.Status, &e.Reason, &protected, &apps, &builds, &expires, &created, &updated, &e.PRURL, &noSecrets); err != nil {
		return e, err
	}
	e.Protected = protected != 0
	e.NoSecrets = noSecrets != 0
	if err := json.Unmarshal([]byte(apps), &e.Apps); err != nil {
		return e, fmt.Errorf("environment %s: apps column: %w", e.Name, err)
	}
	if err := json.Unmarshal([]byte(builds), &e.Builds); err != nil {
		return e, fmt.Errorf("environment %s: builds column: %w", e.Name, err)
	}
	if expires.Valid {
		t := fromMicros(expires.Int64)
		e.ExpiresAt = &t
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return e, nil
}

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateEnvironment inserts an environment. ECONFLICT if the name is taken
// by a live environment; a destroyed one of that name is replaced.
func (s *Store) CreateEnvironment(ctx context.Context, e spacepods.Environment) (spacepods.Environment, error) {
	defer s.changes.Signal(e.Name)
	e.CreatedAt, e.UpdatedAt = s.Now(), s.Now()
	apps, _ := json.Marshal(e.Apps)
	builds, _ := json.Marshal(e.Builds)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM environments WHERE name = $1`), e.Name).Scan(&status)
		switch {
		case err == nil && status != spacepods.StatusDestroyed:
			what := "a pod"
			return spacepods.Errorf(spacepods.ECONFLICT, "%s named %q exists (status %s): pick another name, or destroy it first with `spacepods pod destroy %s`", what, e.Name, status, e.Name)
		case err == nil:
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM environments WHERE name = $1`), e.Name); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO environments (`+envCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)`),
			e.Name, e.Kind, e.Owner, e.Status, e.Reason, boolInt(e.Protected), string(apps), string(builds), nullMicros(e.ExpiresAt), micros(e.CreatedAt), e.PRURL, boolInt(e.NoSecrets)); err != nil {
			return err
		}
		return s.audit(ctx, tx, e.Kind+".create", e.Name, "")
	})
	return e, err
}

// GetEnvironment returns one environment. ENOTFOUND if missing or destroyed.
func (s *Store) GetEnvironment(ctx context.Context, name string) (spacepods.Environment, error) {
	e, err := scanEnv(s.db.QueryRowContext(ctx, s.q(`SELECT `+envCols+` FROM environments WHERE name = $1 AND status <> 'destroyed'`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return e, spacepods.Errorf(spacepods.ENOTFOUND, "no pod or environment named %q: list them with `spacepods pod list` or `spacepods env list`", name)
	}
	return e, s.wrap(err)
}

// ListEnvironments lists live environments of a kind ("" = all).
func (s *Store) ListEnvironments(ctx context.Context, kind string) ([]spacepods.Environment, error) {
	return queryAll(ctx, s, scanEnv, `SELECT `+envCols+` FROM environments WHERE status <> 'destroyed' AND ($1 = '' OR kind = $1) ORDER BY name`, kind)
}

// ExpiredPods lists live pods whose TTL has passed.
func (s *Store) ExpiredPods(ctx context.Context, now time.Time) ([]spacepods.Environment, error) {
	return queryAll(ctx, s, scanEnv, `SELECT `+envCols+` FROM environments WHERE kind = 'pod' AND status NOT IN ('destroyed', 'destroying') AND expires_at IS NOT NULL AND expires_at < $1`, micros(now))
}

// SetEnvironmentStatus sets status and reason.
func (s *Store) SetEnvironmentStatus(ctx context.Context, name, status, reason string) error {
	defer s.changes.Signal(name)
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE environments SET status = $2, reason = $3, updated_at = $4 WHERE name = $1`), name, status, reason, micros(s.Now()))
	return s.wrap(err)
}

// UpdateEnvironmentSpec records what a pod was asked for (apps, builds).
func (s *Store) UpdateEnvironmentSpec(ctx context.Context, name string, apps []string, builds map[string]int) error {
	defer s.changes.Signal(name)
	a, _ := json.Marshal(apps)
	b, _ := json.Marshal(builds)
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE environments SET apps = $2, builds = $3, updated_at = $4 WHERE name = $1`), name, string(a), string(b), micros(s.Now()))
	return s.wrap(err)
}

// ExtendEnvironment sets a pod's expiry.
func (s *Store) ExtendEnvironment(ctx context.Context, name string, expires time.Time) error {
	defer s.changes.Signal(name)
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE environments SET expires_at = $2, updated_at = $3 WHERE name = $1`), name, micros(expires), micros(s.Now())); err != nil {
			return err
		}
		return s.audit(ctx, tx, "pod.extend", name, "expires "+expires.Format(time.RFC3339))
	})
}

// PutEnvApp inserts or replaces one app row of an environment.
func (s *Store) PutEnvApp(ctx context.Context, a spacepods.EnvApp) error {
	defer s.changes.Signal(a.Env)
	a.UpdatedAt = s.Now()
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO env_apps (env, app, build, release, status, reason, url, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (env, app) DO UPDATE SET build = $3, release = $4, status = $5, reason = $6, url = $7, updated_at = $8`),
		a.Env, a.App, a.Build, a.Release, a.Status, a.Reason, a.URL, micros(a.UpdatedAt))
	return s.wrap(err)
}

// EnvApps lists an environment's apps by name.
func (s *Store) EnvApps(ctx context.Context, env string) ([]spacepods.EnvApp, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT env, app, build, release, status, reason, url, updated_at FROM env_apps WHERE env = $1 ORDER BY app`), env)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []spacepods.EnvApp{}
	for rows.Next() {
		var a spacepods.EnvApp
		var at int64
		if err := rows.Scan(&a.Env, &a.App, &a.Build, &a.Release, &a.Status, &a.Reason, &a.URL, &at); err != nil {
			return nil, s.wrap(err)
		}
		a.UpdatedAt = fromMicros(at)
		out = append(out, a)
	}
	return out, s.wrap(rows.Err())
}

// GetEnvApp returns one app row of an environment. ENOTFOUND if missing.
func (s *Store) GetEnvApp(ctx context.Context, env, app string) (spacepods.EnvApp, error) {
	var a spacepods.EnvApp
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT env, app, build, release, status, reason, url, updated_at FROM env_apps WHERE env = $1 AND app = $2`), env, app).
		Scan(&a.Env, &a.App, &a.Build, &a.Release, &a.Status, &a.Reason, &a.URL, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return a, spacepods.Errorf(spacepods.ENOTFOUND, "%s has no app named %q: see `spacepods pod show %s`", env, app, env)
	}
	a.UpdatedAt = fromMicros(at)
	return a, s.wrap(err)
}

// DeleteEnvApps removes every app row of an environment.
func (s *Store) DeleteEnvApps(ctx context.Context, env string) error {
	defer s.changes.Signal(env)
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM env_apps WHERE env = $1`), env)
	return s.wrap(err)
}

// AddEvent appends a progress line.
func (s *Store) AddEvent(ctx context.Context, ev spacepods.Event) (spacepods.Event, error) {
	defer s.changes.Signal(ev.Env)
	ev.At = s.Now()
	if ev.Level == "" {
		ev.Level = "info"
	}
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO events (env, app, deploy, level, message, output, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`),
		ev.Env, ev.App, ev.Deploy, ev.Level, ev.Message, ev.Output, micros(ev.At)).Scan(&ev.ID)
	return ev, s.wrap(err)
}

// Events lists events of an environment (deploy = 0) or of one deploy, after an ID.
func (s *Store) Events(ctx context.Context, env string, deploy int64, after int64, limit int) ([]spacepods.Event, error) {
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	query := `SELECT id, env, app, deploy, level, message, output, at FROM events WHERE env = $1 AND id > $2 ORDER BY id LIMIT $3`
	args := []any{env, after, limit}
	if deploy > 0 {
		query = `SELECT id, env, app, deploy, level, message, output, at FROM events WHERE deploy = $1 AND id > $2 ORDER BY id LIMIT $3`
		args[0] = deploy
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []spacepods.Event{}
	for rows.Next() {
		var ev spacepods.Event
		var at int64
		if err := rows.Scan(&ev.ID, &ev.Env, &ev.App, &ev.Deploy, &ev.Level, &ev.Message, &ev.Output, &at); err != nil {
			return nil, s.wrap(err)
		}
		ev.At = fromMicros(at)
		out = append(out, ev)
	}
	return out, s.wrap(rows.Err())
}
