package router

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// benchAlerts returns n alerts as the harness sends them: 6 labels, 1,000
// groups by alertname and group.
func benchAlerts(n, offset int, now time.Time) []*alert.Alert {
	out := make([]*alert.Alert, 0, n)
	for i := range n {
		k := offset + i
		ls := model.LabelSet{
			"alertname": model.LabelValue(fmt.Sprintf("Bench%d", k%10)), "group": model.LabelValue(fmt.Sprintf("g%d", k%1000)),
			"instance": model.LabelValue(fmt.Sprintf("host-%d:9100", k)), "job": "node", "severity": "warning", "env": "prod",
		}
		out = append(out, alert.New(model.Alert{Labels: ls, StartsAt: now, EndsAt: now.Add(4 * time.Minute)}, now, false))
	}
	return out
}

// BenchmarkFingerprint hashes the labels of one 6-label alert, which
// alert.New does once for every decoded alert (Ingest then reads the
// cached value).
func BenchmarkFingerprint(b *testing.B) {
	a := benchAlerts(1, 0, time.Now())[0]
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Labels.Fingerprint()
	}
}

// BenchmarkStoreAlertBatch upserts 100 alerts in one SQLite transaction
// (one op), the synchronous write of an ingest batch, fsync included.
func BenchmarkStoreAlertBatch(b *testing.B) {
	db := storagetest.Open(b, "sqlite")
	ctx := context.Background()
	alerts := benchAlerts(100, 0, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if err := db.InTx(ctx, func(tx *storage.Tx) error { return storeAlerts(ctx, tx, alerts) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreExtensions writes the endsAt extensions of 100 stored
// alerts in one SQLite transaction (one op), as the lazy write of re-sends
// does.
func BenchmarkStoreExtensions(b *testing.B) {
	db := storagetest.Open(b, "sqlite")
	ctx := context.Background()
	now := time.Now()
	alerts := benchAlerts(100, 0, now)
	if err := db.InTx(ctx, func(tx *storage.Tx) error { return storeAlerts(ctx, tx, alerts) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		for i, a := range alerts {
			m := a.Alert
			m.EndsAt = now.Add(4 * time.Minute)
			alerts[i] = alert.New(m, now, false)
		}
		if err := db.InTx(ctx, func(tx *storage.Tx) error { return storeExtensions(ctx, tx, alerts) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngest ingests batches of 100 re-sent alerts into a router on
// SQLite; one op is one Ingest call. "parallel" runs 8 callers per CPU, as
// the harness's clients do, so their calls share commits.
func BenchmarkIngest(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			cfg, err := amconfig.Load(testConfig)
			if err != nil {
				b.Fatal(err)
			}
			db := storagetest.Open(b, "sqlite")
			now := time.Now()
			r := New(Options{DB: db, Clock: clockwork.NewFakeClockAt(now), Sink: &recorder{}, Registerer: prometheus.NewRegistry()})
			ctx := context.Background()
			if err := r.ApplyConfig(ctx, cfg); err != nil {
				b.Fatal(err)
			}
			if err := r.Load(ctx); err != nil {
				b.Fatal(err)
			}
			window := benchAlerts(10000, 0, now)
			if err := r.Ingest(ctx, window); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			batch := func() []*alert.Alert {
				i := int(next.Add(1)) % 100
				return window[i*100 : (i+1)*100]
			}
			b.ReportAllocs()
			if !parallel {
				for b.Loop() {
					if err := r.Ingest(ctx, batch()); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := r.Ingest(ctx, batch()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkLoad restores a router holding 100,000 alerts in 10,000 groups
// from SQLite, what `klaxon serve` does before it answers ready; one op is
// New, ApplyConfig and Load.
func BenchmarkLoad(b *testing.B) {
	cfg, err := amconfig.Load(testConfig)
	if err != nil {
		b.Fatal(err)
	}
	db := storagetest.Open(b, "sqlite")
	ctx := context.Background()
	now := time.Now()
	alerts := benchAlerts(100_000, 0, now)
	for i, a := range alerts {
		// 10,000 groups, as the harness's start-up scenario holds.
		a.Labels["group"] = model.LabelValue(fmt.Sprintf("g%d", i%10_000))
		alerts[i] = alert.New(a.Alert, now, false)
	}
	if err := db.InTx(ctx, func(tx *storage.Tx) error { return storeAlerts(ctx, tx, alerts) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := New(Options{DB: db, Clock: clockwork.NewFakeClockAt(now), Sink: &recorder{}, Registerer: prometheus.NewRegistry()})
		if err := r.ApplyConfig(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		if err := r.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
