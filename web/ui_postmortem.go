package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/incidents"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/incidents/{id}/postmortem", s.uiPostmortem)
		r.Get("/action-items", s.uiActionItems)
		// The editor's live preview, the same rendering as the page's: a UI
		// route, so that it needs what editing needs (a responder's session
		// with its CSRF token).
		r.Post("/markdown/preview", s.previewMarkdown)
	})
}

// postmortemPage is the data of the postmortem editor.
type postmortemPage struct {
	Incident *incidents.Incident
	// Postmortem is nil until one is created.
	Postmortem *incidents.Postmortem
	// Document is the whole postmortem as exported, rendered and sanitised.
	Document template.HTML
	// By is the name edits are recorded under.
	By string
	// ActionStatuses are the states an action item can be in.
	ActionStatuses []string
}

// uiPostmortem shows an incident's postmortem: the editor (with a live
// preview) for those who may respond, the rendered document for everyone,
// and the button that starts one from the template.
func (s *Server) uiPostmortem(w http.ResponseWriter, r *http.Request) {
	inc, ok := s.uiIncidentOf(w, r)
	if !ok {
		return
	}
	p := &postmortemPage{Incident: inc, ActionStatuses: []string{"open", "done"}}
	if u := auth.FromContext(r.Context()); u != nil {
		p.By = u.Name
	}
	pm, err := s.opts.Incidents.Postmortem(r.Context(), inc.ID)
	switch {
	case errors.Is(err, incidents.ErrNotFound):
	case err != nil:
		s.uiError(w, r, statusOf(err), err.Error())
		return
	default:
		p.Postmortem = pm
		p.Document = renderMarkdown(pm.Markdown())
	}
	title := fmt.Sprintf("Postmortem of #%d %s", inc.ID, inc.Title)
	if pm != nil {
		title = pm.Title
	}
	s.renderPage(w, r, http.StatusOK, "postmortem", &uiPage{Title: title, Nav: "incidents", Data: p})
}

// actionItemsPage is the data of the open action items list.
type actionItemsPage struct {
	Items []incidents.OpenActionItem
	// Today is the date, YYYY-MM-DD, against which due dates are overdue.
	Today string
}

// uiActionItems lists the open action items of every postmortem.
func (s *Server) uiActionItems(w http.ResponseWriter, r *http.Request) {
	if s.opts.Incidents == nil {
		s.uiError(w, r, http.StatusNotFound, "Incidents are not enabled on this server.")
		return
	}
	items, err := s.opts.Incidents.OpenActionItems(r.Context())
	if err != nil {
		s.uiError(w, r, statusOf(err), "Listing action items failed: "+err.Error())
		return
	}
	p := &actionItemsPage{Items: items, Today: s.opts.Now().UTC().Format(time.DateOnly)}
	s.renderPage(w, r, http.StatusOK, "action_items", &uiPage{Title: "Open action items", Nav: "incidents", Data: p})
}
