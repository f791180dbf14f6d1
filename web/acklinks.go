package web

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/incidents"
)

// ackPage is the page an email ack link opens. GET only shows it, with a
// form that POSTs back: mail scanners and link previews fetch links, and
// must not acknowledge anything.
var ackPage = template.Must(template.New("ack").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Klaxon: {{.Heading}}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>{{.Heading}}</h1>
<p>{{.Text}}</p>
{{if .Form}}<form method="post"><button type="submit">Acknowledge incident {{.Incident}}</button></form>{{end}}
</body></html>
`))

type ackView struct {
	Heading, Text string
	Incident      int64
	Form          bool
}

func (s *Server) ackLinkPage(w http.ResponseWriter, r *http.Request) {
	t, err := s.opts.Incidents.CheckAckToken(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		s.ackLinkError(w, err)
		return
	}
	inc, err := s.opts.Incidents.Get(r.Context(), t.Incident)
	if err != nil {
		s.ackLinkError(w, err)
		return
	}
	v := ackView{Heading: "Acknowledge incident?", Incident: inc.ID, Form: true,
		Text: "Incident " + inc.Title + " is " + string(inc.Status) + "."}
	if inc.Status != incidents.Triggered {
		v = ackView{Heading: "Nothing to acknowledge", Text: "Incident " + inc.Title + " is already " + string(inc.Status) + "."}
	}
	writeHTML(w, http.StatusOK, v)
}

func (s *Server) ackLinkConfirm(w http.ResponseWriter, r *http.Request) {
	inc, err := s.opts.Incidents.AckWithToken(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		s.ackLinkError(w, err)
		return
	}
	writeHTML(w, http.StatusOK, ackView{Heading: "Acknowledged", Incident: inc.ID,
		Text: "Incident " + inc.Title + " is acknowledged; escalation has stopped."})
}

// ackLinkError answers a bad link with a page that says why, since a
// person, not a program, follows it.
func (s *Server) ackLinkError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	switch {
	case errors.Is(err, incidents.ErrTokenInvalid):
		status = http.StatusForbidden
	case errors.Is(err, incidents.ErrTokenExpired), errors.Is(err, incidents.ErrTokenUsed):
		status = http.StatusGone
	case errors.Is(err, incidents.ErrNoAckLinks):
		status = http.StatusNotFound
	case errors.Is(err, incidents.ErrConflict):
		writeHTML(w, http.StatusConflict, ackView{Heading: "Nothing to acknowledge", Text: "The incident is already resolved."})
		return
	}
	text := err.Error()
	if status >= 500 {
		s.opts.Logger.Error("Ack link failed", "err", err)
		text = "Something went wrong; please try again or acknowledge in Klaxon."
	}
	writeHTML(w, status, ackView{Heading: "Cannot acknowledge", Text: text})
}

func writeHTML(w http.ResponseWriter, status int, v ackView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = ackPage.Execute(w, v)
}
