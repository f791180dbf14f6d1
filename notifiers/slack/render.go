package slack

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify"
	amslack "github.com/prometheus/alertmanager/notify/slack"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	goslack "github.com/slack-go/slack"

	"github.com/klaxon-dev/klaxon/notifiers"
)

// Action IDs of the message's buttons, for the Slack interaction hook.
const (
	ActionAck       = "klaxon_ack"
	ActionResolve   = "klaxon_resolve"
	ActionSilence1h = "klaxon_silence_1h"
)

// maxAlerts bounds the alerts listed in one message; Slack allows 50 blocks.
const maxAlerts = 10

// Colours of the message's bar by state and severity.
const (
	colorCritical = "#d63232"
	colorWarning  = "#e8a317"
	colorInfo     = "#439fe0"
	colorAcked    = "#8a8a8a"
	colorResolved = "#2eb67d"
)

type message struct {
	channel string
	options []goslack.MsgOption
}

// render builds the Block Kit message for m. Alertmanager's fields keep
// their meaning: title, title_link, color, text, pretext, fields, actions,
// footer, fallback, username, icon_emoji, icon_url, link_names. Those left
// at Alertmanager's defaults get Klaxon's richer rendering instead.
func (n *Notifier) render(m *notifiers.Message) (*message, error) {
	data := notifiers.TemplateData(n.tmpl, m, m.Alerts)
	var tmplErr error
	tmpl := notify.TmplText(n.tmpl, data, &tmplErr)
	c, def := n.conf, amslack.DefaultSlackConfig
	links := notifiers.LinksFor(n.tmpl.ExternalURL, m)

	title, _ := notify.TruncateInRunes(tmpl(c.Title), 150)
	titleLink := tmpl(c.TitleLink)
	if c.TitleLink == def.TitleLink && links.Incident != "" {
		titleLink = links.Incident
	}
	heading := "*" + escape(title) + "*"
	if titleLink != "" {
		heading = "*<" + titleLink + "|" + escape(title) + ">*"
	}
	blocks := []goslack.Block{section(heading + "\n" + status(m, data))}
	if p := tmpl(c.Pretext); p != "" && c.Pretext != def.Pretext {
		blocks = append(blocks, section(p))
	}
	if c.Text != def.Text {
		if t := tmpl(c.Text); t != "" {
			blocks = append(blocks, section(t))
		}
	} else {
		blocks = append(blocks, alertBlocks(m, data)...)
	}
	if fb := fieldsBlock(c, tmpl); fb != nil {
		blocks = append(blocks, fb)
	}
	blocks = append(blocks, linksBlock(m, links, tmpl(c.Footer), c.Footer != def.Footer))
	if ab := actionsBlock(m, links, c, tmpl); ab != nil {
		blocks = append(blocks, ab)
	}
	color := stateColor(m, data)
	if c.Color != def.Color {
		color = tmpl(c.Color)
	}
	fallback := tmpl(c.Fallback)
	opts := []goslack.MsgOption{
		goslack.MsgOptionText(fallback, false),
		goslack.MsgOptionAttachments(goslack.Attachment{Color: color, Fallback: fallback, Blocks: goslack.Blocks{BlockSet: blocks}}),
	}
	if c.Username != def.Username {
		opts = append(opts, goslack.MsgOptionUsername(tmpl(c.Username)))
	}
	if c.IconEmoji != def.IconEmoji && tmpl(c.IconEmoji) != "" {
		opts = append(opts, goslack.MsgOptionIconEmoji(tmpl(c.IconEmoji)))
	} else if c.IconURL != def.IconURL && tmpl(c.IconURL) != "" {
		opts = append(opts, goslack.MsgOptionIconURL(tmpl(c.IconURL)))
	}
	if c.LinkNames {
		opts = append(opts, goslack.MsgOptionLinkNames(true))
	}
	channel := tmpl(c.Channel)
	if tmplErr != nil {
		return nil, fmt.Errorf("template Slack message: %w", tmplErr)
	}
	return &message{channel: channel, options: opts}, nil
}

func section(mrkdwn string) *goslack.SectionBlock {
	text, _ := notify.TruncateInRunes(mrkdwn, 3000)
	return goslack.NewSectionBlock(goslack.NewTextBlockObject(goslack.MarkdownType, text, false, false), nil, nil)
}

// status is the state line under the title.
func status(m *notifiers.Message, data *template.Data) string {
	firing, resolved := len(data.Alerts.Firing()), len(data.Alerts.Resolved())
	switch {
	case m.Closed != nil:
		s := fmt.Sprintf(":white_check_mark: *Resolved* by %s via %s", escape(m.Closed.By), escape(m.Closed.Via))
		if firing > 0 {
			s += fmt.Sprintf(" · %d alert(s) still firing", firing)
		}
		return s
	case firing == 0:
		return fmt.Sprintf(":white_check_mark: *Resolved* · %d alert(s)", resolved)
	case m.Ack != nil:
		return fmt.Sprintf(":eyes: *Acknowledged* by %s via %s · %d firing", escape(m.Ack.By), escape(m.Ack.Via), firing)
	default:
		s := fmt.Sprintf(":rotating_light: *Firing* · %d alert(s)", firing)
		if resolved > 0 {
			s += fmt.Sprintf(", %d resolved", resolved)
		}
		return s
	}
}

