-- Builds recorded from registry push notifications keep the manifest
-- digest the tag pointed at.
ALTER TABLE builds ADD COLUMN digest TEXT NOT NULL DEFAULT '';

-- Every tag push a registry notified: the build it recorded, or why none
-- was (never silently dropped). The registry's event ID makes a retried
-- delivery a no-op.
CREATE TABLE registry_events (
    id          TEXT PRIMARY KEY,
    repository  TEXT NOT NULL,
    tag         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    status      TEXT NOT NULL,
    app         TEXT NOT NULL DEFAULT '',
    build       INTEGER NOT NULL DEFAULT 0,
    reason      TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL
);
CREATE INDEX registry_events_received ON registry_events (received_at);
