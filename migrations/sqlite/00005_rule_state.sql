-- Alert state of the rule evaluator, so that a firing alert is still
-- firing after a restart. Alert times are integer nanoseconds (0 = unset):
-- Prometheus's evaluation slots are not whole milliseconds, and the state
-- machine compares them exactly. last_eval_at is in milliseconds.

-- +goose Up
CREATE TABLE rule_alerts (
    group_key         TEXT NOT NULL,
    rule_key          TEXT NOT NULL,
    labels_hash       TEXT NOT NULL,
    labels            TEXT NOT NULL,
    annotations       TEXT NOT NULL,
    state             INTEGER NOT NULL,
    value             TEXT NOT NULL,
    active_at         BIGINT NOT NULL,
    fired_at          BIGINT NOT NULL DEFAULT 0,
    resolved_at       BIGINT NOT NULL DEFAULT 0,
    last_sent_at      BIGINT NOT NULL DEFAULT 0,
    valid_until       BIGINT NOT NULL DEFAULT 0,
    keep_firing_since BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (group_key, rule_key, labels_hash)
);

-- One row: the evaluator's heartbeat (when it last evaluated, to tell a
-- restart from an outage longer than rules.outage_tolerance) and the
-- lease that makes one replica of several evaluate the rules.
CREATE TABLE rule_evaluator (
    id           INTEGER PRIMARY KEY,
    last_eval_at BIGINT NOT NULL,
    owner        TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE rule_evaluator;
DROP TABLE rule_alerts;
