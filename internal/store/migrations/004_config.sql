-- Custom env vars of apps, per scope (all, pods, env:<name>). Secret values
-- are not here: secret_ref names them in the secret store.
CREATE TABLE config_vars (
    app        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL DEFAULT '',
    secret     INTEGER NOT NULL DEFAULT 0,
    secret_ref TEXT NOT NULL DEFAULT '',
    override   INTEGER NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app, scope, key)
);
