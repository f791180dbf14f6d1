package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/common/model"
)

var (
	testNow            = time.Date(2024, 5, 14, 9, 15, 0, 0, time.UTC)
	testResolveTimeout = 5 * time.Minute
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type wantAlert struct {
	labels       model.LabelSet
	annotations  model.LabelSet
	startsAt     time.Time
	endsAt       time.Time
	generatorURL string
	timeout      bool
}

func checkAlerts(t *testing.T, got []*alert.Alert, want []wantAlert) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d alerts, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if !g.Labels.Equal(w.labels) {
			t.Errorf("alert %d: labels = %v, want %v", i, g.Labels, w.labels)
		}
		if w.annotations == nil {
			w.annotations = model.LabelSet{}
		}
		if !g.Annotations.Equal(w.annotations) {
			t.Errorf("alert %d: annotations = %v, want %v", i, g.Annotations, w.annotations)
		}
		if !g.StartsAt.Equal(w.startsAt) {
			t.Errorf("alert %d: StartsAt = %v, want %v", i, g.StartsAt, w.startsAt)
		}
		if !g.EndsAt.Equal(w.endsAt) {
			t.Errorf("alert %d: EndsAt = %v, want %v", i, g.EndsAt, w.endsAt)
		}
		if g.GeneratorURL != w.generatorURL {
			t.Errorf("alert %d: GeneratorURL = %q, want %q", i, g.GeneratorURL, w.generatorURL)
		}
		if g.Timeout != w.timeout {
			t.Errorf("alert %d: Timeout = %v, want %v", i, g.Timeout, w.timeout)
		}
		if !g.UpdatedAt.Equal(testNow) {
			t.Errorf("alert %d: UpdatedAt = %v, want %v", i, g.UpdatedAt, testNow)
		}
		if g.Fingerprint() != w.labels.Fingerprint() {
			t.Errorf("alert %d: Fingerprint = %v, want %v", i, g.Fingerprint(), w.labels.Fingerprint())
		}
	}
}

// checkError asserts that err is exactly an *Error with the given status
// whose message contains every substring in want.
func checkError(t *testing.T, got []*alert.Alert, err error, status int, want ...string) {
	t.Helper()
	if got != nil {
		t.Errorf("got %d alerts alongside an error, want nil", len(got))
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %#v (%T), want *Error", err, err)
	}
	if e.Status != status {
		t.Errorf("Status = %d, want %d (msg %q)", e.Status, status, e.Msg)
	}
	for _, w := range want {
		if !strings.Contains(e.Msg, w) {
			t.Errorf("message %q does not contain %q", e.Msg, w)
		}
	}
}

const prometheusGeneratorURL = "http://prometheus-0.monitoring:9090/graph?g0.expr="

