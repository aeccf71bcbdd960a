-- Idle pods sleep: each pod's sleep settings, and the apps put to sleep
-- (their service containers stopped, databases and config kept). A row of
-- app_sleep holds for the release it names only: a deploy of a new release
-- wakes the app by replacing its containers.
CREATE TABLE pod_sleep (
    env             TEXT PRIMARY KEY,
    idle_timeout_ms BIGINT NOT NULL DEFAULT 0,
    keep_awake      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE app_sleep (
    env     TEXT NOT NULL,
    app     TEXT NOT NULL,
    release INTEGER NOT NULL,
    since   BIGINT NOT NULL,
    reason  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (env, app)
);
