package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/silence"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/router"
)

func init() {
	uiPageRoutes = append(uiPageRoutes, func(s *Server, r chi.Router) {
		r.Get("/silences", s.uiSilences)
		r.Get("/silences/new", s.uiSilenceNew)
		r.Get("/silences/preview", s.uiSilencePreview)
		r.Get("/silences/{id}", s.uiSilence)
		r.Get("/silences/{id}/edit", s.uiSilenceEdit)
	})
}

// defaultSilenceDuration is how long a new silence lasts unless changed:
// long enough for a fix, short enough to be noticed when forgotten.
const defaultSilenceDuration = 2 * time.Hour

// matcherOps are the editor's operators, Alertmanager's four.
var matcherOps = []string{"=", "!=", "=~", "!~"}

// uiSilence is a silence as the pages show it.
type uiSilence struct {
	ID                 string
	Matchers           []string
	State              string
	StartsAt, EndsAt   time.Time
	UpdatedAt          time.Time
	CreatedBy, Comment string
	// Affects counts the alerts the silence mutes now (or would, once
	// pending).
	Affects int
}

// silencesPage lists silences by state.
type silencesPage struct {
	Sections []silenceSection
}

type silenceSection struct {
	State    string
	Silences []uiSilence
}

// silencePage is one silence with the alerts it matches.
type silencePage struct {
	Silence uiSilence
	Alerts  []uiAlert
}

// silenceEditor is the data of the silence editor.
type silenceEditor struct {
	// ID is set when editing.
	ID       string
	Rows     []matcherRow
	Ops      []string
	StartsAt string
	EndsAt   string
	Duration string
	// CreatedBy defaults to the logged-in user.
	CreatedBy, Comment string
	// Error says why the prefilled matchers could not be read.
	Error   string
	Preview silencePreview
}

type matcherRow struct{ Name, Op, Value string }

// silencePreview is what the editor shows of the alerts its matchers
// select.
type silencePreview struct {
	Error  string
	Empty  bool // no matcher yet
	Alerts []uiAlert
}

func (s *Server) uiSilences(w http.ResponseWriter, r *http.Request) {
	if s.opts.Alertmanager == nil {
		s.uiError(w, r, http.StatusNotFound, "silences are not available")
		return
	}
	sils, err := s.opts.Alertmanager.Silences(r.Context())
	if err != nil {
		s.uiError(w, r, http.StatusServiceUnavailable, "reading silences: "+err.Error())
		return
	}
	now := s.opts.Now()
	slices.SortStableFunc(sils, silenceOrder(now))
	alerts := s.opts.Alertmanager.Alerts()
	p := &silencesPage{}
	for _, st := range []silence.SilenceState{silence.SilenceStateActive, silence.SilenceStatePending, silence.SilenceStateExpired} {
		sec := silenceSection{State: string(st)}
		for _, sil := range sils {
			if sil.State(now) == st {
				sec.Silences = append(sec.Silences, newUISilence(sil, now, alerts))
			}
		}
		p.Sections = append(p.Sections, sec)
	}
	s.renderPage(w, r, http.StatusOK, "silences", &uiPage{Title: "Silences", Nav: "silences", Live: uiAlertsLiveEvery, Data: p})
}

func newUISilence(sil *router.Silence, now time.Time, alerts []router.AlertView) uiSilence {
	us := uiSilence{
		ID: sil.ID, State: string(sil.State(now)), StartsAt: sil.StartsAt, EndsAt: sil.EndsAt, UpdatedAt: sil.UpdatedAt,
		CreatedBy: sil.CreatedBy, Comment: sil.Comment,
	}
	for _, m := range sil.Matchers {
		us.Matchers = append(us.Matchers, m.String())
	}
	if us.State != string(silence.SilenceStateExpired) {
		for _, a := range alerts {
			if sil.Matchers.Matches(a.Alert.Labels) {
				us.Affects++
			}
		}
	}
	return us
}

