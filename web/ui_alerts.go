package web

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/router"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/alerts", s.uiAlerts)
	})
}

// uiAlertsLiveEvery is how often the alerts page re-fetches its groups:
// an alert that starts firing shows within seconds on a page left open.
const uiAlertsLiveEvery = 5 * time.Second

// linkAnnotations are the annotations shown as links, in this order,
// rather than as text.
var linkAnnotations = []struct{ key, name string }{
	{"runbook_url", "Runbook"},
	{"dashboard_url", "Dashboard"},
}

// alertsPage is the data of the alerts page.
type alertsPage struct {
	// Filter is the matcher text as typed; FilterError says what is wrong
	// with it.
	Filter      string
	FilterError string
	// Active, Silenced and Inhibited are the states shown.
	Active, Silenced, Inhibited bool
	// Receiver limits the page to one receiver; "" shows all.
	Receiver  string
	Receivers []string
	Groups    []uiAlertGroup
	// Shown counts the alerts on the page; HiddenSilenced and
	// HiddenInhibited count those matching the filter but hidden by
	// state, so that nobody wonders where an alert went.
	Shown, HiddenSilenced, HiddenInhibited int
}

// uiAlertGroup is one aggregation group as the routing tree made it.
type uiAlertGroup struct {
	Receiver string
	Labels   map[string]string
	// SilenceFilter is the group's labels as equality matchers, for the
	// "Silence group" link; "" when the group has no labels (group_by
	// empty), where such a silence would mute everything.
	SilenceFilter string
	Alerts        []uiAlert
}

// uiAlert is one alert as the page shows it.
type uiAlert struct {
	Fingerprint string
	Labels      map[string]string
	// Annotations are the text annotations; Links the URL ones.
	Annotations []uiPair
	Links       []uiLink
	StartsAt    time.Time
	// State is active, silenced, inhibited or unprocessed.
	State         string
	SilencedBy    []string
	InhibitedBy   []string
	SilenceFilter string
}

// uiPair is a name and a value, in a fixed order.
type uiPair struct{ Name, Value string }

// uiLink is a link taken from an alert. Href is empty when the URL is not
// http(s) or relative: such a link is shown as text, never as a link.
type uiLink struct {
	Name, Href, Raw string
}

func (s *Server) uiAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := &alertsPage{Filter: strings.TrimSpace(q.Get("filter")), Receiver: q.Get("receiver")}
	// With no state chosen, the page shows what needs attention: the
	// active alerts, as Alertmanager's UI does.
	if !q.Has("state") {
		p.Active = true
	}
	for _, st := range q["state"] {
		switch st {
		case "active":
			p.Active = true
		case "silenced":
			p.Silenced = true
		case "inhibited":
			p.Inhibited = true
		}
	}
	status := http.StatusOK
	var matchers labels.Matchers
	if p.Filter != "" {
		ms, err := parseMatcherText(p.Filter)
		if err != nil {
			p.FilterError = err.Error()
			status = http.StatusBadRequest
		}
		matchers = ms
	}
	if cfg := s.amConfig(); cfg != nil {
		for _, rc := range cfg.Receivers {
			p.Receivers = append(p.Receivers, rc.Name)
		}
	}
	if s.opts.Alertmanager != nil && p.FilterError == "" {
		s.fillAlertGroups(p, s.opts.Alertmanager.Groups(), matchers)
	}
	s.renderPage(w, r, status, "alerts", &uiPage{Title: "Alerts", Nav: "alerts", Live: uiAlertsLiveEvery, Data: p})
}

// parseMatcherText reads a filter as typed in Alertmanager's UI and amtool:
// `{a="b",c=~"d.*"}`, or the same without braces, with the parser that
// Alertmanager's API uses.
func parseMatcherText(text string) (labels.Matchers, error) {
	ms, err := compat.Matchers(text, "web")
	if err != nil {
		return nil, fmt.Errorf("bad filter %q: %w", text, err)
	}
	return ms, nil
}