func TestDecodeAPIv2(t *testing.T) {
	nodeInstanceDown := model.LabelSet{"alertname": "InstanceDown", "instance": "node-3:9100", "job": "node", "severity": "warning"}
	tests := []struct {
		name string
		body []byte
		want []wantAlert
	}{
		{
			name: "batch as sent by Prometheus",
			body: readTestdata(t, "apiv2_prometheus.json"),
			want: []wantAlert{
				{
					labels: model.LabelSet{"alertname": "HighErrorRate", "instance": "api-1:8080", "job": "api", "severity": "critical"},
					annotations: model.LabelSet{
						"description": "5.2% of requests to api-1:8080 failed over the last 5 minutes.",
						"runbook_url": "https://runbooks.example.org/api/high-error-rate",
						"summary":     "High HTTP 5xx error rate on api-1:8080",
					},
					startsAt:     ts(t, "2024-05-14T09:02:45.51284127Z"),
					endsAt:       ts(t, "2024-05-14T09:19:45.51284127Z"),
					generatorURL: prometheusGeneratorURL + "sum+by+%28job%2C+instance%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1",
				},
				{
					labels:       model.LabelSet{"alertname": "DiskWillFillIn4Hours", "device": "/dev/nvme1n1", "instance": "db-2:9100", "job": "node", "mountpoint": "/var/lib/postgresql", "severity": "warning"},
					annotations:  model.LabelSet{"summary": "Filesystem /var/lib/postgresql on db-2 will fill up within 4 hours"},
					startsAt:     ts(t, "2024-05-14T08:41:15.51284127Z"),
					endsAt:       ts(t, "2024-05-14T09:19:45.51284127Z"),
					generatorURL: prometheusGeneratorURL + "predict_linear%28node_filesystem_avail_bytes%5B6h%5D%2C+4+%2A+3600%29+%3C+0&g0.tab=1",
				},
				{
					labels:       nodeInstanceDown,
					annotations:  model.LabelSet{"summary": "node-3:9100 has been unreachable for more than 5 minutes"},
					startsAt:     ts(t, "2024-05-14T07:58:15.51284127Z"),
					endsAt:       ts(t, "2024-05-14T09:14:45.51284127Z"),
					generatorURL: prometheusGeneratorURL + "up+%3D%3D+0&g0.tab=1",
				},
			},
		},
		{
			name: "missing timestamps get Alertmanager's defaults",
			body: readTestdata(t, "apiv2_minimal.json"),
			want: []wantAlert{
				{
					// No times at all: starts now, times out; the empty
					// "team" label is dropped as Alertmanager does.
					labels:      model.LabelSet{"alertname": "ManualTest", "severity": "info"},
					annotations: model.LabelSet{"summary": "sent by hand with curl"},
					startsAt:    testNow,
					endsAt:      testNow.Add(testResolveTimeout),
					timeout:     true,
				},
				{
					// Only endsAt: starts when it ended, no timeout.
					labels:   model.LabelSet{"alertname": "BackupFailed", "job": "backup"},
					startsAt: ts(t, "2024-05-14T09:00:00Z"),
					endsAt:   ts(t, "2024-05-14T09:00:00Z"),
				},
				{
					// Only startsAt: keeps it, times out.
					labels:       model.LabelSet{"alertname": "CertificateExpiresSoon", "domain": "example.org"},
					startsAt:     ts(t, "2024-05-14T06:00:00Z"),
					endsAt:       testNow.Add(testResolveTimeout),
					generatorURL: "https://cert-checker.example.org/domains/example.org",
					timeout:      true,
				},
			},
		},
		{
			name: "empty array",
			body: []byte("[]\n"),
			want: nil,
		},
		{
			// Alertmanager's JSON consumer turns null into an empty batch.
			name: "null body",
			body: []byte("null"),
			want: nil,
		},
		{
			// strfmt.DateTime accepts a bare date and reads it as UTC.
			name: "date-only startsAt",
			body: []byte(`[{"labels":{"alertname":"A"},"startsAt":"2024-05-14","endsAt":"2024-05-14T10:00:00Z"}]`),
			want: []wantAlert{{
				labels:   model.LabelSet{"alertname": "A"},
				startsAt: ts(t, "2024-05-14T00:00:00Z"),
				endsAt:   ts(t, "2024-05-14T10:00:00Z"),
			}},
		},
		{
			// strfmt.DateTime parses "" as the Unix epoch, not as absent,
			// so Alertmanager stores such an alert as resolved in 1970.
			name: "empty endsAt string is the Unix epoch",
			body: []byte(`[{"labels":{"alertname":"A"},"endsAt":""}]`),
			want: []wantAlert{{
				labels:   model.LabelSet{"alertname": "A"},
				startsAt: time.Unix(0, 0),
				endsAt:   time.Unix(0, 0),
			}},
		},
		{
			name: "null timestamps and unknown fields are ignored",
			body: []byte(`[{"labels":{"alertname":"A"},"startsAt":null,"endsAt":null,"status":"firing"}]`),
			want: []wantAlert{{
				labels:   model.LabelSet{"alertname": "A"},
				startsAt: testNow,
				endsAt:   testNow.Add(testResolveTimeout),
				timeout:  true,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAPIv2(bytes.NewReader(tt.body), testNow, testResolveTimeout)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			checkAlerts(t, got, tt.want)
		})
	}
}

func TestDecodeAPIv2Errors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   []string
	}{
		{name: "empty body", body: "", status: 400, want: []string{"empty body"}},
		{name: "whitespace only", body: " \r\n\t", status: 400, want: []string{"empty body"}},
		{
			name:   "truncated",
			body:   `[{"labels":{"alertname":"A"}`,
			status: 400,
			want:   []string{"invalid JSON at byte offset 28 (line 1, column 29): unexpected end of JSON input"},
		},
		{
			name:   "syntax error on a later line",
			body:   "[\n  {\"labels\": {\"alertname\" \"A\"}}\n]",
			status: 400,
			want:   []string{"invalid JSON at byte offset 28 (line 2, column 27): invalid character '\"' after object key"},
		},
		{
			name:   "trailing garbage",
			body:   `[{"labels":{"alertname":"A"}}] []`,
			status: 400,
			want:   []string{"byte offset 31 (line 1, column 32): invalid character '[' after top-level value"},
		},
		{
			name:   "object instead of array",
			body:   `{"labels":{"alertname":"A"}}`,
			status: 400,
			want:   []string{"expected a JSON array of alerts, got object"},
		},
		{
			name:   "labels as array",
			body:   `[{"labels":["alertname","A"]}]`,
			status: 400,
			want:   []string{"alert[0].labels: expected object, got array"},
		},
		{
			name:   "label value as number",
			body:   `[{"labels":{"alertname":"A"}},{"labels":{"alertname":"B","severity":3}}]`,
			status: 400,
			want:   []string{"alert[1].labels.severity: expected string, got number"},
		},
		{
			name:   "annotation value as boolean",
			body:   `[{"labels":{"alertname":"A"},"annotations":{"paged":true}}]`,
			status: 400,
			want:   []string{"alert[0].annotations.paged: expected string, got boolean"},
		},
		{
			name:   "startsAt not a date",
			body:   `[{"labels":{"alertname":"A"},"startsAt":"yesterday"}]`,
			status: 400,
			want:   []string{`alert[0].startsAt: invalid date-time "yesterday"`},
		},
		{
			name:   "endsAt as unix timestamp",
			body:   `[{"labels":{"alertname":"A"},"endsAt":1715677200}]`,
			status: 400,
			want:   []string{"alert[0].endsAt: expected string, got number"},
		},
		{
			name:   "several type errors in one alert",
			body:   `[{"labels":{"alertname":"A"},"startsAt":"soon","generatorURL":42}]`,
			status: 400,
			want:   []string{`alert[0].startsAt: invalid date-time "soon"`, "alert[0].generatorURL: expected string, got number"},
		},
		{
			name:   "element is not an object",
			body:   `[{"labels":{"alertname":"A"}}, "B", null]`,
			status: 400,
			want:   []string{"alert[1]: expected object, got string", "alert[2]: expected object, got null"},
		},
		{
			name:   "labels missing",
			body:   `[{"annotations":{"summary":"no labels"}}]`,
			status: 400,
			want:   []string{"alert[0]: labels in body is required"},
		},
		{
			name:   "generatorURL not a URI",
			body:   `[{"labels":{"alertname":"A"},"generatorURL":"not a url"}]`,
			status: 400,
			want:   []string{`alert[0]: generatorURL in body must be of type uri: "not a url"`},
		},
		{
			name:   "invalid label name",
			body:   `[{"labels":{"alertname":"A"}},{"labels":{"alertname":"B"}},{"labels":{"alertname":"C","1abc":"x"}}]`,
			status: 400,
			want:   []string{`alert[2]: invalid label set: invalid name "1abc"`},
		},
		{
			name:   "empty annotation name",
			body:   `[{"labels":{"alertname":"A"},"annotations":{"":"x"}}]`,
			status: 400,
			want:   []string{`alert[0]: invalid annotations: invalid name ""`},
		},
		{
			name:   "empty label set",
			body:   `[{"labels":{}}]`,
			status: 400,
			want:   []string{"alert[0]: at least one label pair required"},
		},
		{
			name:   "only empty label values",
			body:   `[{"labels":{"alertname":""}}]`,
			status: 400,
			want:   []string{"alert[0]: at least one label pair required"},
		},
		{
			name:   "endsAt before startsAt",
			body:   `[{"labels":{"alertname":"A"}},{"labels":{"alertname":"B"},"startsAt":"2024-05-14T09:10:00Z","endsAt":"2024-05-14T09:05:00Z"}]`,
			status: 400,
			want:   []string{"alert[1]: start time must be before end time"},
		},
		{
			// endsAt defaults to now+resolveTimeout, which is before a
			// startsAt further in the future.
			name:   "startsAt beyond the resolve timeout",
			body:   `[{"labels":{"alertname":"A"},"startsAt":"2024-05-14T10:00:00Z"}]`,
			status: 400,
			want:   []string{"alert[0]: start time must be before end time"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAPIv2(strings.NewReader(tt.body), testNow, testResolveTimeout)
			checkError(t, got, err, tt.status, tt.want...)
		})
	}
}