// alertBlocks lists the alerts: name, the labels that tell them apart,
// summary, and their runbook, dashboard and source links.
func alertBlocks(m *notifiers.Message, data *template.Data) []goslack.Block {
	var out []goslack.Block
	for i, a := range m.Alerts {
		if i == maxAlerts {
			out = append(out, section(fmt.Sprintf("_…and %d more_", len(m.Alerts)-maxAlerts)))
			break
		}
		icon := ":red_circle:"
		if a.ResolvedAt(m.At) {
			icon = ":large_green_circle:"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s *%s*", icon, escape(string(a.Labels[model.AlertNameLabel])))
		for _, name := range keyLabels(a, data.CommonLabels) {
			fmt.Fprintf(&b, " `%s=%s`", name, escape(string(a.Labels[model.LabelName(name)])))
		}
		if s := a.Annotations["summary"]; s != "" {
			b.WriteString("\n" + escape(string(s)))
		}
		var ls []string
		for _, l := range [][2]string{{"Runbook", notifiers.Runbook(a)}, {"Dashboard", notifiers.Dashboard(a)}, {"Source", a.GeneratorURL}} {
			if l[1] != "" {
				ls = append(ls, "<"+l[1]+"|"+l[0]+">")
			}
		}
		if len(ls) > 0 {
			b.WriteString("\n" + strings.Join(ls, " · "))
		}
		out = append(out, section(b.String()))
	}
	return out
}

// keyLabels are the labels of a that set it apart from the group's other
// alerts, at most five.
func keyLabels(a *alert.Alert, common template.KV) []string {
	var out []string
	for _, p := range template.KV(labelsKV(a.Labels)).SortedPairs() {
		if p.Name == string(model.AlertNameLabel) || common[p.Name] != "" {
			continue
		}
		out = append(out, p.Name)
		if len(out) == 5 {
			break
		}
	}
	return out
}

func labelsKV(ls model.LabelSet) map[string]string {
	kv := make(map[string]string, len(ls))
	for k, v := range ls {
		kv[string(k)] = string(v)
	}
	return kv
}

func fieldsBlock(c *amslack.SlackConfig, tmpl func(string) string) goslack.Block {
	var fields []*goslack.TextBlockObject
	for _, f := range c.Fields {
		if len(fields) == 10 { // Slack's limit per section
			break
		}
		fields = append(fields, goslack.NewTextBlockObject(goslack.MarkdownType, "*"+tmpl(f.Title)+"*\n"+tmpl(f.Value), false, false))
	}
	if len(fields) == 0 {
		return nil
	}
	return goslack.NewSectionBlock(nil, fields, nil)
}

func linksBlock(m *notifiers.Message, links notifiers.Links, footer string, custom bool) goslack.Block {
	var parts []string
	if links.Incident != "" {
		parts = append(parts, "<"+links.Incident+"|Incident #"+strconv.FormatInt(m.IncidentID, 10)+">")
	}
	if links.Silence != "" {
		parts = append(parts, "<"+links.Silence+"|Silence>")
	}
	if custom && footer != "" {
		parts = append(parts, footer)
	}
	if len(parts) == 0 {
		parts = append(parts, "Klaxon")
	}
	return goslack.NewContextBlock("", goslack.NewTextBlockObject(goslack.MarkdownType, strings.Join(parts, " · "), false, false))
}

// actionsBlock holds the buttons: Acknowledge (until acknowledged),
// Resolve and Silence 1h while the incident fires, then the configured
// Alertmanager actions that are links.
func actionsBlock(m *notifiers.Message, links notifiers.Links, c *amslack.SlackConfig, tmpl func(string) string) goslack.Block {
	var els []goslack.BlockElement
	firing := false
	for _, a := range m.Alerts {
		firing = firing || !a.ResolvedAt(m.At)
	}
	if firing && m.IncidentID != 0 && m.Closed == nil {
		id := strconv.FormatInt(m.IncidentID, 10)
		if m.Ack == nil {
			els = append(els, goslack.NewButtonBlockElement(ActionAck, id, plain("Acknowledge")).WithStyle(goslack.StylePrimary))
		}
		els = append(els, goslack.NewButtonBlockElement(ActionResolve, id, plain("Resolve")))
		els = append(els, goslack.NewButtonBlockElement(ActionSilence1h, id, plain("Silence 1h")).WithStyle(goslack.StyleDanger))
	}
	for i, a := range c.Actions {
		if u := tmpl(a.URL); u != "" && len(els) < 25 {
			els = append(els, goslack.NewButtonBlockElement("klaxon_link_"+strconv.Itoa(i), "", plain(tmpl(a.Text))).WithURL(u))
		}
	}
	if len(els) == 0 {
		return nil
	}
	return goslack.NewActionBlock("klaxon_actions", els...)
}

func plain(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.PlainTextType, s, false, false)
}

func stateColor(m *notifiers.Message, data *template.Data) string {
	switch {
	case len(data.Alerts.Firing()) == 0, m.Closed != nil:
		return colorResolved
	case m.Ack != nil:
		return colorAcked
	}
	switch strings.ToLower(data.CommonLabels["severity"]) {
	case "critical", "page", "error":
		return colorCritical
	case "warning", "warn":
		return colorWarning
	case "info", "none":
		return colorInfo
	}
	return colorCritical
}

// escape makes text safe inside Slack's mrkdwn.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
