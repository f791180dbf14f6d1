package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/incidents"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/incidents", s.uiIncidents)
		r.Get("/incidents/{id}", s.uiIncident)
	})
}

// uiLiveEvery is how often incident pages re-fetch their live region: often
// enough that an ack from Slack shows while someone watches, cheap enough
// for a page left open all night (one indexed query per tick).
const uiLiveEvery = 3 * time.Second

// incidentStates are the filter's choices, in the order an incident goes.
var incidentStates = []incidents.Status{incidents.Triggered, incidents.Acknowledged, incidents.Resolved}

// incidentsPage is the data of the incidents list.
type incidentsPage struct {
	Filter    incidents.Filter
	States    []incidents.Status
	Incidents []*incidents.Incident
	// Severities, Services and Assignees are the values seen in the list
	// shown, offered as suggestions in the filter.
	Severities, Services, Assignees []string
	// Query is the filter as a query string, for links that keep it.
	Query string
	now   time.Time
}

// Opened says how long ago t was to the minute. The list is re-rendered
// every few seconds and replaced only when it changed: a clock ticking in
// seconds would replace it every time, and a click landing just then
// would be lost.
func (p *incidentsPage) Opened(t time.Time) string {
	d := p.now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return humanDuration(d.Truncate(time.Minute)) + " ago"
}

// uiIncidents lists incidents, newest first, filtered as the API filters.
func (s *Server) uiIncidents(w http.ResponseWriter, r *http.Request) {
	if s.opts.Incidents == nil {
		s.uiError(w, r, http.StatusNotFound, "Incidents are not enabled on this server.")
		return
	}
	q := r.URL.Query()
	f := incidents.Filter{Status: incidents.Status(q.Get("status")), Limit: 200,
		Severity: strings.TrimSpace(q.Get("severity")), Service: strings.TrimSpace(q.Get("service")),
		Assignee: strings.TrimSpace(q.Get("assignee"))}
	if f.Status != "" && !slices.Contains(incidentStates, f.Status) {
		s.uiError(w, r, http.StatusBadRequest, fmt.Sprintf("status: unknown incident state %q (want triggered, acknowledged or resolved)", f.Status))
		return
	}
	list, err := s.opts.Incidents.List(r.Context(), f)
	if err != nil {
		s.uiError(w, r, statusOf(err), "Listing incidents failed: "+err.Error())
		return
	}
	p := &incidentsPage{Filter: f, States: incidentStates, Incidents: list, now: s.opts.Now()}
	p.Severities = incidentValues(list, func(i *incidents.Incident) string { return i.Severity })
	p.Services = incidentValues(list, func(i *incidents.Incident) string { return i.Service })
	p.Assignees = incidentValues(list, func(i *incidents.Incident) string { return i.Assignee })
	keep := url.Values{}
	for k, v := range map[string]string{"status": string(f.Status), "severity": f.Severity, "service": f.Service, "assignee": f.Assignee} {
		if v != "" {
			keep.Set(k, v)
		}
	}
	p.Query = keep.Encode()
	s.renderPage(w, r, http.StatusOK, "incidents", &uiPage{Title: "Incidents", Nav: "incidents", Live: uiLiveEvery, Data: p})
}

// incidentPage is the data of an incident's page.
type incidentPage struct {
	Incident *incidents.Incident
	// Firing counts the incident's alerts still firing.
	Firing int
	// HasPostmortem says whether the postmortem exists yet.
	HasPostmortem bool
	// By is the name the page's actions are recorded under.
	By string
}

// uiIncidentOf reads the incident the page's {id} names, or answers with
// an error page and false.
func (s *Server) uiIncidentOf(w http.ResponseWriter, r *http.Request) (*incidents.Incident, bool) {
	if s.opts.Incidents == nil {
		s.uiError(w, r, http.StatusNotFound, "Incidents are not enabled on this server.")
		return nil, false
	}
	raw := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		s.uiError(w, r, http.StatusBadRequest, fmt.Sprintf("incident id: want a positive number, got %q", raw))
		return nil, false
	}
	inc, err := s.opts.Incidents.Get(r.Context(), id)
	if err != nil {
		s.uiError(w, r, statusOf(err), err.Error())
		return nil, false
	}
	return inc, true
}

// uiIncident shows one incident: its state, timeline, alerts and links,
// and, to those who may respond, the actions. The state and the timeline
// are the live region, so an ack from Slack or the API appears by itself.
func (s *Server) uiIncident(w http.ResponseWriter, r *http.Request) {
	inc, ok := s.uiIncidentOf(w, r)
	if !ok {
		return
	}
	p := &incidentPage{Incident: inc}
	for _, a := range inc.Alerts {
		if a.Status == "firing" {
			p.Firing++
		}
	}
	if _, err := s.opts.Incidents.Postmortem(r.Context(), inc.ID); err == nil {
		p.HasPostmortem = true
	}
	if u := auth.FromContext(r.Context()); u != nil {
		p.By = u.Name
	}
	s.renderPage(w, r, http.StatusOK, "incident", &uiPage{
		Title: fmt.Sprintf("#%d %s", inc.ID, inc.Title), Nav: "incidents", Live: uiLiveEvery, Data: p})
}

// incidentValues returns the sorted non-empty values of field among list.
func incidentValues(list []*incidents.Incident, field func(*incidents.Incident) string) []string {
	var out []string
	for _, inc := range list {
		if v := field(inc); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
