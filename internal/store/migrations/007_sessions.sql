-- Browser sessions: their own revocable records, not the API token in a
-- cookie. Only the SHA-256 of the random session ID is stored. A session
-- works while it is neither expired nor revoked and its token still exists.
CREATE TABLE sessions (
    id         {{ID}},
    hash       TEXT NOT NULL UNIQUE,
    token_id   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_token ON sessions (token_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
