package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
)

// BenchmarkDecodeAPIv2 decodes a POST /api/v2/alerts body of 100 alerts as
// the benchmark harness sends them (6 labels, one annotation, startsAt and
// endsAt); one op is one body.
func BenchmarkDecodeAPIv2(b *testing.B) {
	benchmarkDecode(b, func(body []byte, now time.Time) ([]*alert.Alert, error) {
		return DecodeAPIv2(bytes.NewReader(body), now, 5*time.Minute)
	})
}

// BenchmarkDecodeAPIv2Reference decodes the same body through the
// reference path alone (OpenAPI models and their validation), which
// DecodeAPIv2 falls back to for the bodies its fast path declines.
func BenchmarkDecodeAPIv2Reference(b *testing.B) {
	benchmarkDecode(b, func(body []byte, now time.Time) ([]*alert.Alert, error) {
		return decodeAPIv2Reference(body, now, 5*time.Minute)
	})
}

func benchmarkDecode(b *testing.B, decode func([]byte, time.Time) ([]*alert.Alert, error)) {
	now := time.Now().UTC()
	var alerts []map[string]any
	for i := range 100 {
		alerts = append(alerts, map[string]any{
			"labels": map[string]string{
				"alertname": fmt.Sprintf("Bench%d", i%10), "group": fmt.Sprintf("g%d", i), "instance": fmt.Sprintf("host-%d:9100", i),
				"job": "node", "severity": "warning", "env": "prod",
			},
			"annotations":  map[string]string{"summary": "bench alert"},
			"startsAt":     now.Format(time.RFC3339Nano),
			"endsAt":       now.Add(4 * time.Minute).Format(time.RFC3339Nano),
			"generatorURL": "http://prometheus:9090/graph",
		})
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := decode(body, now)
		if err != nil || len(got) != 100 {
			b.Fatalf("decoded %d alerts, err %v", len(got), err)
		}
	}
}
