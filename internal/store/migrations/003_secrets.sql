-- Secrets of the `local` secret store: AES-256-GCM envelopes, never plaintext.
-- wrapped_key is the per-secret data key sealed by the master key named by
-- key_id; sealed is the value sealed by the data key.
-- BYTEA is PostgreSQL's byte string; SQLite accepts the type name and keeps
-- the bytes unchanged as a BLOB, so one migration serves both dialects.
CREATE TABLE secrets (
    ref         TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    sealed      BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL
);
