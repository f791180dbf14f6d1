-- Silences, as Alertmanager keeps them: expired ones stay until their
-- retention ends so that the API can still show them.

-- +goose Up
CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    comment    TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE silences;
