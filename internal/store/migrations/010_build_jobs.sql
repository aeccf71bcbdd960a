-- The built-in builder's jobs: durable, so that the queue survives a
-- restart and a job's log is kept. A job records a build only when it
-- succeeds; build_number is then that build (0 otherwise).
CREATE TABLE build_jobs (
    id           {{ID}},
    app          TEXT NOT NULL REFERENCES apps(name),
    ref          TEXT NOT NULL DEFAULT '',
    sha          TEXT NOT NULL DEFAULT '',
    branch       TEXT NOT NULL DEFAULT '',
    author       TEXT NOT NULL DEFAULT '',
    message      TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    image        TEXT NOT NULL DEFAULT '',
    digest       TEXT NOT NULL DEFAULT '',
    build_number INTEGER NOT NULL DEFAULT 0,
    log          TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX build_jobs_app ON build_jobs (app, id);
CREATE INDEX build_jobs_status ON build_jobs (status, id);
-- Who wrote the built commit, and its message (the builder reads them
-- from git; CI may pass them when it records a build).
ALTER TABLE builds ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN message TEXT NOT NULL DEFAULT '';
