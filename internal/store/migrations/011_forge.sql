-- Webhook deliveries from the code forge: stored before the forge gets its
-- answer, processed by a background worker (a crash loses nothing), unique
-- by the forge's delivery ID (a replay is a no-op).
CREATE TABLE forge_deliveries (
    id          {{ID}},
    delivery_id TEXT NOT NULL UNIQUE,
    event       TEXT NOT NULL,
    action      TEXT NOT NULL DEFAULT '',
    repo        TEXT NOT NULL DEFAULT '',
    pr          INTEGER NOT NULL DEFAULT 0,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    result      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    retry_at    BIGINT NOT NULL DEFAULT 0,
    received_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX forge_deliveries_state ON forge_deliveries (state, id);
CREATE INDEX forge_deliveries_finished ON forge_deliveries (finished_at);

-- The head commit of each pull request as of the last event acted on, so
-- that a late event for an older head does nothing.
CREATE TABLE forge_pr_heads (
    repo       TEXT NOT NULL,
    number     INTEGER NOT NULL,
    head_sha   TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo, number)
);
