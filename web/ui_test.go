package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUITemplatesParse(t *testing.T) {
	tmpl, err := parseUITemplates()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tmpl["error"]; !ok {
		t.Fatalf("no error page among %d templates", len(tmpl))
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://grafana.example/d/abc?x=1": "https://grafana.example/d/abc?x=1",
		"http://runbooks/disk":              "http://runbooks/disk",
		"/incidents/3":                      "/incidents/3",
		"javascript:alert(1)":               "#",
		" JaVaScRiPt:alert(1)":              "#",
		"data:text/html,<script>":           "#",
		"//evil.example/x":                  "#",
		"vbscript:x":                        "#",
		"":                                  "#",
	} {
		if got := safeURL(in); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUIErrorPageEscapesAndSetsCSP(t *testing.T) {
	s := New(Options{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	s.uiError(rec, req, http.StatusNotFound, `<script>alert(1)</script>`)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
		t.Fatalf("message not escaped:\n%s", body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
}

func TestUIStaticServed(t *testing.T) {
	s := New(Options{})
	for _, path := range []string{"/static/klaxon.css", "/static/klaxon.js"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Fatalf("%s: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
	}
}
