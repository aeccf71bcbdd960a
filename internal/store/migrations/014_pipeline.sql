-- Pipeline runs: one build moving through an app's pipeline of master
-- environments. The stages (their policy, as copied when the run started,
-- and what happened at each: deploy, test runs, approval) are JSON; the
-- run's status and current stage are columns for the worker's queries.
CREATE TABLE pipeline_runs (
    id         {{ID}},
    app        TEXT NOT NULL,
    build      INTEGER NOT NULL,
    git_sha    TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    stage      INTEGER NOT NULL DEFAULT 0,
    stages     TEXT NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    cause      TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX pipeline_runs_app ON pipeline_runs (app, id);
CREATE INDEX pipeline_runs_status ON pipeline_runs (status);
-- A build starts one run by itself, however many servers see it.
CREATE UNIQUE INDEX pipeline_runs_build ON pipeline_runs (app, build) WHERE cause = 'build';

-- Approval decisions, apart from the run so that a decision and the
-- worker's progress never overwrite each other; one per gate.
CREATE TABLE pipeline_decisions (
    run        BIGINT NOT NULL,
    stage      INTEGER NOT NULL,
    approved   INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, stage)
);
