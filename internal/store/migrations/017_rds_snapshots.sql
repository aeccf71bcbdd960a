-- Snapshots that live outside the PostgreSQL server of pod databases: a
-- master's RDS instance snapshotted with CreateDBSnapshot (kind 'rds'). A
-- snapshot name with no row here is a PostgreSQL snapshot (a template
-- database on that server), as before. The row is written before the
-- snapshot is taken (status 'creating'), so that a crash midway leaves a
-- trace that `snapshot list` shows.
CREATE TABLE external_snapshots (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    env        TEXT NOT NULL,
    app        TEXT NOT NULL,
    source     TEXT NOT NULL,
    ref        TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
