package notifiers

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/common/model"
)

// Links are the places a notification points people to.
type Links struct {
	// Incident is the incident's page in Klaxon ("" without an incident).
	Incident string
	// Silence opens a new silence for the group's labels.
	Silence string
}

// LinksFor returns the links of m, under Klaxon's external URL.
func LinksFor(ext *url.URL, m *Message) Links {
	var l Links
	if ext == nil || ext.Host == "" {
		return l
	}
	base := strings.TrimRight(ext.String(), "/")
	if m.IncidentID != 0 {
		l.Incident = base + "/api/v1/incidents/" + strconv.FormatInt(m.IncidentID, 10)
	}
	l.Silence = base + "/#/silences/new?filter=" + url.QueryEscape(matchers(m.GroupLabels))
	return l
}

// matchers spells a label set as Alertmanager's UI filter: {a="b", c="d"}.
func matchers(ls model.LabelSet) string {
	pairs := make([]string, 0, len(ls))
	for _, name := range sortedNames(ls) {
		pairs = append(pairs, string(name)+"="+strconv.Quote(string(ls[name])))
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

func sortedNames(ls model.LabelSet) []model.LabelName {
	names := make([]model.LabelName, 0, len(ls))
	for n := range ls {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Annotations read for an alert's links; the names are the ones
// Prometheus rule authors commonly use.
const (
	RunbookAnnotation   = "runbook_url"
	DashboardAnnotation = "dashboard_url"
)

// Runbook returns a's runbook link, or "".
func Runbook(a *alert.Alert) string { return string(a.Annotations[RunbookAnnotation]) }

// Dashboard returns a's dashboard link, or "".
func Dashboard(a *alert.Alert) string { return string(a.Annotations[DashboardAnnotation]) }