func TestDecodeAlertmanagerWebhook(t *testing.T) {
	apiLabels := func(instance string) model.LabelSet {
		return model.LabelSet{"alertname": "HighErrorRate", "instance": model.LabelValue(instance), "job": "api", "severity": "critical"}
	}
	generatorURL := prometheusGeneratorURL + "sum+by+%28job%2C+instance%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1"
	tests := []struct {
		name string
		body []byte
		want []wantAlert
	}{
		{
			name: "notification from Alertmanager",
			body: readTestdata(t, "webhook_v4.json"),
			want: []wantAlert{
				{
					// Firing: endsAt 0001-01-01 in the payload, so it
					// times out unless the sender keeps notifying.
					labels: apiLabels("api-1:8080"),
					annotations: model.LabelSet{
						"description": "5.2% of requests to api-1:8080 failed over the last 5 minutes.",
						"runbook_url": "https://runbooks.example.org/api/high-error-rate",
						"summary":     "High HTTP 5xx error rate on api-1:8080",
					},
					startsAt:     ts(t, "2024-05-14T09:02:45.51284127Z"),
					endsAt:       testNow.Add(testResolveTimeout),
					generatorURL: generatorURL,
					timeout:      true,
				},
				{
					// Resolved: keeps its endsAt.
					labels: apiLabels("api-2:8080"),
					annotations: model.LabelSet{
						"description": "1.1% of requests to api-2:8080 failed over the last 5 minutes.",
						"runbook_url": "https://runbooks.example.org/api/high-error-rate",
						"summary":     "High HTTP 5xx error rate on api-2:8080",
					},
					startsAt:     ts(t, "2024-05-14T08:47:45.51284127Z"),
					endsAt:       ts(t, "2024-05-14T09:07:45.51284127Z"),
					generatorURL: generatorURL,
				},
			},
		},
		{
			name: "firing with past endsAt still fires; missing times default to now",
			body: []byte(`{"version":"4","status":"firing","alerts":[
				{"status":"firing","labels":{"alertname":"A"},"startsAt":"2024-05-14T09:00:00Z","endsAt":"2024-05-14T09:01:00Z"},
				{"status":"firing","labels":{"alertname":"B","empty":""}},
				{"status":"resolved","labels":{"alertname":"C"}},
				{"status":"resolved","labels":{"alertname":"D"},"startsAt":"2024-05-14T09:00:00+02:00","endsAt":"2024-05-14T09:12:00+02:00"}
			]}`),
			want: []wantAlert{
				{labels: model.LabelSet{"alertname": "A"}, startsAt: ts(t, "2024-05-14T09:00:00Z"), endsAt: testNow.Add(testResolveTimeout), timeout: true},
				{labels: model.LabelSet{"alertname": "B"}, startsAt: testNow, endsAt: testNow.Add(testResolveTimeout), timeout: true},
				{labels: model.LabelSet{"alertname": "C"}, startsAt: testNow, endsAt: testNow},
				{labels: model.LabelSet{"alertname": "D"}, startsAt: ts(t, "2024-05-14T07:00:00Z"), endsAt: ts(t, "2024-05-14T07:12:00Z")},
			},
		},
		{
			name: "no alerts",
			body: []byte(`{"version":"4","receiver":"r","status":"resolved","alerts":[]}`),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAlertmanagerWebhook(bytes.NewReader(tt.body), testNow, testResolveTimeout)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			checkAlerts(t, got, tt.want)
		})
	}
}

