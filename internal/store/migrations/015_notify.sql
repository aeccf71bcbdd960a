-- Notifications: each notice (domain event) is stored with one delivery
-- row per target in one transaction before anything is sent, so a notice
-- recorded before a crash is delivered after the restart.
CREATE TABLE notify_notices (
    id         {{ID}},
    idem_key   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    app        TEXT NOT NULL DEFAULT '',
    env        TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE notify_deliveries (
    id          {{ID}},
    notice_id   BIGINT NOT NULL REFERENCES notify_notices (id) ON DELETE CASCADE,
    target      TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (notice_id, target)
);
CREATE INDEX notify_deliveries_state ON notify_deliveries (state, next_at, id);
CREATE INDEX notify_deliveries_target ON notify_deliveries (target, id);

-- The Slack message of each (subject, channel): later notices of the
-- subject go to its thread, or update it in place.
CREATE TABLE notify_threads (
    subject    TEXT NOT NULL,
    target     TEXT NOT NULL,
    channel    TEXT NOT NULL,
    ts         TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject, target)
);

-- Slack users mapped to Spacepods users and roles (admin-managed).
CREATE TABLE slack_users (
    slack_user TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX slack_users_username ON slack_users (username);
