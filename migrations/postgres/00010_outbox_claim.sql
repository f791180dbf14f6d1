-- The outbox claim (notifiers/worker.go) walks the live rows in id order
-- and stops at its limit (outbox_live), and sends a group's notifications
-- to an integration one at a time, in order: a row qualifies only if no
-- earlier live row of the same (group, receiver, integration, idx) exists,
-- which outbox_order answers with one look-up. Without them each claim
-- sorted every waiting row and scanned them again per row, a cost in the
-- square of the rows waiting when a thousand groups are notified at once.

-- +goose Up
CREATE INDEX outbox_live ON outbox (id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_order ON outbox (group_id, receiver, integration, idx, id);

-- +goose Down
DROP INDEX outbox_order;
DROP INDEX outbox_live;
