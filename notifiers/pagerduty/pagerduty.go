// Package pagerduty sends notifications to PagerDuty's Events API v2
// through go-pagerduty, configured by an Alertmanager pagerduty_config. The
// dedup_key is Alertmanager's (a hash of the group key), so trigger,
// acknowledge and resolve address one PagerDuty alert, and alerts opened by
// an Alertmanager before the switch to Klaxon are resolved by Klaxon.
package pagerduty

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	gopd "github.com/PagerDuty/go-pagerduty"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify"
	ampd "github.com/prometheus/alertmanager/notify/pagerduty"
	"github.com/prometheus/alertmanager/template"

	"github.com/klaxon-dev/klaxon/notifiers"
)

const (
	// maxSummaryRunes is the Events API v2 limit on payload.summary.
	maxSummaryRunes = 1024
	// enqueuePath is what go-pagerduty appends to its events endpoint.
	enqueuePath = "/v2/enqueue"
	// maxErrorBody bounds how much of a rejecting answer goes into the error.
	maxErrorBody = 1024
)

// Notifier sends events to one PagerDuty service.
type Notifier struct {
	conf     *ampd.PagerdutyConfig
	tmpl     *template.Template
	logger   *slog.Logger
	client   *http.Client
	endpoint string
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New returns a notifier for c. tmpl must have its ExternalURL set.
func New(c *ampd.PagerdutyConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if tmpl == nil || tmpl.ExternalURL == nil {
		return nil, errors.New("pagerduty: template without ExternalURL")
	}
	if c.URL == nil {
		return nil, errors.New("pagerduty: no url (set it or the global pagerduty_url)")
	}
	client, err := notifiers.HTTPClient(c.HTTPConfig, "pagerduty")
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// go-pagerduty takes the API's base URL and appends the path itself.
	endpoint := strings.TrimSuffix(strings.TrimRight(c.URL.String(), "/"), enqueuePath)
	return &Notifier{conf: c, tmpl: tmpl, logger: logger, client: client, endpoint: endpoint}, nil
}

// DedupKey is the dedup_key of a group's events.
func DedupKey(groupKey string) string { return notify.Key(groupKey).Hash() }

// Action is the event_action for m, which mirrors the incident's state:
// resolve once every alert resolved or someone resolved the incident,
// acknowledge while the incident is
// acknowledged, trigger otherwise. Mirroring the state rather than the
// reason keeps an acknowledgement when a newer notification of the group
// replaces the acknowledgement's before it was sent.
func Action(m *notifiers.Message) string {
	firing := slices.ContainsFunc(m.Alerts, func(a *alert.Alert) bool { return !a.ResolvedAt(m.At) })
	switch {
	case !firing || m.Closed != nil:
		return "resolve"
	case m.Ack != nil:
		return "acknowledge"
	default:
		return "trigger"
	}
}

// Notify sends m as one event. Network errors, 408, 429 and 5xx can be
// retried (honouring Retry-After); a rejected event or key cannot.
func (n *Notifier) Notify(ctx context.Context, m *notifiers.Message) (bool, error) {
	ev, err := n.event(m)
	if err != nil {
		return false, err
	}
	if n.conf.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.conf.Timeout)
		defer cancel()
	}
	rec := &recorder{client: n.client}
	pd := gopd.NewClient("", gopd.WithV2EventsAPIEndpoint(n.endpoint))
	pd.HTTPClient = rec
	_, err = pd.ManageEventWithContext(ctx, ev)
	if err == nil {
		return false, nil
	}
	var apiErr gopd.APIError
	if !errors.As(err, &apiErr) {
		// The request did not get an answer; go-pagerduty flattens the
		// cause into text, which names the endpoint but no key.
		return true, fmt.Errorf("post event to PagerDuty: %s", err)
	}
	err = fmt.Errorf("PagerDuty answered %d: %s", apiErr.StatusCode, strings.TrimSpace(string(rec.body)))
	if !apiErr.Temporary() {
		return false, err
	}
	if d := notify.ParseRetryAfter(rec.header, time.Now()); d > 0 {
		return true, notifiers.WithRetryAfter(err, d)
	}
	return true, err
}

// routingKey is the configured key, read from its file at each send so a
// rotated key is picked up without a reload. A service_key (Events API v1)
// is sent as the routing key: v1 is retired, and PagerDuty's integration keys
// work with v2.
func (n *Notifier) routingKey() (string, error) {
	key, file := string(n.conf.RoutingKey), n.conf.RoutingKeyFile
	if key == "" && file == "" {
		key, file = string(n.conf.ServiceKey), n.conf.ServiceKeyFile
	}
	if key != "" {
		return key, nil
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read routing key file: %w", err)
	}
	return strings.TrimSpace(string(content)), nil
}

// recorder keeps what go-pagerduty drops from a refused answer: the
// Retry-After header and the body, whose "errors" say what was invalid.
type recorder struct {
	client *http.Client
	header http.Header
	body   []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("User-Agent", notifiers.UserAgent())
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, notify.RedactURL(err)
	}
	r.header = resp.Header.Clone()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		r.body = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}
