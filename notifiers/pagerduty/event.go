package pagerduty

import (
	"errors"
	"fmt"
	"strings"

	gopd "github.com/PagerDuty/go-pagerduty"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/template"

	"github.com/klaxon-dev/klaxon/notifiers"
)

// event renders m into an Events API v2 event with the configuration's
// templates, as Alertmanager's PagerDuty integration does.
func (n *Notifier) event(m *notifiers.Message) (*gopd.V2Event, error) {
	data := notifiers.TemplateData(n.tmpl, m, m.Alerts)
	var tmplErr error
	tmpl := notify.TmplText(n.tmpl, data, &tmplErr)
	key, err := n.routingKey()
	if err != nil {
		return nil, err
	}
	// The key may be templated; an error must not quote it.
	if key = tmpl(key); key == "" || tmplErr != nil {
		return nil, errors.New("routing key is empty or its template failed")
	}
	ev := &gopd.V2Event{
		RoutingKey: key, Action: Action(m), DedupKey: DedupKey(m.GroupKey),
		Client: tmpl(n.conf.Client), ClientURL: tmpl(n.conf.ClientURL),
	}
	summary, truncated := notify.TruncateInRunes(tmpl(n.conf.Description), maxSummaryRunes)
	if truncated {
		n.logger.Debug("Truncated PagerDuty summary", "max_runes", maxSummaryRunes)
	}
	details, err := template.DeepCopyWithTemplate(n.conf.Details, func(s string) (string, error) {
		return tmpl(s), tmplErr
	})
	if err != nil {
		return nil, fmt.Errorf("render details: %w", err)
	}
	ev.Payload = &gopd.V2Payload{
		Summary: summary, Source: tmpl(n.conf.Source), Severity: severity(tmpl(n.conf.Severity)),
		Class: tmpl(n.conf.Class), Component: tmpl(n.conf.Component), Group: tmpl(n.conf.Group),
		Details: details,
	}
	if ev.Payload.Source == "" {
		ev.Payload.Source = "klaxon"
	}
	if ev.Payload.Summary == "" {
		ev.Payload.Summary = m.GroupKey
	}
	for _, img := range n.conf.Images {
		if src := tmpl(img.Src); src != "" {
			ev.Images = append(ev.Images, map[string]string{"src": src, "alt": tmpl(img.Alt), "href": tmpl(img.Href)})
		}
	}
	links := notifiers.LinksFor(n.tmpl.ExternalURL, m)
	if links.Incident != "" {
		ev.Links = append(ev.Links, map[string]string{"href": links.Incident, "text": "Klaxon incident"})
	}
	for _, l := range n.conf.Links {
		if href := tmpl(l.Href); href != "" {
			ev.Links = append(ev.Links, map[string]string{"href": href, "text": tmpl(l.Text)})
		}
	}
	if tmplErr != nil {
		return nil, fmt.Errorf("template PagerDuty event: %w", tmplErr)
	}
	return ev, nil
}

// severity maps a rendered severity onto the API's four values, so that a
// label value such as "page" or "Critical" pages instead of being refused;
// anything unknown becomes "error", Alertmanager's default.
func severity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "page", "fatal", "emergency", "alert":
		return "critical"
	case "warning", "warn":
		return "warning"
	case "info", "informational", "notice", "none":
		return "info"
	default:
		return "error"
	}
}
