package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fake receiver: a real HTTP server that records what Klaxon sends it.

// notification is one webhook POST Klaxon made, as received.
type notification struct {
	At   time.Time // when it arrived
	Path string
	Raw  []byte
	payload
}

// payload is Alertmanager's webhook payload, version 4.
type payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []payloadAlert    `json:"alerts"`
}

type payloadAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

var (
	payloadKeys = []string{"version", "groupKey", "truncatedAlerts", "status", "receiver",
		"groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"}
	payloadAlertKeys = []string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
)

// zeroTime is how the payload spells an unset endsAt.
const zeroTime = "0001-01-01T00:00:00Z"

// webhook records every POST it receives and answers 200.
type webhook struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got []notification
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{t: t}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) URL() string { return w.srv.URL }

func (w *webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	n := notification{At: time.Now(), Path: r.URL.Path, Raw: body}
	if r.Method != http.MethodPost {
		w.t.Errorf("webhook: got %s %s, want POST", r.Method, r.URL.Path)
	}
	if err := json.Unmarshal(body, &n.payload); err != nil {
		w.t.Errorf("webhook: payload is not a version 4 message: %v\n%s", err, body)
	}
	w.mu.Lock()
	w.got = append(w.got, n)
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// all returns the notifications received so far, oldest first.
func (w *webhook) all() []notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

func (w *webhook) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

// waitCount waits until at least n notifications arrived and returns all.
func (w *webhook) waitCount(t *testing.T, n int) []notification {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d notification(s)", n), func() bool { return w.count() >= n })
	return w.all()
}

// quietFor watches the receiver for d and fails as soon as it holds more
// than want notifications; it expects exactly want at the end.
func (w *webhook) quietFor(t *testing.T, d time.Duration, want int) {
	t.Helper()
	w.quietUntil(t, time.Now().Add(d), want)
}

// quietUntil is quietFor up to a deadline.
func (w *webhook) quietUntil(t *testing.T, deadline time.Time, want int) {
	t.Helper()
	for {
		if got := w.count(); got > want {
			t.Fatalf("got %d notifications, want %d:\n%s", got, want, w.describe())
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)+time.Millisecond))
	}
	if got := w.count(); got != want {
		t.Fatalf("got %d notifications, want %d:\n%s", got, want, w.describe())
	}
}

// describe lists the notifications for failure messages.
func (w *webhook) describe() string {
	var b strings.Builder
	all := w.all()
	for i, n := range all {
		var names []string
		for _, a := range n.Alerts {
			names = append(names, a.Status+" "+fmt.Sprint(a.Labels))
		}
		fmt.Fprintf(&b, "  #%d at %s (+%v): %s %v\n", i+1, n.At.Format("15:04:05.000"),
			n.At.Sub(all[0].At).Round(time.Millisecond), n.Status, names)
	}
	return b.String()
}

// checkPayload checks a notification against the webhook payload version
// 4 and expects it to carry exactly the given alerts, in this order, all in
// the given status.
func checkPayload(t *testing.T, n notification, status string, want ...alert) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(n.Raw, &top); err != nil {
		t.Fatalf("notification is not a JSON object: %v\n%s", err, n.Raw)
	}
	for _, key := range payloadKeys {
		if _, ok := top[key]; !ok {
			t.Errorf("notification lacks %q:\n%s", key, n.Raw)
		}
	}
	var raws struct {
		Alerts []map[string]json.RawMessage `json:"alerts"`
	}
	_ = json.Unmarshal(n.Raw, &raws)
	for i, a := range raws.Alerts {
		for _, key := range payloadAlertKeys {
			if _, ok := a[key]; !ok {
				t.Errorf("notification alerts[%d] lacks %q:\n%s", i, key, n.Raw)
			}
		}
	}
	if n.Path != "/hook" {
		t.Errorf("notification went to path %q, want /hook", n.Path)
	}
	if n.Version != "4" || n.GroupKey == "" || n.Receiver != "hook" || n.Status != status || n.TruncatedAlerts != 0 {
		t.Errorf("notification: version %q, groupKey %q, receiver %q, status %q, truncatedAlerts %d; "+
			"want version \"4\", a groupKey, receiver \"hook\", status %q, truncatedAlerts 0",
			n.Version, n.GroupKey, n.Receiver, n.Status, n.TruncatedAlerts, status)
	}
	if len(want) > 0 && n.GroupLabels["alertname"] != want[0].Labels["alertname"] {
		t.Errorf("notification groupLabels = %v, want alertname=%s", n.GroupLabels, want[0].Labels["alertname"])
	}
	if len(n.Alerts) != len(want) {
		t.Fatalf("notification has %d alerts, want %d:\n%s", len(n.Alerts), len(want), n.Raw)
	}
	for i, a := range n.Alerts {
		if !equalLabels(a.Labels, want[i].Labels) {
			t.Errorf("notification alerts[%d].labels = %v, want %v", i, a.Labels, want[i].Labels)
		}
		if a.Status != status {
			t.Errorf("notification alerts[%d].status = %q, want %q", i, a.Status, status)
		}
		if a.Fingerprint == "" {
			t.Errorf("notification alerts[%d] has no fingerprint", i)
		}
		if _, err := time.Parse(time.RFC3339Nano, a.StartsAt); err != nil {
			t.Errorf("notification alerts[%d].startsAt = %q: %v", i, a.StartsAt, err)
		}
		switch status {
		case "firing":
			if a.EndsAt != zeroTime {
				t.Errorf("firing alert alerts[%d].endsAt = %q, want %q", i, a.EndsAt, zeroTime)
			}
		case "resolved":
			ends, err := time.Parse(time.RFC3339Nano, a.EndsAt)
			if err != nil || ends.IsZero() || ends.After(n.At) {
				t.Errorf("resolved alert alerts[%d].endsAt = %q, want a time before the notification", i, a.EndsAt)
			}
		}
	}
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
