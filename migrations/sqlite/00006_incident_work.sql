-- Incident work beyond the lifecycle (package incidents): the assignee,
-- links, used email ack tokens, escalations in progress and postmortems.
-- Times are integer milliseconds since the Unix epoch (0 = unset).

-- +goose Up
ALTER TABLE incidents ADD COLUMN assignee TEXT NOT NULL DEFAULT '';

-- Links added by hand; links from annotations, generatorURL and the
-- configured templates are computed when read, so they follow the config.
CREATE TABLE incident_links (
    id          INTEGER PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX incident_links_incident ON incident_links (incident_id, id);

-- An email ack token is single-use: its id is stored here when used, until
-- the token would have expired anyway.
CREATE TABLE incident_ack_tokens (
    token_id    TEXT PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    used_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- One escalation per incident: the policy snapshotted when it started and
-- where it stands. next_at is when the next step is due (0: stopped), so
-- a restart, or another replica, resumes it.
CREATE TABLE incident_escalations (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    policy      TEXT NOT NULL,
    snapshot    TEXT NOT NULL,
    step        INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL DEFAULT 0,
    ack_due_at  BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX incident_escalations_due ON incident_escalations (next_at);

CREATE TABLE postmortems (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Every version of a postmortem, for history and review.
CREATE TABLE postmortem_versions (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    author      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, version)
);

-- +goose Down
DROP TABLE postmortem_versions;
DROP TABLE postmortems;
DROP TABLE incident_escalations;
DROP TABLE incident_ack_tokens;
DROP TABLE incident_links;
ALTER TABLE incidents DROP COLUMN assignee;
