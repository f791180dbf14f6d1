package web

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/incidents"
)

// Postmortems is what the postmortem API needs of the incident service.
type Postmortems interface {
	CreatePostmortem(ctx context.Context, id int64, by incidents.Actor) (*incidents.Postmortem, error)
	UpdatePostmortem(ctx context.Context, id int64, by incidents.Actor, pm incidents.Postmortem) (*incidents.Postmortem, error)
	Postmortem(ctx context.Context, id int64) (*incidents.Postmortem, error)
	OpenActionItems(ctx context.Context) ([]incidents.OpenActionItem, error)
}

// postmortemRoutes serves, under /api/v1/incidents:
//
//	POST /{id}/postmortem                   create from the template (201)
//	GET  /{id}/postmortem[?format=markdown] read, as JSON or Markdown
//	PUT  /{id}/postmortem                   save an edit of version N as N+1
//	GET  /action-items                      open action items of all postmortems
func (s *Server) postmortemRoutes(r chi.Router) {
	r.Post("/{id}/postmortem", s.createPostmortem)
	r.Get("/{id}/postmortem", s.getPostmortem)
	r.Put("/{id}/postmortem", s.updatePostmortem)
	r.Get("/action-items", s.openActionItems)
}

func (s *Server) createPostmortem(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	by, ok := s.actor(w, r)
	if !ok {
		return
	}
	pm, err := s.opts.Incidents.CreatePostmortem(r.Context(), id, by)
	if err != nil {
		writeError(w, incidentStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, pm)
}

func (s *Server) getPostmortem(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	pm, err := s.opts.Incidents.Postmortem(r.Context(), id)
	if err != nil {
		writeError(w, incidentStatus(err), err.Error())
		return
	}
	switch r.URL.Query().Get("format") {
	case "", "json":
		writeJSON(w, http.StatusOK, pm)
	case "markdown", "md":
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(pm.Markdown()))
	default:
		writeError(w, http.StatusBadRequest, "format: want json or markdown")
	}
}

func (s *Server) updatePostmortem(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	var body struct {
		incidents.Postmortem
		By string `json:"by"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	pm, err := s.opts.Incidents.UpdatePostmortem(r.Context(), id, incidents.Actor{Name: actorName(r, body.By), Via: actorVia(r)}, body.Postmortem)
	if err != nil {
		writeError(w, incidentStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, pm)
}

func (s *Server) openActionItems(w http.ResponseWriter, r *http.Request) {
	items, err := s.opts.Incidents.OpenActionItems(r.Context())
	if err != nil {
		writeError(w, incidentStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, items)
}
