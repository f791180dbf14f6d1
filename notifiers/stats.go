package notifiers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// DeliveryStats is the recent delivery record of one integration of a
// receiver, read from the outbox.
type DeliveryStats struct {
	Receiver string `json:"receiver"`
	// Integration is the integration's kind and position in the
	// receiver, e.g. "webhook[0]", as in klaxon_notifications_total.
	Integration string `json:"integration"`
	// Sent, Failed and Pending count the notifications queued since the
	// window's start: delivered, given up, and still waiting or retrying.
	// Skipped ones (nothing to send) and superseded ones are left out.
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
	// LastSentAt is the last successful delivery in the window.
	LastSentAt time.Time `json:"lastSentAt,omitzero"`
	// LastError is the error of the latest notification that had one,
	// queued at LastErrorAt; the error text carries no URL or secret.
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// Stats reports, per receiver and integration, what happened to the
// notifications queued since since. It only reads, and sees the rows of
// every replica sharing the database.
func (o *Outbox) Stats(ctx context.Context, since time.Time) ([]DeliveryStats, error) {
	return DeliveryStatsSince(ctx, o.db, since)
}

// DeliveryStatsSince is Stats on a database.
func DeliveryStatsSince(ctx context.Context, db *storage.DB, since time.Time) ([]DeliveryStats, error) {
	type key struct {
		receiver, integration string
		idx                   int
	}
	byKey := map[key]*DeliveryStats{}
	get := func(k key) *DeliveryStats {
		s, ok := byKey[k]
		if !ok {
			s = &DeliveryStats{Receiver: k.receiver, Integration: fmt.Sprintf("%s[%d]", k.integration, k.idx)}
			byKey[k] = s
		}
		return s
	}
	from := storage.Millis(since)
	rows, err := db.Query(ctx, `SELECT receiver, integration, idx, status, COUNT(*), MAX(sent_at) FROM outbox
		WHERE created_at >= ? AND status IN (?, ?, ?, ?)
		GROUP BY receiver, integration, idx, status`,
		from, statusSent, statusFailed, statusPending, statusSending)
	if err != nil {
		return nil, fmt.Errorf("read delivery counts: %w", err)
	}
	for rows.Next() {
		var k key
		var status string
		var n int
		var lastSent int64
		if err := rows.Scan(&k.receiver, &k.integration, &k.idx, &status, &n, &lastSent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read delivery counts: %w", err)
		}
		s := get(k)
		switch status {
		case statusSent:
			s.Sent += n
			if lastSent > 0 {
				s.LastSentAt = storage.Time(lastSent)
			}
		case statusFailed:
			s.Failed += n
		default:
			s.Pending += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read delivery counts: %w", err)
	}

	// The latest error of each integration: the row with the highest id
	// among those that have one.
	rows, err = db.Query(ctx, `SELECT o.receiver, o.integration, o.idx, o.last_error, o.created_at FROM outbox o
		JOIN (SELECT MAX(id) AS id FROM outbox WHERE created_at >= ? AND last_error <> ''
			GROUP BY receiver, integration, idx) m ON o.id = m.id`, from)
	if err != nil {
		return nil, fmt.Errorf("read delivery errors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		var msg string
		var at int64
		if err := rows.Scan(&k.receiver, &k.integration, &k.idx, &msg, &at); err != nil {
			return nil, fmt.Errorf("read delivery errors: %w", err)
		}
		s := get(k)
		s.LastError, s.LastErrorAt = msg, storage.Time(at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read delivery errors: %w", err)
	}

	out := make([]DeliveryStats, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b DeliveryStats) int {
		if c := cmp.Compare(a.Receiver, b.Receiver); c != 0 {
			return c
		}
		return cmp.Compare(a.Integration, b.Integration)
	})
	return out, nil
}
