-- Protected environments: a deploy records the manifest version it was asked
-- for with and the admin who confirmed its changes to what runs.
ALTER TABLE deploys ADD COLUMN manifest_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deploys ADD COLUMN confirmed_by TEXT NOT NULL DEFAULT '';

-- Snapshots taken of a protected environment's database: they hold its
-- data, so they are cloned only into protected environments.
CREATE TABLE protected_snapshots (
    name       TEXT PRIMARY KEY,
    env        TEXT NOT NULL,
    app        TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
