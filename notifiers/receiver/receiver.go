// Package receiver builds a receiver's integrations from its Alertmanager
// configuration. It is the one place that knows every integration
// sub-package; package notifiers cannot import them, since they import it.
package receiver

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/template"

	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/email"
	"github.com/klaxon-dev/klaxon/notifiers/pagerduty"
	"github.com/klaxon-dev/klaxon/notifiers/slack"
	"github.com/klaxon-dev/klaxon/notifiers/webhook"
)

// Build returns rc's integrations, each named by its kind and numbered by
// its position in that kind's list, as Alertmanager names them. Kinds
// Klaxon cannot send yet are left out with a debug log. Build is a
// notifiers.BuildFunc.
func Build(rc *amconfig.Receiver, tmpl *template.Template, logger *slog.Logger) ([]notifiers.Integration, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var out []notifiers.Integration
	for i, c := range rc.WebhookConfigs {
		n, err := webhook.New(c, tmpl, logger.With("integration", "webhook", "index", i))
		if err != nil {
			return nil, fmt.Errorf("webhook_configs[%d]: %w", i, err)
		}
		out = append(out, notifiers.Integration{Name: "webhook", Index: i, SendResolved: c.SendResolved(), Notifier: n})
	}
	for i, c := range rc.EmailConfigs {
		n, err := email.New(c, tmpl, logger.With("integration", "email", "index", i))
		if err != nil {
			return nil, fmt.Errorf("email_configs[%d]: %w", i, err)
		}
		out = append(out, notifiers.Integration{Name: "email", Index: i, SendResolved: c.SendResolved(), Notifier: n})
	}
	for i, c := range rc.PagerdutyConfigs {
		n, err := pagerduty.New(c, tmpl, logger.With("integration", "pagerduty", "index", i))
		if err != nil {
			return nil, fmt.Errorf("pagerduty_configs[%d]: %w", i, err)
		}
		out = append(out, notifiers.Integration{Name: "pagerduty", Index: i, SendResolved: c.SendResolved(), Acks: true, Notifier: n})
	}
	for i, c := range rc.SlackConfigs {
		n, err := slack.New(c, tmpl, logger.With("integration", "slack", "index", i))
		if err != nil {
			return nil, fmt.Errorf("slack_configs[%d]: %w", i, err)
		}
		out = append(out, notifiers.Integration{Name: "slack", Index: i, SendResolved: c.SendResolved(), Acks: n.EditsMessages(), Notifier: n})
	}
	logUnsupported(rc, logger)
	return out, nil
}

// supported are the receiver fields Build handles.
var supported = map[string]bool{"webhook_configs": true, "email_configs": true, "pagerduty_configs": true, "slack_configs": true}

// logUnsupported names the configured integration kinds Build skipped. It
// walks the struct so that kinds added to Alertmanager later are reported
// too.
func logUnsupported(rc *amconfig.Receiver, logger *slog.Logger) {
	v := reflect.ValueOf(rc).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Type.Kind() != reflect.Slice || !strings.HasSuffix(name, "_configs") || supported[name] {
			continue
		}
		if n := v.Field(i).Len(); n > 0 {
			logger.Debug("Integration kind not supported yet; ignored", "kind", name, "count", n)
		}
	}
}
