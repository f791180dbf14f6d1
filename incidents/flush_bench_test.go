package incidents

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// BenchmarkFlushNewGroup measures what a flush of a group that has no
// incident yet costs in the router's transaction: the incident, its
// alerts and its timeline, committed.
func BenchmarkFlushNewGroup(b *testing.B) {
	for _, backend := range storagetest.Backends {
		b.Run(backend+"/alerts=10", func(b *testing.B) {
			benchmarkFlushNewGroup(b, storagetest.Open(b, backend), 10)
		})
	}
}

func benchmarkFlushNewGroup(b *testing.B, db *storage.DB, size int) {
	ctx := context.Background()
	f := newFixture(b, db)
	s, q := f.s, f.q
	alerts := make([]*alert.Alert, size)
	for i := range alerts {
		alerts[i] = alertAt(fmt.Sprintf("host-%03d", i), t0, time.Time{})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		n := &router.Notification{
			GroupID: fmt.Sprintf("g%d", i), GroupKey: fmt.Sprintf(`{}:{alertname="Down",n="%d"}`, i), Receiver: "team",
			GroupLabels: model.LabelSet{"alertname": "Down"}, Alerts: alerts, Reason: router.ReasonFirst, At: t0,
		}
		err := db.InTx(ctx, func(tx *storage.Tx) error {
			_, err := s.Flush(ctx, tx, n)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		q.msgs = q.msgs[:0]
	}
}
