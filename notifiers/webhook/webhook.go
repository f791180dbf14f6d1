// Package webhook sends notifications as Alertmanager's webhook payload,
// version 4, configured by an Alertmanager webhook_config: receivers
// written for Alertmanager accept Klaxon's posts unchanged.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"

	"github.com/klaxon-dev/klaxon/notifiers"
)

// maxErrorBody bounds how much of a rejecting response's body goes into the
// error, which ends up in logs and the outbox.
const maxErrorBody = 512

// Notifier posts to one webhook.
type Notifier struct {
	conf   *amwebhook.WebhookConfig
	tmpl   *template.Template
	logger *slog.Logger
	client *http.Client
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New returns a notifier for c. tmpl renders templated URLs and custom
// payloads and must have its ExternalURL set.
func New(c *amwebhook.WebhookConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if tmpl == nil || tmpl.ExternalURL == nil {
		return nil, errors.New("webhook: template without ExternalURL")
	}
	client, err := notifiers.HTTPClient(c.HTTPConfig, "webhook")
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{conf: c, tmpl: tmpl, logger: logger, client: client}, nil
}

// Notify posts m. Network errors, 5xx and 429 can be retried (the latter
// two honouring Retry-After); other statuses cannot.
func (n *Notifier) Notify(ctx context.Context, m *notifiers.Message) (bool, error) {
	alerts, truncated := truncateAlerts(n.conf.MaxAlerts, m.Alerts)
	data := notifiers.TemplateData(n.tmpl, m, alerts)
	msg := &amwebhook.Message{Data: data, Version: "4", GroupKey: m.GroupKey, TruncatedAlerts: truncated}
	body, err := n.body(msg)
	if err != nil {
		return false, err
	}
	url, err := n.url(data)
	if err != nil {
		return false, err
	}
	if n.conf.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, n.conf.Timeout,
			fmt.Errorf("configured webhook timeout reached (%s)", n.conf.Timeout))
		defer cancel()
	}
	resp, err := n.post(ctx, url, body)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", err, context.Cause(ctx))
		}
		return true, notify.RedactURL(err)
	}
	defer notify.Drain(resp)
	return check(resp)
}

// truncateAlerts keeps the first limit alerts (0: all) and counts the
// rest, as Alertmanager does.
func truncateAlerts(limit uint64, alerts []*alert.Alert) ([]*alert.Alert, uint64) {
	if limit != 0 && uint64(len(alerts)) > limit {
		return alerts[:limit], uint64(len(alerts)) - limit
	}
	return alerts, 0
}

// body is the JSON payload: the version 4 message, or the configured
// custom payload rendered from the same data.
func (n *Notifier) body(msg *amwebhook.Message) ([]byte, error) {
	var v any = msg
	if n.conf.Payload != nil {
		var tmplErr error
		text := notify.TmplText(n.tmpl, msg.Data, &tmplErr)
		rendered, err := template.DeepCopyWithTemplate(n.conf.Payload, func(s string) (string, error) {
			return text(s), tmplErr
		})
		if err != nil {
			return nil, fmt.Errorf("render custom payload: %w", err)
		}
		v = rendered
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode webhook payload: %w", err)
	}
	return b, nil
}

// url renders the configured URL, reading url_file at each send so that a
// rotated secret is picked up without a reload.
func (n *Notifier) url(data *template.Data) (string, error) {
	raw := string(n.conf.URL)
	if raw == "" {
		content, err := os.ReadFile(n.conf.URLFile)
		if err != nil {
			return "", fmt.Errorf("read url_file: %w", err)
		}
		raw = strings.TrimSpace(string(content))
	}
	url := raw
	// A URL without an action renders as itself; templating it would
	// clone and parse Alertmanager's whole template set on every send.
	if strings.Contains(raw, "{{") {
		var tmplErr error
		url = notify.TmplText(n.tmpl, data, &tmplErr)(raw)
		if tmplErr != nil {
			// The template error quotes the template, which is the secret URL.
			return "", errors.New("template webhook URL: invalid template")
		}
	}
	if url == "" {
		return "", errors.New("webhook URL is empty after templating")
	}
	return url, nil
}

func (n *Notifier) post(ctx context.Context, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The parse error quotes the URL.
		return nil, errors.New("build webhook request: invalid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", notifiers.UserAgent())
	return n.client.Do(req)
}

// check turns the response status into Notify's result.
func check(resp *http.Response) (bool, error) {
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err := fmt.Errorf("unexpected status code %d", resp.StatusCode)
	if b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1)); len(b) > 0 {
		s := strings.TrimSpace(string(b))
		if len(b) > maxErrorBody {
			s = strings.ToValidUTF8(s[:min(len(s), maxErrorBody)], "") + "…"
		}
		err = fmt.Errorf("%w: %s", err, s)
	}
	if resp.StatusCode/100 != 5 && resp.StatusCode != http.StatusTooManyRequests {
		return false, err
	}
	if d := notify.ParseRetryAfter(resp.Header, time.Now()); d > 0 {
		return true, notifiers.WithRetryAfter(err, d)
	}
	return true, err
}