func TestDecodeAlertmanagerWebhookErrors(t *testing.T) {
	firing := func(labels string) string {
		return `{"status":"firing","labels":` + labels + `,"startsAt":"2024-05-14T09:00:00Z","endsAt":"0001-01-01T00:00:00Z"}`
	}
	withAlerts := func(alerts ...string) string {
		return `{"version":"4","receiver":"r","status":"firing","alerts":[` + strings.Join(alerts, ",") + `]}`
	}
	tests := []struct {
		name   string
		body   string
		status int
		want   []string
	}{
		{name: "empty body", body: "", status: 400, want: []string{"empty body"}},
		{
			name:   "Grafana payload, version 1",
			body:   string(readTestdata(t, "grafana_webhook_v1.json")),
			status: 400,
			want:   []string{`version: unsupported webhook payload version "1", want "4"`},
		},
		{
			name:   "unknown version with malformed alerts reports only the version",
			body:   `{"version":"5","alerts":{"x":1}}`,
			status: 400,
			want:   []string{`version: unsupported webhook payload version "5", want "4"`},
		},
		{name: "missing version", body: `{"alerts":[]}`, status: 400, want: []string{`version: missing, want "4"`}},
		{name: "version as number", body: `{"version":4,"alerts":[]}`, status: 400, want: []string{"version: expected string, got number"}},
		{name: "negative truncatedAlerts", body: `{"version":"4","alerts":[],"truncatedAlerts":-1}`, status: 400, want: []string{"truncatedAlerts: number -1 out of range for uint64"}},
		{name: "array instead of object", body: `[]`, status: 400, want: []string{"expected a JSON object, got array"}},
		{
			name:   "truncated",
			body:   `{"version":"4","alerts":[`,
			status: 400,
			want:   []string{"invalid JSON at byte offset 25 (line 1, column 26): unexpected end of JSON input"},
		},
		{name: "trailing garbage", body: withAlerts() + "}", status: 400, want: []string{"invalid character '}' after top-level value"}},
		{
			name:   "label value as number",
			body:   withAlerts(firing(`{"alertname":"A"}`), firing(`{"alertname":"B"}`), firing(`{"alertname":"C"}`), firing(`{"alertname":"D","severity":2}`)),
			status: 400,
			want:   []string{"alerts[3].labels.severity: expected string, got number"},
		},
		{name: "labels as array", body: withAlerts(firing(`["alertname","A"]`)), status: 400, want: []string{"alerts[0].labels: expected object, got array"}},
		{
			name:   "startsAt not a date",
			body:   withAlerts(`{"status":"firing","labels":{"alertname":"A"},"startsAt":"2024-05-14 09:00"}`),
			status: 400,
			want:   []string{`alerts[0].startsAt: invalid date-time "2024-05-14 09:00"`},
		},
		{
			name:   "alerts not an array",
			body:   `{"version":"4","alerts":{"status":"firing"}}`,
			status: 400,
			want:   []string{"alerts: expected array, got object"},
		},
		{name: "group labels malformed", body: `{"version":"4","alerts":[],"groupLabels":{"alertname":null,"job":["api"]}}`, status: 400, want: []string{"groupLabels.job: expected string, got array"}},
		{
			name:   "unknown status",
			body:   withAlerts(firing(`{"alertname":"A"}`), `{"status":"pending","labels":{"alertname":"B"}}`),
			status: 400,
			want:   []string{`alerts[1].status: unsupported value "pending", want "firing" or "resolved"`},
		},
		{name: "missing status", body: withAlerts(`{"labels":{"alertname":"A"}}`), status: 400, want: []string{`alerts[0].status: missing`}},
		{name: "invalid label name", body: withAlerts(firing(`{"alertname":"A","1abc":"x"}`)), status: 400, want: []string{`alerts[0]: invalid label set: invalid name "1abc"`}},
		{name: "empty label set", body: withAlerts(firing(`{}`)), status: 400, want: []string{"alerts[0]: at least one label pair required"}},
		{
			name:   "resolved endsAt before startsAt",
			body:   withAlerts(`{"status":"resolved","labels":{"alertname":"A"},"startsAt":"2024-05-14T09:00:00Z","endsAt":"2024-05-14T08:00:00Z"}`),
			status: 400,
			want:   []string{"alerts[0]: start time must be before end time"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAlertmanagerWebhook(strings.NewReader(tt.body), testNow, testResolveTimeout)
			checkError(t, got, err, tt.status, tt.want...)
		})
	}
}