// silenceFromPath loads the silence of the {id} path parameter, or writes
// the error page.
func (s *Server) silenceFromPath(w http.ResponseWriter, r *http.Request) (*router.Silence, bool) {
	if s.opts.Alertmanager == nil {
		s.uiError(w, r, http.StatusNotFound, "silences are not available")
		return nil, false
	}
	id := chi.URLParam(r, "id")
	sil, err := s.opts.Alertmanager.GetSilence(r.Context(), id)
	switch {
	case errors.Is(err, router.ErrSilenceNotFound):
		s.uiError(w, r, http.StatusNotFound, fmt.Sprintf("no silence %q", id))
		return nil, false
	case err != nil:
		s.uiError(w, r, http.StatusServiceUnavailable, "reading the silence: "+err.Error())
		return nil, false
	}
	return sil, true
}

func (s *Server) uiSilence(w http.ResponseWriter, r *http.Request) {
	sil, ok := s.silenceFromPath(w, r)
	if !ok {
		return
	}
	now := s.opts.Now()
	alerts := s.opts.Alertmanager.Alerts()
	p := &silencePage{Silence: newUISilence(sil, now, alerts)}
	for _, a := range alerts {
		if sil.Matchers.Matches(a.Alert.Labels) {
			p.Alerts = append(p.Alerts, newUIAlert(a))
		}
	}
	s.renderPage(w, r, http.StatusOK, "silence", &uiPage{Title: "Silence", Nav: "silences", Live: uiAlertsLiveEvery, Data: p})
}

// uiSilenceNew is the editor for a new silence, prefilled from ?filter=
// (the "Silence" links of the alerts page put an alert's or a group's
// labels there as equality matchers).
func (s *Server) uiSilenceNew(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now().UTC().Truncate(time.Second)
	ed := &silenceEditor{
		Ops:      matcherOps,
		StartsAt: now.Format(time.RFC3339),
		EndsAt:   now.Add(defaultSilenceDuration).Format(time.RFC3339),
		Duration: "2h",
		Comment:  r.URL.Query().Get("comment"),
	}
	if p := uiPrincipalName(r); p != "" {
		ed.CreatedBy = p
	}
	if f := r.URL.Query().Get("filter"); f != "" {
		ms, err := parseMatcherText(f)
		if err != nil {
			ed.Error = err.Error()
		}
		for _, m := range ms {
			ed.Rows = append(ed.Rows, matcherRow{Name: m.Name, Op: m.Type.String(), Value: m.Value})
		}
		ed.Preview = s.silencePreview(ms, nil)
	} else {
		ed.Preview.Empty = true
	}
	if len(ed.Rows) == 0 {
		ed.Rows = []matcherRow{{Op: "="}}
	}
	s.renderPage(w, r, http.StatusOK, "silence_edit", &uiPage{Title: "New silence", Nav: "silences", Data: ed})
}

// uiSilenceEdit is the editor for an existing silence. Saving goes through
// POST /api/v2/silences with the id, so Alertmanager's rules apply: a
// changed end or comment updates the silence in place, changed matchers of
// an active silence expire it and create a new one.
func (s *Server) uiSilenceEdit(w http.ResponseWriter, r *http.Request) {
	sil, ok := s.silenceFromPath(w, r)
	if !ok {
		return
	}
	now := s.opts.Now()
	ed := &silenceEditor{
		ID: sil.ID, Ops: matcherOps,
		StartsAt: sil.StartsAt.UTC().Format(time.RFC3339), EndsAt: sil.EndsAt.UTC().Format(time.RFC3339),
		Duration:  shortDuration(sil.EndsAt.Sub(sil.StartsAt)),
		CreatedBy: sil.CreatedBy, Comment: sil.Comment,
	}
	// An expired silence is edited into a new one, starting now.
	if sil.State(now) == silence.SilenceStateExpired {
		ed.ID = ""
		start := now.UTC().Truncate(time.Second)
		ed.StartsAt, ed.EndsAt = start.Format(time.RFC3339), start.Add(sil.EndsAt.Sub(sil.StartsAt)).Format(time.RFC3339)
	}
	for _, m := range sil.Matchers {
		ed.Rows = append(ed.Rows, matcherRow{Name: m.Name, Op: m.Type.String(), Value: m.Value})
	}
	ed.Preview = s.silencePreview(sil.Matchers, nil)
	s.renderPage(w, r, http.StatusOK, "silence_edit", &uiPage{Title: "Edit silence", Nav: "silences", Data: ed})
}

