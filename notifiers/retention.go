package notifiers

import (
	"context"
	"fmt"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// DefaultRetention is how long finished outbox rows and provider message
// references are kept, Alertmanager's --data.retention default.
const DefaultRetention = 120 * time.Hour

// pruneInterval is how often a replica deletes what outlived the retention.
// Deleting is idempotent, so replicas pruning at the same time only repeat
// each other's work.
const pruneInterval = 10 * time.Minute

// Prune deletes outbox rows that reached a final status (sent, skipped,
// failed, superseded) before now minus the retention, and the provider
// message references (e.g. a Slack message's channel and ts) not touched
// for as long. Live rows are never deleted, however old: a notification
// that is still being retried is kept until it is delivered or given up.
// Without pruning, both tables grow by every notification ever sent.
func (o *Outbox) Prune(ctx context.Context, now time.Time) (rows, threads int64, err error) {
	cutoff := storage.Millis(now.Add(-o.retention))
	res, err := o.db.Exec(ctx, `DELETE FROM outbox WHERE status IN (?, ?, ?, ?) AND created_at < ?`,
		statusSent, statusSkipped, statusFailed, statusSuperseded, cutoff)
	if err != nil {
		return 0, 0, fmt.Errorf("pruning the outbox: %w", err)
	}
	rows, _ = res.RowsAffected()
	// A reference whose incident still has notifications in flight stays,
	// so that their sends edit the existing message instead of posting a
	// new one.
	res, err = o.db.Exec(ctx, `DELETE FROM notification_threads WHERE updated_at < ?
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.status IN (?, ?)
			AND o.receiver = notification_threads.receiver AND o.integration = notification_threads.integration
			AND o.idx = notification_threads.idx)`,
		cutoff, statusPending, statusSending)
	if err != nil {
		return rows, 0, fmt.Errorf("pruning notification threads: %w", err)
	}
	threads, _ = res.RowsAffected()
	return rows, threads, nil
}

// pruneLoop runs Prune every pruneInterval until ctx is done.
func (o *Outbox) pruneLoop(ctx context.Context) {
	ticker := o.clock.NewTicker(pruneInterval)
	defer ticker.Stop()
	for {
		rows, threads, err := o.Prune(ctx, o.clock.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			o.logger.Warn("Pruning delivered notifications failed; retrying later", "err", err)
		case rows+threads > 0:
			o.logger.Debug("Pruned delivered notifications", "outbox_rows", rows, "message_refs", threads)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.Chan():
		}
	}
}
