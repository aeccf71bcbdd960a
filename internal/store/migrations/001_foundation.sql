-- Apps: the current manifest and every earlier version.
CREATE TABLE apps (
    name       TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    manifest   TEXT NOT NULL,
    deps       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE app_versions (
    app        TEXT NOT NULL,
    version    INTEGER NOT NULL,
    manifest   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app, version)
);

CREATE TABLE builds (
    app        TEXT NOT NULL REFERENCES apps(name),
    number     INTEGER NOT NULL,
    git_sha    TEXT NOT NULL,
    branch     TEXT NOT NULL,
    pr         INTEGER NOT NULL DEFAULT 0,
    image      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app, number)
);
CREATE INDEX builds_app_branch ON builds (app, branch, number);

CREATE TABLE tokens (
    id         {{ID}},
    name       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used  BIGINT
);

CREATE TABLE audit (
    id      {{ID}},
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    at      BIGINT NOT NULL
);
CREATE INDEX audit_at ON audit (at);

-- One row; bumped on every app change so caches know when they are stale.
CREATE TABLE catalog_generation (
    id         INTEGER PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
