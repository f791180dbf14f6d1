package notifiers

import (
	"context"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// The status page's delivery counts come straight from the outbox rows,
// on both stores.
func TestDeliveryStats(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		id := 0
		insert := func(receiver, integration string, idx int, status, lastError string, created, sent time.Time) {
			t.Helper()
			id++
			sentAt := int64(0)
			if !sent.IsZero() {
				sentAt = storage.Millis(sent)
			}
			if _, err := db.Exec(ctx, `INSERT INTO outbox (id, group_id, receiver, integration, idx, payload, status,
				next_attempt_at, last_error, created_at, sent_at) VALUES (?, 'g', ?, ?, ?, '{}', ?, 0, ?, ?, ?)`,
				id, receiver, integration, idx, status, lastError, storage.Millis(created), sentAt); err != nil {
				t.Fatal(err)
			}
		}
		old := now.Add(-48 * time.Hour)
		insert("team", "slack", 0, statusSent, "", old, old) // before the window
		insert("team", "slack", 0, statusSent, "", now.Add(-3*time.Hour), now.Add(-3*time.Hour))
		insert("team", "slack", 0, statusSent, "", now.Add(-2*time.Hour), now.Add(-2*time.Hour))
		insert("team", "slack", 0, statusFailed, "slack: invalid_auth", now.Add(-90*time.Minute), time.Time{})
		insert("team", "slack", 0, statusPending, "slack: 503 Service Unavailable", now.Add(-time.Hour), time.Time{})
		insert("team", "email", 1, statusSkipped, "", now.Add(-time.Hour), time.Time{})
		insert("team", "email", 1, statusSending, "", now.Add(-time.Minute), time.Time{})
		insert("db", "webhook", 0, statusSuperseded, "", now.Add(-time.Hour), time.Time{})

		got, err := DeliveryStatsSince(ctx, db, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []DeliveryStats{
			{Receiver: "team", Integration: "email[1]", Pending: 1},
			{Receiver: "team", Integration: "slack[0]", Sent: 2, Failed: 1, Pending: 1, LastSentAt: now.Add(-2 * time.Hour),
				LastError: "slack: 503 Service Unavailable", LastErrorAt: now.Add(-time.Hour)},
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Receiver != w.Receiver || g.Integration != w.Integration || g.Sent != w.Sent || g.Failed != w.Failed ||
				g.Pending != w.Pending || !g.LastSentAt.Equal(w.LastSentAt) || g.LastError != w.LastError || !g.LastErrorAt.Equal(w.LastErrorAt) {
				t.Errorf("stats[%d] = %+v, want %+v", i, g, w)
			}
		}
	})
}
