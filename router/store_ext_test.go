package router

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// TestStoreExtensions checks that writing endsAt extensions moves ends_at
// and updated_at of stored rows forward only: a row holding a newer
// version keeps it, and a missing row stays missing, on both backends.
func TestStoreExtensions(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now := time.UnixMilli(time.Now().UnixMilli())
		at := func(alerts []*alert.Alert, updated time.Time, endsIn time.Duration) []*alert.Alert {
			var out []*alert.Alert
			for _, a := range alerts {
				m := a.Alert
				m.EndsAt = updated.Add(endsIn)
				out = append(out, alert.New(m, updated, a.Timeout))
			}
			return out
		}
		// Alerts 0 and 1 are stored; 1 then gets a newer version (resolved),
		// and 2 is not stored at all.
		base := benchAlerts(3, 0, now)
		newer := at(base[1:2], now.Add(2*time.Second), 0)
		write := func(f func(context.Context, *storage.Tx, []*alert.Alert) error, alerts []*alert.Alert) {
			t.Helper()
			if err := db.InTx(ctx, func(tx *storage.Tx) error { return f(ctx, tx, alerts) }); err != nil {
				t.Fatal(err)
			}
		}
		write(storeAlerts, base[:2])
		write(storeAlerts, newer)
		ext := at(base, now.Add(time.Second), 5*time.Minute)
		write(storeExtensions, ext)

		got, err := loadAlerts(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d alerts stored, want 2", len(got))
		}
		for _, want := range []*alert.Alert{ext[0], newer[0]} {
			g := got[want.Fingerprint()]
			if g == nil {
				t.Fatalf("alert %v missing", want.Labels)
			}
			if !g.EndsAt.Equal(want.EndsAt) || !g.UpdatedAt.Equal(want.UpdatedAt) || !g.StartsAt.Equal(want.StartsAt) ||
				!g.Labels.Equal(want.Labels) || !g.Annotations.Equal(want.Annotations) {
				t.Errorf("stored %+v, want %+v", g.Alert, want.Alert)
			}
		}
	})
}
