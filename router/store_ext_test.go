package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

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

// TestLoadAlertsInChunks checks that loading more alerts than one chunk of
// the pipelined reader returns each stored alert as it was written, and
// that an undecodable row fails the load instead of being skipped.
func TestLoadAlertsInChunks(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now := time.UnixMilli(time.Now().UnixMilli()).UTC()
		n := 3*loadChunk + 7
		want := benchAlerts(n, 0, now)
		for i, a := range want {
			m := a.Alert
			m.Annotations = model.LabelSet{"summary": model.LabelValue(fmt.Sprintf("rule %d", i%5))}
			m.GeneratorURL = fmt.Sprintf("http://prom/%d", i%3)
			m.StartsAt = now.Add(-time.Duration(i) * time.Second)
			want[i] = alert.New(m, now.Add(time.Duration(i)*time.Millisecond), i%2 == 0)
		}
		if err := db.InTx(ctx, func(tx *storage.Tx) error { return storeAlerts(ctx, tx, want) }); err != nil {
			t.Fatal(err)
		}
		got, err := loadAlerts(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("loaded %d alerts, want %d", len(got), n)
		}
		for _, w := range want {
			g := got[w.Fingerprint()]
			if g == nil {
				t.Fatalf("alert %v not loaded", w.Labels)
			}
			if !g.Labels.Equal(w.Labels) || !g.Annotations.Equal(w.Annotations) || g.GeneratorURL != w.GeneratorURL ||
				!g.StartsAt.Equal(w.StartsAt) || !g.EndsAt.Equal(w.EndsAt) || !g.UpdatedAt.Equal(w.UpdatedAt) || g.Timeout != w.Timeout {
				t.Fatalf("loaded %+v (updated %v, timeout %v), want %+v (updated %v, timeout %v)",
					g.Alert, g.UpdatedAt, g.Timeout, w.Alert, w.UpdatedAt, w.Timeout)
			}
		}

		if _, err := db.Exec(ctx, `UPDATE alerts SET labels = '{"broken' WHERE fingerprint = ?`, want[n/2].Fingerprint().String()); err != nil {
			t.Fatal(err)
		}
		if _, err := loadAlerts(ctx, db); err == nil {
			t.Fatal("an undecodable row was skipped, want the load to fail")
		}
	})
}

// TestDeleteAlertsKeepsNewerVersions checks the clean-up of resolved
// alerts over more than one statement's worth: a row is deleted only when
// it holds the resolved version or an older one, never when a later
// ingest rewrote it.
func TestDeleteAlertsKeepsNewerVersions(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now := time.UnixMilli(time.Now().UnixMilli())
		stored := benchAlerts(2*storeBatch+50, 0, now)
		if err := db.InTx(ctx, func(tx *storage.Tx) error { return storeAlerts(ctx, tx, stored) }); err != nil {
			t.Fatal(err)
		}
		var gone []*alert.Alert
		want := map[string]bool{} // fingerprint -> still stored
		for i, a := range stored {
			fp := a.Fingerprint().String()
			want[fp] = true
			switch i % 3 {
			case 0: // resolved in the version stored, listed twice
				gone = append(gone, a, a)
				want[fp] = false
			case 1: // resolved in an older version: the row is newer
				gone = append(gone, alert.New(a.Alert, now.Add(-time.Second), false))
			}
		}
		if err := db.InTx(ctx, func(tx *storage.Tx) error { return deleteAlerts(ctx, tx, gone) }); err != nil {
			t.Fatal(err)
		}
		got, err := loadAlerts(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for fp, keep := range want {
			f, _ := model.FingerprintFromString(fp)
			if _, ok := got[f]; ok != keep {
				t.Errorf("alert %s stored: %v, want %v", fp, ok, keep)
			}
		}
	})
}
