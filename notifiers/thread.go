package notifiers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/jonboulle/clockwork"

	"github.com/klaxon-dev/klaxon/storage"
)

// Thread is the durable memory of one integration's message for one
// incident: Slack keeps the channel and ts of the message it posted there,
// so that the next state of the incident edits that message, after a
// restart or on another replica, instead of posting a new one.
type Thread interface {
	// Load returns the saved reference, or "" if nothing was posted yet.
	Load(ctx context.Context) (string, error)
	// Save replaces the saved reference.
	Save(ctx context.Context, ref string) error
}

// dbThread is a Thread in the notification_threads table, keyed by the
// incident (or the group, for notifications without an incident) and the
// integration.
type dbThread struct {
	db          *storage.DB
	clock       clockwork.Clock
	key         string
	receiver    string
	integration string
	idx         int
}

// threadFor returns the thread of r's incident, or of its group if it has
// no incident: one Slack message per incident, so a group that fires again
// after its incident resolved gets a new message with the new incident.
func (o *Outbox) threadFor(r row) Thread {
	key := "group:" + r.groupID
	if r.incidentID != 0 {
		key = "incident:" + strconv.FormatInt(r.incidentID, 10)
	}
	return &dbThread{db: o.db, clock: o.clock, key: key, receiver: r.receiver, integration: r.integration, idx: r.idx}
}

func (t *dbThread) Load(ctx context.Context) (string, error) {
	var ref string
	err := t.db.QueryRow(ctx, `SELECT ref FROM notification_threads
		WHERE thread_key = ? AND receiver = ? AND integration = ? AND idx = ?`,
		t.key, t.receiver, t.integration, t.idx).Scan(&ref)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load notification thread: %w", err)
	}
	return ref, nil
}

func (t *dbThread) Save(ctx context.Context, ref string) error {
	_, err := t.db.Exec(ctx, `INSERT INTO notification_threads (thread_key, receiver, integration, idx, ref, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (thread_key, receiver, integration, idx) DO UPDATE SET ref = excluded.ref, updated_at = excluded.updated_at`,
		t.key, t.receiver, t.integration, t.idx, ref, storage.Millis(t.clock.Now()))
	if err != nil {
		return fmt.Errorf("save notification thread: %w", err)
	}
	return nil
}
