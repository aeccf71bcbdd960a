package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// PutApp registers an app or updates it, keeping every earlier version.
// It returns the stored app (with Version set) and whether it was new.
func (s *Store) PutApp(ctx context.Context, app spacepods.App) (spacepods.App, bool, error) {
	defer s.changes.Signal("") // every view may show apps
	app.Version, app.CreatedAt, app.UpdatedAt = 0, s.Now(), s.Now()
	manifest, err := json.Marshal(app)
	if err != nil {
		return app, false, err
	}
	created := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var version int
		var createdAt int64
		var prev string
		err := tx.QueryRowContext(ctx, s.q(`SELECT version, created_at, manifest FROM apps WHERE name = $1`), app.Name).Scan(&version, &createdAt, &prev)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			app.Version = 1
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO apps (name, version, manifest, deps, created_at, updated_at) VALUES ($1, 1, $2, $3, $4, $4)`),
				app.Name, string(manifest), strings.Join(app.Dependencies, ","), micros(app.UpdatedAt))
		case err == nil:
			app.Version = version + 1
			app.CreatedAt = fromMicros(createdAt)
			_, err = tx.ExecContext(ctx, s.q(`UPDATE apps SET version = $2, manifest = $3, deps = $4, updated_at = $5 WHERE name = $1`),
				app.Name, app.Version, string(manifest), strings.Join(app.Dependencies, ","), micros(app.UpdatedAt))
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO app_versions (app, version, manifest, created_by, created_at) VALUES ($1, $2, $3, $4, $5)`),
			app.Name, app.Version, string(manifest), spacepods.ActorName(ctx), micros(app.UpdatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1`); err != nil {
			return err
		}
		action := "app.update"
		if created {
			action = "app.register"
		}
		return s.audit(ctx, tx, action, app.Name, registrationDetails(app, version, prev))
	})
	return app, created, err
}

// maxAuditDiff bounds the manifest diff written to an audit record; the
// full manifests stay in app_versions.
const maxAuditDiff = 4000

// registrationDetails is the audit record of a registration: the version
// and, for an update, which manifest fields changed from the version
// before (prevJSON), e.g. "version 4 (was 3): migrate: ["/app","migrate"]
// → ["/app","up"]".
func registrationDetails(app spacepods.App, prevVersion int, prevJSON string) string {
	if prevJSON == "" {
		return fmt.Sprintf("version %d", app.Version)
	}
	var prev spacepods.App
	if err := json.Unmarshal([]byte(prevJSON), &prev); err != nil {
		return fmt.Sprintf("version %d (was %d): the previous manifest could not be read to compare", app.Version, prevVersion)
	}
	changes := spacepods.DiffManifests(prev, app)
	return fmt.Sprintf("version %d (was %d): %s", app.Version, prevVersion, spacepods.SummarizeChanges(changes, maxAuditDiff))
}

func scanApp(manifest string, version int, created, updated int64) (spacepods.App, error) {
	var app spacepods.App
	if err := json.Unmarshal([]byte(manifest), &app); err != nil {
		return app, fmt.Errorf("decode manifest: %w", err)
	}
	app.Version, app.CreatedAt, app.UpdatedAt = version, fromMicros(created), fromMicros(updated)
	return app, nil
}

// GetApp returns one app. ENOTFOUND if it is not registered.
func (s *Store) GetApp(ctx context.Context, name string) (spacepods.App, error) {
	var manifest string
	var version int
	var created, updated int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT manifest, version, created_at, updated_at FROM apps WHERE name = $1`), name).
		Scan(&manifest, &version, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return spacepods.App{}, spacepods.Errorf(spacepods.ENOTFOUND, "app %q is not registered: list apps with `spacepods app list`, register one with `spacepods app register -f spacepods.yaml`", name)
	}
	if err != nil {
		return spacepods.App{}, s.wrap(err)
	}
	return scanApp(manifest, version, created, updated)
}

// ListOptions pages through a list ordered by name.
type ListOptions struct {
	After string // names greater than this
	Limit int    // default 100, at most 1000
}

func (o ListOptions) limit() int {
	switch {
	case o.Limit <= 0:
		return 100
	case o.Limit > 1000:
		return 1000
	}
	return o.Limit
}

// ListApps lists apps by name, a page at a time.
func (s *Store) ListApps(ctx context.Context, opt ListOptions) ([]spacepods.App, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT manifest, version, created_at, updated_at FROM apps WHERE name > $1 ORDER BY name LIMIT $2`), opt.After, opt.limit())
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	apps := []spacepods.App{}
	for rows.Next() {
		var manifest string
		var version int
		var created, updated int64
		if err := rows.Scan(&manifest, &version, &created, &updated); err != nil {
			return nil, s.wrap(err)
		}
		app, err := scanApp(manifest, version, created, updated)
		if err != nil {
			return nil, err
		}
		apps = append(apps, app)
	}
	return apps, s.wrap(rows.Err())
}

// AppVersions returns an app's registration history, newest first.
func (s *Store) AppVersions(ctx context.Context, name string) ([]spacepods.AppVersion, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT version, manifest, created_by, created_at FROM app_versions WHERE app = $1 ORDER BY version DESC`), name)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := []spacepods.AppVersion{}
	for rows.Next() {
		v := spacepods.AppVersion{App: name}
		var manifest string
		var at int64
		if err := rows.Scan(&v.Version, &manifest, &v.CreatedBy, &at); err != nil {
			return nil, s.wrap(err)
		}
		if err := json.Unmarshal([]byte(manifest), &v.Manifest); err != nil {
			return nil, err
		}
		v.CreatedAt = fromMicros(at)
		out = append(out, v)
	}
	if len(out) == 0 {
		if _, err := s.GetApp(ctx, name); err != nil {
			return nil, err
		}
	}
	return out, s.wrap(rows.Err())
}

// AppVersion returns one registered version of an app. ENOTFOUND if the
// app has no such version.
func (s *Store) AppVersion(ctx context.Context, name string, version int) (spacepods.AppVersion, error) {
	v := spacepods.AppVersion{App: name, Version: version}
	var manifest string
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT manifest, created_by, created_at FROM app_versions WHERE app = $1 AND version = $2`), name, version).Scan(&manifest, &v.CreatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return v, spacepods.Errorf(spacepods.ENOTFOUND, "app %q has no manifest version %d: see `spacepods app show %s --versions`", name, version, name)
	}
	if err != nil {
		return v, s.wrap(err)
	}
	if err := json.Unmarshal([]byte(manifest), &v.Manifest); err != nil {
		return v, fmt.Errorf("decode manifest: %w", err)
	}
	v.Manifest.Version = version
	v.CreatedAt = fromMicros(at)
	return v, nil
}

// CatalogStamp changes whenever any app is registered or updated; callers
// use it to know when a cached dependency graph is stale. It is one
// primary-key read.
func (s *Store) CatalogStamp(ctx context.Context) (string, error) {
	var g int64
	err := s.db.QueryRowContext(ctx, `SELECT generation FROM catalog_generation WHERE id = 1`).Scan(&g)
	return fmt.Sprint(g), s.wrap(err)
}

// AllDependencies returns every app's dependency list (name → deps).
func (s *Store) AllDependencies(ctx context.Context) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, deps FROM apps`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var name, deps string
		if err := rows.Scan(&name, &deps); err != nil {
			return nil, s.wrap(err)
		}
		if deps == "" {
			out[name] = nil
		} else {
			out[name] = strings.Split(deps, ",")
		}
	}
	return out, s.wrap(rows.Err())
}
