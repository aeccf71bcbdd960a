-- Gatekeeper test runs: one run of an app's test suite (manifest tests:)
-- against an environment. The whole output is kept (its last MiB) apart
-- from the tail that lists show.
CREATE TABLE test_runs (
    id         {{ID}},
    env        TEXT NOT NULL,
    app        TEXT NOT NULL,
    build      INTEGER NOT NULL DEFAULT 0,
    git_sha    TEXT NOT NULL DEFAULT '',
    image      TEXT NOT NULL,
    status     TEXT NOT NULL,
    exit_code  INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    log_tail   TEXT NOT NULL DEFAULT '',
    log        TEXT NOT NULL DEFAULT '',
    cause      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX test_runs_env ON test_runs (env, id);
CREATE INDEX test_runs_status ON test_runs (status);

-- CI pods of pull requests: the pull request a pod was made for (its page
-- links back), and fork pods, which get no secrets.
ALTER TABLE environments ADD COLUMN pr_url TEXT NOT NULL DEFAULT '';
ALTER TABLE environments ADD COLUMN no_secrets INTEGER NOT NULL DEFAULT 0;

-- What the previews package knows of each pull request's pod between
-- webhook events: the head it was made for (older heads are ignored) and
-- the one comment it edits.
CREATE TABLE pr_pods (
    repo       TEXT NOT NULL,
    number     INTEGER NOT NULL,
    app        TEXT NOT NULL,
    env        TEXT NOT NULL,
    head_sha   TEXT NOT NULL DEFAULT '',
    build      INTEGER NOT NULL DEFAULT 0,
    fork       INTEGER NOT NULL DEFAULT 0,
    on_demand  INTEGER NOT NULL DEFAULT 0,
    web_url    TEXT NOT NULL DEFAULT '',
    comment_id BIGINT NOT NULL DEFAULT 0,
    state      TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo, number, app)
);
CREATE INDEX pr_pods_env ON pr_pods (env);
