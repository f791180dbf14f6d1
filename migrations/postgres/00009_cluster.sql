-- Replicas sharing one database (package cluster): each replica's
-- heartbeat, and the hash slots over which alert groups are spread, each
-- leased to the replica that flushes its groups. Times are integer
-- milliseconds since the Unix epoch (0 = unset), from the database's clock
-- so that replicas with skewed clocks agree on who is alive.

-- +goose Up
CREATE TABLE cluster_replicas (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    address      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- owner is '' for a free slot; a slot whose expires_at passed is free to
-- take as well.
CREATE TABLE cluster_slots (
    slot       INTEGER PRIMARY KEY,
    owner      TEXT NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL DEFAULT 0
);

-- At most one open incident per alert group, whatever replica flushes it:
-- earlier duplicates, if any, are resolved first.
UPDATE incidents SET status = 'resolved'
WHERE status <> 'resolved'
  AND id NOT IN (SELECT MAX(id) FROM incidents WHERE status <> 'resolved' GROUP BY group_id);
CREATE UNIQUE INDEX incidents_one_open_per_group ON incidents (group_id) WHERE status <> 'resolved';

-- +goose Down
DROP INDEX incidents_one_open_per_group;
DROP TABLE cluster_slots;
DROP TABLE cluster_replicas;
