package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/klaxon-dev/klaxon/auth"
)

// The UI is server-rendered HTML with a little JavaScript, embedded so the
// one binary serves everything. html/template escapes every value by
// context; alert labels, annotations and postmortem text are untrusted and
// never reach the page any other way (Markdown goes through a sanitiser).
//
//go:embed ui/templates/*.html
var uiTemplateFS embed.FS

//go:embed ui/static
var uiStaticFS embed.FS

// uiPage is what every page template receives.
type uiPage struct {
	// Title is the page's <title> and heading.
	Title string
	// Nav is the navigation entry to highlight: alerts, silences,
	// incidents, oncall, rules, status.
	Nav string
	// Prefix is the route prefix, "" at the root; templates build every
	// link with it.
	Prefix string
	// User is who is looking; nil when access control lets anyone read.
	User *auth.Principal
	// CSRF is the session's anti-forgery token for forms and scripts.
	CSRF string
	// Live is how often the page's live region is refreshed; zero turns
	// refreshing off.
	Live time.Duration
	// Flash is a one-line message shown at the top (e.g. after a redirect).
	Flash string
	// Data is the page's own content.
	Data any
	// Now is when the page was rendered, for relative times.
	Now time.Time
}

// CanRespond reports whether the viewer may act (ack, silence, edit).
func (p *uiPage) CanRespond() bool { return p.User == nil || p.User.Can(auth.ScopeRespond) }

// CanAdmin reports whether the viewer may administer.
func (p *uiPage) CanAdmin() bool { return p.User == nil || p.User.Can(auth.ScopeAdmin) }

// uiFuncs are the helpers templates may call. None of them returns
// template.HTML built from untrusted input except markdown, which
// sanitises.
func uiFuncs() template.FuncMap {
	return template.FuncMap{
		"ago": func(now, t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return humanDuration(now.Sub(t))
		},
		"until": func(now, t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return humanDuration(t.Sub(now))
		},
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"duration": humanDuration,
		"query":    url.QueryEscape,
		"path":     url.PathEscape,
		// safeURL lets only http(s) and relative URLs through as links;
		// anything else (javascript:, data:) becomes "#". Links from
		// annotations go through it before reaching an href.
		"safeURL": safeURL,
		"join":    strings.Join,
		"lower":   strings.ToLower,
		"add":     func(a, b int) int { return a + b },
		// markdown renders untrusted Markdown sanitised (web/markdown.go).
		"markdown": renderMarkdown,
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

// safeURL returns u when it is an http(s) URL or a relative path, and "#"
// otherwise. html/template already neutralises javascript: in href
// attributes; this also keeps such links from looking clickable.
func safeURL(u string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return "#"
	}
	p, err := url.Parse(u)
	if err != nil {
		return "#"
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https":
		return p.String()
	case "":
		if p.Host == "" && !strings.HasPrefix(u, "//") {
			return p.String()
		}
	}
	return "#"
}

func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if neg {
		return "-" + s
	}
	return s
}

// uiTemplates parses the layout with each page once. Every page file
// defines "content" (and may define "head"); the layout wraps it.
type uiTemplates map[string]*template.Template

func parseUITemplates() (uiTemplates, error) {
	layout, err := template.New("layout.html").Funcs(uiFuncs()).ParseFS(uiTemplateFS, "ui/templates/layout.html", "ui/templates/_*.html")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(uiTemplateFS, "ui/templates/*.html")
	if err != nil {
		return nil, err
	}
	out := uiTemplates{}
	for _, p := range pages {
		name := strings.TrimPrefix(p, "ui/templates/")
		if name == "layout.html" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(uiTemplateFS, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[strings.TrimSuffix(name, ".html")] = t
	}
	return out, nil
}

// mustUITemplates panics at start-up on a broken template: they are
// compiled into the binary, so a parse error is a build defect, and a test
// parses them too.
var uiTmpl = func() uiTemplates {
	t, err := parseUITemplates()
	if err != nil {
		panic("web: UI templates: " + err.Error())
	}
	return t
}()

// renderPage writes page name inside the layout. With ?fragment=live only
// the "live" block is written, which is what the live-refresh script asks
// for.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, p *uiPage) {
	t, ok := uiTmpl[name]
	if !ok {
		http.Error(w, "no such page template: "+name, http.StatusInternalServerError)
		return
	}
	p.Prefix = strings.TrimRight(s.opts.RoutePrefix, "/")
	p.User = auth.FromContext(r.Context())
	if p.User != nil {
		p.CSRF = p.User.CSRFToken
	}
	if p.Now.IsZero() {
		p.Now = s.opts.Now()
	}
	exec := "layout.html"
	if r.URL.Query().Get("fragment") == "live" {
		exec = "live"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, exec, p); err != nil {
		s.opts.Logger.Error("rendering page", "page", name, "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// No inline script runs: the page's own code comes from /static, and
	// a script tag injected through an alert would be refused by the
	// browser even if escaping ever failed.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// uiError renders an error page with the status.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.renderPage(w, r, status, "error", &uiPage{Title: http.StatusText(status), Data: msg})
}

// uiRoutes registers the pages and the static files. Each page's handler
// lives in the web/ui_*.go file named after it.
func (s *Server) uiRoutes(r chi.Router) {
	static, _ := fs.Sub(uiStaticFS, "ui/static")
	fileServer := http.StripPrefix(strings.TrimRight(s.opts.RoutePrefix, "/")+"/static/", http.FileServer(http.FS(static)))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fileServer.ServeHTTP(w, r)
	})
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.TrimRight(s.opts.RoutePrefix, "/")+"/alerts", http.StatusFound)
	})
	for _, reg := range uiPageRoutes {
		reg(s, r)
	}
}

// uiPageRoutes is filled by each page's file in an init function, so that
// pages can be added without editing a shared list.
var uiPageRoutes []func(s *Server, r chi.Router)