// An alert forwarded by another Alertmanager must be the same alert as the
// one Prometheus posted, or silences and inhibitions would not line up.
func TestSameFingerprintFromBothFormats(t *testing.T) {
	v2, err := DecodeAPIv2(bytes.NewReader(readTestdata(t, "apiv2_prometheus.json")), testNow, testResolveTimeout)
	if err != nil {
		t.Fatal(err)
	}
	hook, err := DecodeAlertmanagerWebhook(bytes.NewReader(readTestdata(t, "webhook_v4.json")), testNow, testResolveTimeout)
	if err != nil {
		t.Fatal(err)
	}
	// Both files carry HighErrorRate on api-1:8080 first. The expected
	// value is the one Alertmanager printed in the webhook payload.
	const want = "bd70a65464fae094"
	if got := v2[0].Fingerprint().String(); got != want {
		t.Errorf("API v2 fingerprint = %s, want %s", got, want)
	}
	if got := hook[0].Fingerprint().String(); got != want {
		t.Errorf("webhook fingerprint = %s, want %s", got, want)
	}

	// Labels that differ only in an empty value are one alert in both
	// formats.
	v2, err = DecodeAPIv2(strings.NewReader(`[{"labels":{"alertname":"A","team":""}}]`), testNow, testResolveTimeout)
	if err != nil {
		t.Fatal(err)
	}
	hook, err = DecodeAlertmanagerWebhook(strings.NewReader(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`), testNow, testResolveTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if v2[0].Fingerprint() != hook[0].Fingerprint() {
		t.Errorf("fingerprints differ: API v2 %s, webhook %s", v2[0].Fingerprint(), hook[0].Fingerprint())
	}
}

// setMatcherMode switches the process-wide label name validation used by
// alert.Validate and restores the default (classic) mode afterwards.
func setMatcherMode(t *testing.T, features string) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	flags, err := featurecontrol.NewFlags(logger, features)
	if err != nil {
		t.Fatal(err)
	}
	compat.InitFromFlags(logger, flags)
	t.Cleanup(func() {
		classic, err := featurecontrol.NewFlags(logger, featurecontrol.FeatureClassicMode)
		if err != nil {
			t.Fatal(err)
		}
		compat.InitFromFlags(logger, classic)
	})
}

func TestUTF8LabelNames(t *testing.T) {
	utf8Body := readTestdata(t, "apiv2_utf8_labels.json")
	utf8Webhook := `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"HighLatency","service.name":"checkout"}}]}`
	tests := []struct {
		name     string
		features string // Alertmanager's --enable-feature value
		accept   bool
	}{
		// Alertmanager's default, once main has called InitFromFlags.
		{name: "no feature flags", features: "", accept: true},
		{name: "utf8-strict-mode", features: featurecontrol.FeatureUTF8StrictMode, accept: true},
		{name: "classic-mode", features: featurecontrol.FeatureClassicMode, accept: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setMatcherMode(t, tt.features)

			// The decoder must agree with alert.Validate in every mode.
			probe := model.Alert{Labels: model.LabelSet{"service.name": "checkout"}, StartsAt: testNow}
			if accepted := alert.Validate(&probe) == nil; accepted != tt.accept {
				t.Fatalf("alert.Validate accepted=%v, test expects %v", accepted, tt.accept)
			}

			got, err := DecodeAPIv2(bytes.NewReader(utf8Body), testNow, testResolveTimeout)
			hook, hookErr := DecodeAlertmanagerWebhook(strings.NewReader(utf8Webhook), testNow, testResolveTimeout)
			if !tt.accept {
				checkError(t, got, err, 400, "alert[0]: invalid label set: invalid name")
				checkError(t, hook, hookErr, 400, `alerts[0]: invalid label set: invalid name "service.name"`)
				return
			}
			if err != nil {
				t.Fatalf("API v2: %v", err)
			}
			if hookErr != nil {
				t.Fatalf("webhook: %v", hookErr)
			}
			checkAlerts(t, got, []wantAlert{{
				labels:      model.LabelSet{"alertname": "HighLatency", "service.name": "checkout", "http.route": "/api/v1/cart", "région": "eu-west-3"},
				annotations: model.LabelSet{"summary": "p99 latency above 2s"},
				startsAt:    ts(t, "2024-05-14T09:10:00Z"),
				endsAt:      testNow.Add(testResolveTimeout),
				timeout:     true,
			}})
			if len(hook) != 1 || hook[0].Labels["service.name"] != "checkout" {
				t.Errorf("webhook alerts = %v", hook)
			}
		})
	}
	// Empty names are invalid in every mode.
	t.Run("empty name", func(t *testing.T) {
		setMatcherMode(t, "")
		got, err := DecodeAPIv2(strings.NewReader(`[{"labels":{"alertname":"A","":"x"}}]`), testNow, testResolveTimeout)
		checkError(t, got, err, 400, `alert[0]: invalid label set: invalid name ""`)
	})
}

func TestBodyTooLarge(t *testing.T) {
	const limit = 1024
	var big bytes.Buffer
	big.WriteString(`{"version":"4","alerts":[`)
	for i := range 1000 {
		if i > 0 {
			big.WriteByte(',')
		}
		fmt.Fprintf(&big, `{"status":"firing","labels":{"alertname":"A","i":"%d"}}`, i)
	}
	big.WriteString(`]}`)
	decoders := map[string]func(io.Reader, time.Time, time.Duration) ([]*alert.Alert, error){
		"api v2":  DecodeAPIv2,
		"webhook": DecodeAlertmanagerWebhook,
	}
	for name, decode := range decoders {
		t.Run(name, func(t *testing.T) {
			body := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(big.Bytes())), limit)
			got, err := decode(body, testNow, testResolveTimeout)
			checkError(t, got, err, http.StatusRequestEntityTooLarge, "request body exceeds 1024 bytes")
		})
	}
	t.Run("other read error", func(t *testing.T) {
		got, err := DecodeAPIv2(iotest.ErrReader(errors.New("connection reset by peer")), testNow, testResolveTimeout)
		checkError(t, got, err, 400, "reading request body: connection reset by peer")
	})
}

func TestManyErrors(t *testing.T) {
	t.Run("every invalid alert is listed, valid ones are not returned", func(t *testing.T) {
		body := `[{"labels":{"alertname":"ok"}},{"labels":{}},{"labels":{"alertname":"ok2"}},{"labels":{"alertname":"x","0":"y"}},{"labels":{"alertname":7}}]`
		got, err := DecodeAPIv2(strings.NewReader(body), testNow, testResolveTimeout)
		checkError(t, got, err, 400)
		const want = `alert[1]: at least one label pair required; alert[3]: invalid label set: invalid name "0"; alert[4].labels.alertname: expected string, got number`
		if err.Error() != want {
			t.Errorf("message = %q\nwant      %q", err.Error(), want)
		}
	})
	t.Run("capped at ten", func(t *testing.T) {
		alerts := make([]string, 13)
		for i := range alerts {
			alerts[i] = `{"labels":{}}`
		}
		got, err := DecodeAPIv2(strings.NewReader("["+strings.Join(alerts, ",")+"]"), testNow, testResolveTimeout)
		checkError(t, got, err, 400, "alert[0]: at least one label pair required; alert[1]: ", "alert[9]: at least one label pair required; and 3 more")
		if strings.Contains(err.Error(), "alert[10]") {
			t.Errorf("message lists more than ten problems: %q", err.Error())
		}
	})
}
