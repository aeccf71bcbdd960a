package deploy

import (
	"context"
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Databases is what the engine needs of PostgreSQL: the apps' databases,
// made on first use. *databases.Provider is the one implementation; the
// engine is its only caller (see EnsureDatabase), so that every database is
// made through the same checks.
type Databases interface {
	// Ensure makes sure env has app's database, made from spec's seed or
	// snapshot on first use (an existing one is kept as it is), and returns
	// the DATABASE_URL at which env's containers reach it. EUNAVAILABLE:
	// the server cannot be reached; ENOTFOUND: no such snapshot.
	Ensure(ctx context.Context, env, app string, spec spacepods.Database) (url string, err error)
}

// EnsureDatabase makes sure env has app's database and returns the URL its
// containers use ("" when app has none). The deploy's register_release
// step calls it; so does the pods service, to make a pod's databases while
// its network is made. A snapshot of a protected environment's database is
// cloned only into a protected environment (EFORBIDDEN otherwise).
func (e *Engine) EnsureDatabase(ctx context.Context, env string, app spacepods.App) (string, error) {
	if app.Database == nil {
		return "", nil
	}
	if e.Databases == nil {
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "app %s needs a database but no PostgreSQL is configured: start the server with --postgres-admin-url, or let it start its own (initdb on PATH)", app.Name)
	}
	if err := e.checkSnapshotClone(ctx, env, app); err != nil {
		return "", err
	}
	url, err := e.Databases.Ensure(ctx, env, app.Name, *app.Database)
	if err != nil {
		return "", fmt.Errorf("database of %s: %w", app.Name, err)
	}
	return url, nil
}

// checkSnapshotClone refuses to clone a snapshot of a protected
// environment into an environment that is not protected: its data would be
// readable by anyone who may deploy there (developers run any image in a
// pod or an unprotected environment).
func (e *Engine) checkSnapshotClone(ctx context.Context, env string, app spacepods.App) error {
	if app.Database == nil || app.Database.Snapshot == "" {
		return nil
	}
	mark, ok, err := e.Store.ProtectedSnapshot(ctx, app.Database.Snapshot)
	if err != nil || !ok {
		return err
	}
	target, err := e.Store.GetEnvironment(ctx, env)
	if err != nil {
		return err
	}
	if target.Protected {
		return nil
	}
	return spacepods.Errorf(spacepods.EFORBIDDEN, "snapshot %s holds the data of protected environment %s (%s's database): it can be cloned only into a protected environment, not into %s; clone a snapshot of an unprotected environment instead (database.snapshot in %s's manifest)", mark.Name, mark.Env, mark.App, env, app.Name)
}
