-- One row: this installation's ID, put on every runtime object and database
-- it makes, so that installations sharing a Docker host, a cluster or a
-- PostgreSQL server tell their things apart.
CREATE TABLE installation (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