// uiSilencePreview renders the editor's preview for the matchers in the
// query: name, op and value repeated (n=…&o=…&v=…), one triple per row.
// The editor's script fetches it as the matchers change, before saving.
func (s *Server) uiSilencePreview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	names, ops, values := q["n"], q["o"], q["v"]
	var ms labels.Matchers
	var perr error
	if len(ops) != len(names) || len(values) != len(names) {
		perr = errors.New("each matcher needs a name, an operator and a value")
	}
	for i := 0; perr == nil && i < len(names); i++ {
		if names[i] == "" && values[i] == "" {
			continue // an empty row being filled in
		}
		m, err := newMatcher(names[i], ops[i], values[i])
		if err != nil {
			perr = fmt.Errorf("matcher %d: %w", i+1, err)
			break
		}
		ms = append(ms, m)
	}
	p := s.silencePreview(ms, perr)
	var buf bytes.Buffer
	if err := uiTmpl["silence_edit"].ExecuteTemplate(&buf, "preview", &uiPage{Prefix: strings.TrimRight(s.opts.RoutePrefix, "/"), Now: s.opts.Now(), Data: p}); err != nil {
		s.opts.Logger.Error("rendering the silence preview", "err", err)
		http.Error(w, "rendering the preview failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Opened on its own, the fragment is a page like the others: no
	// script of any origin runs in it.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; frame-ancestors 'none'")
	if perr != nil {
		w.WriteHeader(http.StatusBadRequest)
	}
	_, _ = w.Write(buf.Bytes())
}

// newMatcher builds a matcher from the editor's row, checking the name and
// the regular expression.
func newMatcher(name, op, value string) (*labels.Matcher, error) {
	if name == "" {
		return nil, errors.New("the label name is empty")
	}
	t, ok := map[string]labels.MatchType{"=": labels.MatchEqual, "!=": labels.MatchNotEqual, "=~": labels.MatchRegexp, "!~": labels.MatchNotRegexp}[op]
	if !ok {
		return nil, fmt.Errorf("unknown operator %q (use =, !=, =~ or !~)", op)
	}
	return labels.NewMatcher(t, name, value)
}

// silencePreview lists the alerts that a silence with matchers ms would
// mute, as the router decides it (every matcher must match).
func (s *Server) silencePreview(ms labels.Matchers, err error) silencePreview {
	if err != nil {
		return silencePreview{Error: err.Error()}
	}
	if len(ms) == 0 {
		return silencePreview{Empty: true}
	}
	var p silencePreview
	if s.opts.Alertmanager == nil {
		return p
	}
	for _, a := range s.opts.Alertmanager.Alerts() {
		if ms.Matches(a.Alert.Labels) {
			p.Alerts = append(p.Alerts, newUIAlert(a))
		}
	}
	return p
}

// shortDuration writes d as the editor's duration field takes it: 2h,
// 1h30m, 3d.
func shortDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	d = d.Round(time.Minute)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	out := ""
	if days > 0 {
		out += fmt.Sprintf("%dd", days)
	}
	if h := d / time.Hour; h > 0 {
		out += fmt.Sprintf("%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if out == "" {
		out = "1m"
	}
	return out
}

// uiPrincipalName is the name of who is looking, "" when access control
// lets anyone in.
func uiPrincipalName(r *http.Request) string {
	if p := auth.FromContext(r.Context()); p != nil {
		return p.Name
	}
	return ""
}
