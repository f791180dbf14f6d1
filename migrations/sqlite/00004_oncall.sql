-- On-call objects created through the API (package incidents/oncall).
-- Users, schedules and escalation policies are stored as the JSON of their
-- API representation, validated by the Go code before it is written; the
-- columns beside it are what queries select on. Objects from the
-- configuration file are never stored here. Times are integer milliseconds.

-- +goose Up
CREATE TABLE oncall_users (
    name       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE oncall_schedules (
    name       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE oncall_policies (
    name       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Overrides apply to schedules from either source, so schedule is a name,
-- not a foreign key.
CREATE TABLE oncall_overrides (
    id          INTEGER PRIMARY KEY,
    schedule    TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    add_user    TEXT NOT NULL DEFAULT '',
    remove_user TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX oncall_overrides_schedule ON oncall_overrides (schedule, end_at);

-- +goose Down
DROP TABLE oncall_overrides;
DROP TABLE oncall_policies;
DROP TABLE oncall_schedules;
DROP TABLE oncall_users;
