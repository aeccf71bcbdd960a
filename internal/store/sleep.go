package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// SetPodSleep records a pod's sleep settings. It starts the pod's sleep
// record afresh: apps a destroyed pod of that name left asleep are
// forgotten.
func (s *Store) SetPodSleep(ctx context.Context, env string, set spacepods.SleepSettings) error {
	defer s.changes.Signal(env)
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO pod_sleep (env, idle_timeout_ms, keep_awake) VALUES ($1, $2, $3)
			ON CONFLICT (env) DO UPDATE SET idle_timeout_ms = $2, keep_awake = $3`),
			env, set.IdleTimeout.Milliseconds(), boolInt(set.KeepAwake)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM app_sleep WHERE env = $1`), env)
		return err
	})
}

// PodSleep returns a pod's sleep settings; the zero value (server default,
// may sleep) when none were recorded.
func (s *Store) PodSleep(ctx context.Context, env string) (spacepods.SleepSettings, error) {
	var ms int64
	var keep int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT idle_timeout_ms, keep_awake FROM pod_sleep WHERE env = $1`), env).Scan(&ms, &keep)
	if errors.Is(err, sql.ErrNoRows) {
		return spacepods.SleepSettings{}, nil
	}
	return spacepods.SleepSettings{IdleTimeout: time.Duration(ms) * time.Millisecond, KeepAwake: keep != 0}, s.wrap(err)
}

// MarkAsleep records that app's release in env sleeps.
func (s *Store) MarkAsleep(ctx context.Context, a spacepods.AppSleep) error {
	defer s.changes.Signal(a.Env)
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO app_sleep (env, app, release, since, reason) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (env, app) DO UPDATE SET release = $3, since = $4, reason = $5`),
		a.Env, a.App, a.Release, micros(a.Since), a.Reason)
	return s.wrap(err)
}

// MarkAwake forgets that app in env sleeps. Not an error if it does not.
func (s *Store) MarkAwake(ctx context.Context, env, app string) error {
	defer s.changes.Signal(env)
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM app_sleep WHERE env = $1 AND app = $2`), env, app)
	return s.wrap(err)
}

// AsleepApps lists the apps recorded asleep in env ("" = every
// environment), by environment and app. A row holds for its release only:
// callers compare it with the app's live release.
func (s *Store) AsleepApps(ctx context.Context, env string) ([]spacepods.AppSleep, error) {
	q := `SELECT env, app, release, since, reason FROM app_sleep`
	var args []any
	if env != "" {
		q += ` WHERE env = $1`
		args = append(args, env)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+` ORDER BY env, app`), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []spacepods.AppSleep
	for rows.Next() {
		var a spacepods.AppSleep
		var since int64
		if err := rows.Scan(&a.Env, &a.App, &a.Release, &since, &a.Reason); err != nil {
			return nil, s.wrap(err)
		}
		a.Since = fromMicros(since)
		out = append(out, a)
	}
	return out, s.wrap(rows.Err())
}

// SleepState is what the store knows of one pod's sleep.
type SleepState struct {
	Settings spacepods.SleepSettings
	// Asleep are the apps recorded asleep for their live release, by name.
	Asleep map[string]spacepods.AppSleep
	// WebApps counts the pod's web apps (those with a URL): the apps that
	// can sleep.
	WebApps int
}

// SleepStates returns the sleep state of env ("" = of every environment
// that has apps or sleep settings), in three queries whatever their number.
func (s *Store) SleepStates(ctx context.Context, env string) (map[string]*SleepState, error) {
	out := map[string]*SleepState{}
	get := func(e string) *SleepState {
		st := out[e]
		if st == nil {
			st = &SleepState{Asleep: map[string]spacepods.AppSleep{}}
			out[e] = st
		}
		return st
	}
	where, args := "", []any{}
	if env != "" {
		where, args = " WHERE env = $1", []any{env}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT env, idle_timeout_ms, keep_awake FROM pod_sleep`+where), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	for rows.Next() {
		var e string
		var ms int64
		var keep int
		if err := rows.Scan(&e, &ms, &keep); err != nil {
			rows.Close()
			return nil, s.wrap(err)
		}
		get(e).Settings = spacepods.SleepSettings{IdleTimeout: time.Duration(ms) * time.Millisecond, KeepAwake: keep != 0}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT env, COUNT(*) FROM env_apps WHERE url <> ''`+strings.Replace(where, "WHERE", "AND", 1)+` GROUP BY env`), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	for rows.Next() {
		var e string
		var n int
		if err := rows.Scan(&e, &n); err != nil {
			rows.Close()
			return nil, s.wrap(err)
		}
		get(e).WebApps = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	swhere := strings.Replace(where, "env", "s.env", 1)
	rows, err = s.db.QueryContext(ctx, s.q(`SELECT s.env, s.app, s.release, s.since, s.reason FROM app_sleep s
		JOIN env_apps a ON a.env = s.env AND a.app = s.app AND a.release = s.release`+swhere+` ORDER BY s.env, s.app`), args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a spacepods.AppSleep
		var since int64
		if err := rows.Scan(&a.Env, &a.App, &a.Release, &since, &a.Reason); err != nil {
			return nil, s.wrap(err)
		}
		a.Since = fromMicros(since)
		get(a.Env).Asleep[a.App] = a
	}
	return out, s.wrap(rows.Err())
}

// PodSleepRecord returns env's sleep settings and every app_sleep row of
// env, whatever its release, in one query: the caller, which has the
// pod's apps at hand, keeps the rows of their live releases (SleepStateOf).
func (s *Store) PodSleepRecord(ctx context.Context, env string) (spacepods.SleepSettings, []spacepods.AppSleep, error) {
	var set spacepods.SleepSettings
	var recs []spacepods.AppSleep
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT '', idle_timeout_ms, keep_awake, 0, 0, '' FROM pod_sleep WHERE env = $1
		UNION ALL SELECT app, 0, 0, release, since, reason FROM app_sleep WHERE env = $1`), env)
	if err != nil {
		return set, nil, s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a spacepods.AppSleep
		var ms, since int64
		var keep int
		if err := rows.Scan(&a.App, &ms, &keep, &a.Release, &since, &a.Reason); err != nil {
			return set, nil, s.wrap(err)
		}
		if a.App == "" {
			set = spacepods.SleepSettings{IdleTimeout: time.Duration(ms) * time.Millisecond, KeepAwake: keep != 0}
			continue
		}
		a.Env, a.Since = env, fromMicros(since)
		recs = append(recs, a)
	}
	return set, recs, s.wrap(rows.Err())
}

// SleepStateOf is the sleep state of a pod whose apps the caller has read:
// its record (PodSleepRecord) held against their live releases.
func SleepStateOf(set spacepods.SleepSettings, recs []spacepods.AppSleep, apps []spacepods.EnvApp) *SleepState {
	st := &SleepState{Settings: set, Asleep: map[string]spacepods.AppSleep{}}
	live := make(map[string]int, len(apps))
	for _, a := range apps {
		live[a.App] = a.Release
		if a.URL != "" {
			st.WebApps++
		}
	}
	for _, r := range recs {
		if rel, ok := live[r.App]; ok && rel == r.Release {
			st.Asleep[r.App] = r
		}
	}
	return st
}
