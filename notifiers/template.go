package notifiers

import (
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/template"
)

// Version is Klaxon's version as sent in the User-Agent of notifications;
// cmd/klaxon sets it at start.
var Version = "dev"

// UserAgent is the User-Agent header of outgoing notification requests.
func UserAgent() string { return "Klaxon/" + Version }

// TemplateData is the data Alertmanager's notification templates and
// webhook payloads are rendered from. alerts are m's alerts, or the subset an
// integration sends (e.g. after truncating to max_alerts).
func TemplateData(tmpl *template.Template, m *Message, alerts []*alert.Alert) *template.Data {
	data := tmpl.Data(m.Receiver, m.GroupLabels, nil, NotificationReason(m), alerts...)
	// Klaxon has no route labels to render; mark them done as Alertmanager's
	// notify.GetTemplateData does, so templates behave the same.
	template.MarkRouteLabelsRendered(data)
	return data
}

// NotificationReason spells m.Reason the way Alertmanager fills the
// notification_reason field of its templates and webhook payload, so that
// templates and receivers written for Alertmanager see the same values.
// Reasons Klaxon does not know pass through unchanged.
func NotificationReason(m *Message) string {
	switch m.Reason {
	case "first":
		return "first notification"
	case "new":
		return "new alerts added"
	case "repeat":
		return "repeat interval elapsed"
	case "resolved":
		for _, a := range m.Alerts {
			if !a.ResolvedAt(m.At) {
				return "some alerts resolved"
			}
		}
		return "all alerts resolved"
	case "":
		return "unknown"
	}
	return m.Reason
}
