-- Environments: pods and master environments.
CREATE TABLE environments (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    owner      TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    protected  INTEGER NOT NULL DEFAULT 0,
    apps       TEXT NOT NULL DEFAULT '[]',
    builds     TEXT NOT NULL DEFAULT '{}',
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX environments_expires ON environments (expires_at);

-- The apps of an environment (a pod's closure, or what a master runs).
CREATE TABLE env_apps (
    env        TEXT NOT NULL REFERENCES environments(name) ON DELETE CASCADE,
    app        TEXT NOT NULL,
    build      INTEGER NOT NULL DEFAULT 0,
    release    INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env, app)
);

-- Progress lines of environments and deploys.
CREATE TABLE events (
    id      {{ID}},
    env     TEXT NOT NULL,
    app     TEXT NOT NULL DEFAULT '',
    deploy  BIGINT NOT NULL DEFAULT 0,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX events_env ON events (env, id);
CREATE INDEX events_deploy ON events (deploy, id);

-- Releases (task definitions): immutable, numbered per (env, app).
CREATE TABLE releases (
    env        TEXT NOT NULL,
    app        TEXT NOT NULL,
    number     INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (env, app, number)
);

-- Deploys: durable runs of the deploy script.
CREATE TABLE deploys (
    id           {{ID}},
    env          TEXT NOT NULL,
    app          TEXT NOT NULL,
    build        INTEGER NOT NULL,
    release      INTEGER NOT NULL DEFAULT 0,
    from_release INTEGER NOT NULL DEFAULT 0,
    rollback     INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL,
    step         TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    output       TEXT NOT NULL DEFAULT '',
    steps        TEXT NOT NULL DEFAULT '[]',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    ended_at     BIGINT
);
CREATE INDEX deploys_env_app ON deploys (env, app, id);
CREATE INDEX deploys_status ON deploys (status);
