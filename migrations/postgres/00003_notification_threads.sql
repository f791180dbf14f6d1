-- Where an integration's message for an incident (or, without one, an
-- alert group) lives on the provider's side, e.g. a Slack channel and ts, so
-- that later states of the incident edit that message, after restarts and
-- on any replica. ref is opaque to everyone but the integration.

-- +goose Up
CREATE TABLE notification_threads (
    thread_key  TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    integration TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    ref         TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (thread_key, receiver, integration, idx)
);

-- +goose Down
DROP TABLE notification_threads;