// fillAlertGroups keeps the groups and alerts the page's filters select.
func (s *Server) fillAlertGroups(p *alertsPage, groups []router.GroupView, matchers labels.Matchers) {
	for _, g := range groups {
		if p.Receiver != "" && g.Receiver != p.Receiver {
			continue
		}
		ug := uiAlertGroup{Receiver: g.Receiver, Labels: labelMap(g.Labels)}
		if len(g.Labels) > 0 {
			ug.SilenceFilter = equalityMatchers(g.Labels)
		}
		for _, v := range g.Alerts {
			if !matchFilterLabels(matchers, labelMap(v.Alert.Labels)) {
				continue
			}
			silenced, inhibited := len(v.Status.SilencedBy) > 0, len(v.Status.InhibitedBy) > 0
			switch {
			case silenced && !p.Silenced:
				p.HiddenSilenced++
				continue
			case inhibited && !silenced && !p.Inhibited:
				p.HiddenInhibited++
				continue
			case !silenced && !inhibited && !p.Active:
				continue
			}
			ug.Alerts = append(ug.Alerts, newUIAlert(v))
		}
		if len(ug.Alerts) == 0 {
			continue
		}
		p.Shown += len(ug.Alerts)
		p.Groups = append(p.Groups, ug)
	}
	slices.SortStableFunc(p.Groups, func(a, b uiAlertGroup) int {
		if c := cmp.Compare(a.Receiver, b.Receiver); c != 0 {
			return c
		}
		return cmp.Compare(equalityMatchersOf(a.Labels), equalityMatchersOf(b.Labels))
	})
}

func newUIAlert(v router.AlertView) uiAlert {
	a := v.Alert
	ua := uiAlert{
		Fingerprint: a.Fingerprint().String(),
		Labels:      labelMap(a.Labels),
		StartsAt:    a.StartsAt,
		State:       string(v.Status.State),
		SilencedBy:  v.Status.SilencedBy,
		InhibitedBy: v.Status.InhibitedBy,
	}
	switch {
	case len(v.Status.SilencedBy) > 0:
		ua.State = "silenced"
	case len(v.Status.InhibitedBy) > 0:
		ua.State = "inhibited"
	}
	ua.SilenceFilter = equalityMatchers(a.Labels)
	isLink := map[string]bool{}
	for _, l := range linkAnnotations {
		isLink[l.key] = true
		if u := string(a.Annotations[model.LabelName(l.key)]); u != "" {
			ua.Links = append(ua.Links, newUILink(l.name, u))
		}
	}
	if a.GeneratorURL != "" {
		ua.Links = append(ua.Links, newUILink("Source", a.GeneratorURL))
	}
	// summary and description first, as people read them; the rest by
	// name.
	names := make([]string, 0, len(a.Annotations))
	for k := range a.Annotations {
		if !isLink[string(k)] {
			names = append(names, string(k))
		}
	}
	rank := func(n string) int {
		switch n {
		case "summary":
			return 0
		case "description":
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := rank(names[i]), rank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		ua.Annotations = append(ua.Annotations, uiPair{n, string(a.Annotations[model.LabelName(n)])})
	}
	return ua
}

// newUILink keeps a link only if it is http(s) or relative.
func newUILink(name, raw string) uiLink {
	l := uiLink{Name: name, Raw: raw}
	if u := safeURL(raw); u != "#" {
		l.Href = u
	}
	return l
}

// equalityMatchers is a label set as `{name="value",…}`, the filter that
// selects exactly it, in Alertmanager's syntax.
func equalityMatchers(ls model.LabelSet) string {
	return equalityMatchersOf(labelMap(ls))
}

func equalityMatchersOf(ls map[string]string) string {
	ms := make(labels.Matchers, 0, len(ls))
	for k, v := range ls {
		ms = append(ms, &labels.Matcher{Type: labels.MatchEqual, Name: k, Value: v})
	}
	slices.SortFunc(ms, func(a, b *labels.Matcher) int { return cmp.Compare(a.Name, b.Name) })
	return ms.String()
}
