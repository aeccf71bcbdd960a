package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/examples/internal/appkit"
)

// migration is one numbered schema change. Each statement is written so it
// also succeeds when db/seed.sql created the table first.
type migration struct {
	version int
	name    string
	sql     string
}

var migrations = []migration{
	{1, "create_products", `CREATE TABLE IF NOT EXISTS products (
		sku         text PRIMARY KEY,
		name        text NOT NULL,
		description text NOT NULL DEFAULT '',
		created_at  timestamptz NOT NULL DEFAULT now())`},
	{2, "add_products_category", `ALTER TABLE products ADD COLUMN IF NOT EXISTS category text NOT NULL DEFAULT 'general'`},
	{3, "create_catalog_stats", `CREATE TABLE IF NOT EXISTS catalog_stats (
		key        text PRIMARY KEY,
		value      bigint NOT NULL,
		updated_at timestamptz NOT NULL DEFAULT now())`},
}

// broken is the extra migration of a badmigrate build: it refers to a table
// that does not exist, so PostgreSQL rejects it and the transaction rolls back.
var broken = migration{4, "add_products_supplier", `ALTER TABLE products ADD COLUMN supplier_id bigint NOT NULL REFERENCES suppliers(id)`}

// migrateLockKey serializes concurrent migrate runs against one database.
const migrateLockKey = 7_420_017

// migrate brings the schema up to date and exits 0; run it any number of
// times. A badmigrate build applies the good migrations, then fails on a
// broken one and exits 3.
func migrate(app *appkit.App) {
	dbURL := app.Require(map[string]string{"DATABASE_URL": "the catalog's PostgreSQL database"})["DATABASE_URL"]
	if _, err := pgx.ParseConfig(dbURL); err != nil {
		app.Fatalf(2, "DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:5432/db): %v", err)
	}
	ctx, stop := appkit.SignalContext()
	defer stop()
	start := time.Now()
	conn, err := connectRetry(ctx, dbURL, 20*time.Second)
	if err != nil {
		app.Fatalf(1, "migrate: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }() // best-effort cleanup; nothing useful to do on failure
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		app.Fatalf(1, "migrate: take the migration lock: %v", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		app.Fatalf(1, "migrate: create schema_migrations: %v", err)
	}
	todo := migrations
	if app.Mode == appkit.ModeBadMigrate {
		todo = append(append([]migration{}, migrations...), broken)
	}
	applied := 0
	for _, m := range todo {
		done, err := apply(ctx, conn, m)
		if err != nil {
			code := 1
			if app.Mode == appkit.ModeBadMigrate && m.version == broken.version {
				code = 3
			}
			app.Fatalf(code, "migration %d (%s) failed and was rolled back: %v", m.version, m.name, err)
		}
		if done {
			applied++
			app.Log.Info("migration applied", "version", m.version, "name", m.name)
		}
	}
	var version int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		app.Fatalf(1, "migrate: read schema version: %v", err)
	}
	app.Log.Info("schema up to date", "version", version, "applied", applied,
		"duration_ms", time.Since(start).Milliseconds())
	stop()
	_ = conn.Close(context.Background()) // best-effort cleanup; nothing useful to do on failure
	os.Exit(0)
}

// apply runs one migration in a transaction unless it is recorded already.
func apply(ctx context.Context, conn *pgx.Conn, m migration) (bool, error) {
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // best-effort cleanup; nothing useful to do on failure
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// worker is the auxiliary `jobs` process: every WORKER_INTERVAL (default 5s)
// it counts the products, stores the count in catalog_stats (served by
// GET /stats) and logs it.
func worker(app *appkit.App) {
	dbURL := app.Require(map[string]string{"DATABASE_URL": "the catalog's PostgreSQL database"})["DATABASE_URL"]
	every := app.Duration("WORKER_INTERVAL", 5*time.Second)
	db, err := newPool(dbURL, 1)
	if err != nil {
		app.Fatalf(2, "%v", err)
	}
	defer db.close()
	ctx, stop := appkit.SignalContext()
	defer stop()
	app.Log.Info("worker started", "interval", every.String(), "mode", app.ModeName(),
		"env", os.Getenv("SPACEPODS_ENV"), "build", os.Getenv("SPACEPODS_BUILD"))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var count int64
		err := db.with(rctx, func(c *pgx.Conn) error {
			if err := c.QueryRow(rctx, `SELECT count(*) FROM products`).Scan(&count); err != nil {
				return err
			}
			_, err := c.Exec(rctx, `INSERT INTO catalog_stats (key, value, updated_at) VALUES ('product_count', $1, now())
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`, count)
			return err
		})
		cancel()
		if err != nil && ctx.Err() == nil {
			app.Log.Warn("refresh product count failed, will retry", "error", err.Error())
		} else if err == nil {
			app.Log.Info("refreshed product count", "count", count)
		}
		select {
		case <-ctx.Done():
			app.Log.Info("signal received, worker stopped")
			return
		case <-t.C:
		}
	}
}

func init() {
	// Keep the version list honest: numbered from 1 without gaps.
	for i, m := range migrations {
		if m.version != i+1 {
			panic(fmt.Sprintf("migration %d is numbered %d", i+1, m.version))
		}
	}
}
