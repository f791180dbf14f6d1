package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/incidents"
)

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := incidents.Filter{Status: incidents.Status(q.Get("status")),
		Severity: q.Get("severity"), Service: q.Get("service"), Assignee: q.Get("assignee")}
	switch f.Status {
	case "", incidents.Triggered, incidents.Acknowledged, incidents.Resolved:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status: unknown incident status %q (want triggered, acknowledged or resolved)", f.Status))
		return
	}
	for _, p := range []string{"status", "severity", "service", "assignee", "limit"} {
		if v := q[p]; len(v) > 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: given %d times, want it once", p, len(v)))
			return
		}
	}
	for _, p := range []struct{ name, value string }{{"severity", f.Severity}, {"service", f.Service}, {"assignee", f.Assignee}} {
		if len(p.value) > 256 || strings.TrimSpace(p.value) != p.value {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: want a value of at most 256 characters without surrounding spaces, got %q", p.name, p.value))
			return
		}
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want a number from 1 to 1000, got %q", l))
			return
		}
		f.Limit = n
	}
	list, err := s.opts.Incidents.List(r.Context(), f)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) incidentID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	raw := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("incident id: want a positive number, got %q", raw))
		return 0, false
	}
	return id, true
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	inc, err := s.opts.Incidents.Get(r.Context(), id)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

// actionBody is the optional body of ack and resolve: who acts and how.
type actionBody struct {
	By  string `json:"by"`
	Via string `json:"via"`
}

func (s *Server) actor(w http.ResponseWriter, r *http.Request) (incidents.Actor, bool) {
	var b actionBody
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return incidents.Actor{}, false
	}
	if b.Via == "" {
		b.Via = actorVia(r)
	}
	switch b.Via {
	case "api", "cli", "ui":
	default:
		// Other channels have their own authenticated hooks.
		writeError(w, http.StatusBadRequest, fmt.Sprintf("via: want api, cli or ui, got %q", b.Via))
		return incidents.Actor{}, false
	}
	return incidents.Actor{Name: actorName(r, b.By), Via: b.Via}, true
}

func (s *Server) ackIncident(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.opts.Incidents.Ack)
}

func (s *Server) resolveIncident(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.opts.Incidents.Resolve)
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, id int64, by incidents.Actor) (*incidents.Incident, error)) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	by, ok := s.actor(w, r)
	if !ok {
		return
	}
	inc, err := do(r.Context(), id, by)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

// IncidentWork is what the timeline, the edits, the postmortems and the
// ack hooks need of the incident service.
type IncidentWork interface {
	Unack(ctx context.Context, id int64, by incidents.Actor) (*incidents.Incident, error)
	Events(ctx context.Context, id int64) ([]incidents.Event, error)
	AddNote(ctx context.Context, id int64, by incidents.Actor, text string) (*incidents.Incident, error)
	SetAssignee(ctx context.Context, id int64, by incidents.Actor, assignee string) (*incidents.Incident, error)
	SetSeverity(ctx context.Context, id int64, by incidents.Actor, severity string) (*incidents.Incident, error)
	AddLink(ctx context.Context, id int64, by incidents.Actor, l incidents.Link) (*incidents.Incident, error)
	AckHooks
	Postmortems
}

func (s *Server) incidentWorkRoutes(r chi.Router) {
	r.Get("/{id}/timeline", s.getTimeline)
	r.Post("/{id}/unack", s.unackIncident)
	r.Post("/{id}/notes", s.editIncident(func(ctx context.Context, id int64, by incidents.Actor, e editBody) (*incidents.Incident, error) {
		return s.opts.Incidents.AddNote(ctx, id, by, e.Text)
	}))
	r.Put("/{id}/assignee", s.editIncident(func(ctx context.Context, id int64, by incidents.Actor, e editBody) (*incidents.Incident, error) {
		return s.opts.Incidents.SetAssignee(ctx, id, by, e.Assignee)
	}))
	r.Put("/{id}/severity", s.editIncident(func(ctx context.Context, id int64, by incidents.Actor, e editBody) (*incidents.Incident, error) {
		return s.opts.Incidents.SetSeverity(ctx, id, by, e.Severity)
	}))
	r.Post("/{id}/links", s.editIncident(func(ctx context.Context, id int64, by incidents.Actor, e editBody) (*incidents.Incident, error) {
		return s.opts.Incidents.AddLink(ctx, id, by, incidents.Link{Kind: e.Kind, Title: e.Title, URL: e.URL})
	}))
	s.postmortemRoutes(r)
}

func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	events, err := s.opts.Incidents.Events(r.Context(), id)
	if err != nil {
		writeError(w, incidentStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, events)
}

func (s *Server) unackIncident(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, s.opts.Incidents.Unack)
}

// editBody is the body of the incident edits; each reads its own fields.
type editBody struct {
	By       string `json:"by"`
	Text     string `json:"text"`
	Assignee string `json:"assignee"`
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
	Title    string `json:"title"`
	URL      string `json:"url"`
}

func (s *Server) editIncident(do func(ctx context.Context, id int64, by incidents.Actor, e editBody) (*incidents.Incident, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.incidentID(w, r)
		if !ok {
			return
		}
		var e editBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		inc, err := do(r.Context(), id, incidents.Actor{Name: actorName(r, e.By), Via: actorVia(r)}, e)
		if err != nil {
			writeError(w, incidentStatus(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, inc)
	}
}

// incidentStatus is statusOf plus the errors of incident edits.
func incidentStatus(err error) int {
	if errors.Is(err, incidents.ErrInvalid) {
		return http.StatusBadRequest
	}
	return statusOf(err)
}
