-- Times are integer milliseconds since the Unix epoch (0 = unset) so that
-- both dialects store and compare them the same way.

-- +goose Up
CREATE TABLE alerts (
    fingerprint   TEXT PRIMARY KEY,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    starts_at     BIGINT NOT NULL,
    ends_at       BIGINT NOT NULL,
    generator_url TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL,
    timeout       BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE alert_groups (
    id            TEXT PRIMARY KEY,
    route_id      TEXT NOT NULL,
    group_key     TEXT NOT NULL,
    receiver      TEXT NOT NULL,
    labels        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    next_flush_at BIGINT NOT NULL,
    flushed       BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE nflog (
    group_id   TEXT NOT NULL,
    receiver   TEXT NOT NULL,
    firing     TEXT NOT NULL,
    resolved   TEXT NOT NULL,
    sent_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, receiver)
);

CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY,
    group_id     TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    receiver     TEXT NOT NULL,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL,
    severity     TEXT NOT NULL DEFAULT '',
    labels       TEXT NOT NULL,
    opened_at    BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    acked_at     BIGINT NOT NULL DEFAULT 0,
    acked_by     TEXT NOT NULL DEFAULT '',
    acked_via    TEXT NOT NULL DEFAULT '',
    resolved_at  BIGINT NOT NULL DEFAULT 0,
    resolved_by  TEXT NOT NULL DEFAULT '',
    resolved_via TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incidents_group ON incidents (group_id, status);
CREATE INDEX incidents_status ON incidents (status, id);

CREATE TABLE incident_alerts (
    incident_id   BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    fingerprint   TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    status        TEXT NOT NULL,
    starts_at     BIGINT NOT NULL,
    ends_at       BIGINT NOT NULL,
    generator_url TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (incident_id, fingerprint)
);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    via         TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    incident_id     BIGINT NOT NULL DEFAULT 0,
    group_id        TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    integration     TEXT NOT NULL,
    idx             INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- +goose Down
DROP TABLE outbox;
DROP TABLE incident_events;
DROP TABLE incident_alerts;
DROP TABLE incidents;
DROP TABLE nflog;
DROP TABLE alert_groups;
DROP TABLE alerts;
