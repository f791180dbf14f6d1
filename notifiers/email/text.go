package email

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/prometheus/alertmanager/template"

	"github.com/klaxon-dev/klaxon/notifiers"
)

// defaultText is the plain-text part when the configuration has no text
// template (Alertmanager's default has none): the state, each alert with
// its labels, summary and links, and the incident and silence links, so
// that the mail reads well in any client.
func defaultText(ext *url.URL, m *notifiers.Message, data *template.Data) string {
	var b strings.Builder
	firing, resolved := data.Alerts.Firing(), data.Alerts.Resolved()
	switch {
	case len(firing) == 0:
		fmt.Fprintf(&b, "RESOLVED: %d alert(s) of group %s\n", len(resolved), groupName(data))
	default:
		fmt.Fprintf(&b, "FIRING: %d alert(s) of group %s", len(firing), groupName(data))
		if len(resolved) > 0 {
			fmt.Fprintf(&b, ", %d resolved", len(resolved))
		}
		b.WriteString("\n")
	}
	if m.Ack != nil {
		fmt.Fprintf(&b, "Acknowledged by %s via %s\n", m.Ack.By, m.Ack.Via)
	}
	for _, a := range data.Alerts {
		fmt.Fprintf(&b, "\n[%s] %s\n", strings.ToUpper(a.Status), a.Labels["alertname"])
		for _, p := range a.Labels.SortedPairs() {
			fmt.Fprintf(&b, "  %s = %s\n", p.Name, p.Value)
		}
		if s := a.Annotations["summary"]; s != "" {
			fmt.Fprintf(&b, "  Summary: %s\n", s)
		}
		if s := a.Annotations["description"]; s != "" {
			fmt.Fprintf(&b, "  Description: %s\n", s)
		}
		for _, l := range [][2]string{{"Runbook", a.Annotations[notifiers.RunbookAnnotation]},
			{"Dashboard", a.Annotations[notifiers.DashboardAnnotation]}, {"Source", a.GeneratorURL}} {
			if l[1] != "" {
				fmt.Fprintf(&b, "  %s: %s\n", l[0], l[1])
			}
		}
	}
	links := notifiers.LinksFor(ext, m)
	b.WriteString("\n")
	if m.AckURL != "" && m.Ack == nil && len(firing) > 0 {
		fmt.Fprintf(&b, "Acknowledge: %s\n", m.AckURL)
	}
	if links.Incident != "" {
		fmt.Fprintf(&b, "Incident: %s\n", links.Incident)
	}
	if links.Silence != "" {
		fmt.Fprintf(&b, "Silence: %s\n", links.Silence)
	}
	return b.String()
}

func groupName(data *template.Data) string {
	if v := data.GroupLabels.Values(); len(v) > 0 {
		return strings.Join(v, " ")
	}
	return "(all)"
}
