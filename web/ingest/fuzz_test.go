package ingest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
)

// addSeeds seeds f with every payload in testdata plus edge cases that the
// files do not cover; both fuzzers get all of them, since a body meant for
// one endpoint is exactly what a confused client sends to the other.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seed files in testdata")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `[null]`, `[{}]`, `"x"`, `[1,]`, `[] []`,
		`[{"labels":{"a":"b"},"endsAt":""}]`,
		`[{"labels":{"a":1},"startsAt":"x","generatorURL":"::"}]`,
		`[{"labels":{"a":"b"},"Labels":{"b":2},"labels":{"c":"d"}}]`,
		`{"version":"4","alerts":[null,{"status":"resolved","labels":{"a":""}}]}`,
		`{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"9999-12-31T23:59:59Z"}]}`,
		`{"version":"4","Alerts":{"a":[]},"version":"3"}`,
	} {
		f.Add([]byte(s))
	}
}

var fuzzNow = time.Date(2024, 5, 14, 9, 15, 0, 0, time.UTC)

func checkDecodeProperties(t *testing.T, alerts []*alert.Alert, err error) {
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("error %v is %T, want *Error", err, err)
		}
		if e.Status != 400 && e.Status != 413 {
			t.Fatalf("Status = %d, want 400 or 413: %s", e.Status, e.Msg)
		}
		if e.Msg == "" {
			t.Fatal("empty error message")
		}
		if alerts != nil {
			t.Fatalf("%d alerts returned with an error", len(alerts))
		}
		return
	}
	for i, a := range alerts {
		if a == nil {
			t.Fatalf("alert %d is nil", i)
		}
		if len(a.Labels) == 0 {
			t.Fatalf("alert %d has no labels", i)
		}
		if verr := alert.Validate(&a.Alert); verr != nil {
			t.Fatalf("alert %d fails alert.Validate: %v", i, verr)
		}
		if a.Fingerprint() != a.Labels.Fingerprint() {
			t.Fatalf("alert %d: stale fingerprint", i)
		}
		if !a.UpdatedAt.Equal(fuzzNow) || a.EndsAt.IsZero() {
			t.Fatalf("alert %d: UpdatedAt %v, EndsAt %v", i, a.UpdatedAt, a.EndsAt)
		}
	}
}

func fuzzDecoder(f *testing.F, decode func(io.Reader, time.Time, time.Duration) ([]*alert.Alert, error)) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := decode(bytes.NewReader(body), fuzzNow, 5*time.Minute)
		checkDecodeProperties(t, alerts, err)
	})
}

func FuzzDecodeAPIv2(f *testing.F) {
	fuzzDecoder(f, DecodeAPIv2)
}

func FuzzDecodeAlertmanagerWebhook(f *testing.F) {
	fuzzDecoder(f, DecodeAlertmanagerWebhook)
}
