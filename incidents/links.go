package incidents

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/storage"
)

// Link is a place an incident points people to: a runbook, a dashboard, a
// trace, logs, the alert's source.
type Link struct {
	ID     int64  `json:"id,omitempty"` // set for links added by hand
	Kind   string `json:"kind"`         // runbook, dashboard, trace, logs, source, or any word
	Title  string `json:"title,omitempty"`
	URL    string `json:"url"`
	Source string `json:"source"` // annotation, alert, config, manual
}

// Annotations that carry links, and the kind of link each is. trace_id is
// not a URL: it feeds the trace link templates as .TraceID.
var linkAnnotations = []struct{ name, kind string }{
	{"runbook_url", "runbook"},
	{"dashboard_url", "dashboard"},
	{"trace_url", "trace"},
	{"logs_url", "logs"},
}

// work is the applied incident work configuration.
type work struct {
	cfg   config.IncidentWork
	links []linkTemplate
}

type linkTemplate struct {
	kind, title string
	tmpl        *template.Template
	// needsTrace: a template naming .TraceID is left out for incidents
	// without one, instead of rendering a link to nothing.
	needsTrace bool
}

func newWork(cfg *config.Config) (*work, error) {
	w := &work{cfg: cfg.Incidents.W()}
	for i, l := range w.cfg.Links {
		t, err := template.New(fmt.Sprintf("link%d", i)).Option("missingkey=zero").Parse(l.URL)
		if err != nil {
			return nil, fmt.Errorf("incidents.links[%d].url: %w", i, err)
		}
		kind := l.Kind
		if kind == "" {
			kind = "link"
		}
		w.links = append(w.links, linkTemplate{kind: kind, title: l.Title, tmpl: t, needsTrace: strings.Contains(l.URL, ".TraceID")})
	}
	return w, nil
}

// linkData is what a link template sees.
type linkData struct {
	Labels                     map[string]string
	Start, End                 time.Time
	StartRFC3339, EndRFC3339   string
	StartMillis, EndMillis     int64
	TraceID, Service, Receiver string
}

// links gathers inc's links: by hand, from its alerts' annotations and
// generatorURL, and from the configured templates. Duplicates go.
func (s *Service) links(ctx context.Context, inc *Incident) ([]Link, error) {
	out, err := manualLinks(ctx, s.db, inc.ID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, l := range out {
		seen[l.URL] = true
	}
	add := func(l Link) {
		if l.URL != "" && !seen[l.URL] {
			seen[l.URL] = true
			out = append(out, l)
		}
	}
	labels := map[string]string{}
	for k, v := range inc.Labels {
		labels[string(k)] = string(v)
	}
	traceID := ""
	for _, a := range inc.Alerts {
		for _, la := range linkAnnotations {
			add(Link{Kind: la.kind, URL: string(a.Annotations[model.LabelName(la.name)]), Source: "annotation"})
		}
		add(Link{Kind: "source", Title: "Alert source", URL: a.GeneratorURL, Source: "alert"})
		if traceID == "" {
			traceID = string(a.Annotations["trace_id"])
		}
		for k, v := range a.Labels {
			if _, ok := labels[string(k)]; !ok {
				labels[string(k)] = string(v)
			}
		}
	}
	w := s.work.Load()
	if w == nil {
		return out, nil
	}
	end := s.clock.Now()
	if inc.ResolvedAt != nil {
		end = *inc.ResolvedAt
	}
	d := linkData{Labels: labels, Start: inc.OpenedAt, End: end,
		StartRFC3339: inc.OpenedAt.Format(time.RFC3339), EndRFC3339: end.Format(time.RFC3339),
		StartMillis: inc.OpenedAt.UnixMilli(), EndMillis: end.UnixMilli(),
		TraceID: traceID, Service: labels["service"], Receiver: inc.Receiver}
	for _, lt := range w.links {
		if lt.needsTrace && traceID == "" {
			continue
		}
		var b strings.Builder
		if err := lt.tmpl.Execute(&b, d); err != nil {
			s.logger.Debug("Link template failed", "incident", inc.ID, "err", err)
			continue
		}
		add(Link{Kind: lt.kind, Title: lt.title, URL: strings.TrimSpace(b.String()), Source: "config"})
	}
	return out, nil
}

func manualLinks(ctx context.Context, q storage.Querier, id int64) ([]Link, error) {
	rows, err := q.Query(ctx, `SELECT id, kind, title, url FROM incident_links WHERE incident_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read incident links: %w", err)
	}
	defer rows.Close()
	out := []Link{}
	for rows.Next() {
		l := Link{Source: "manual"}
		if err := rows.Scan(&l.ID, &l.Kind, &l.Title, &l.URL); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// checkURL accepts absolute http(s) URLs only, so that a link cannot run
// script in the UI.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: url: want an absolute http(s) URL, got %q", ErrInvalid, raw)
	}
	return nil
}
