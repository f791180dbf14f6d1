package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// hostileMarkdown is what a postmortem must render inert.
const hostileMarkdown = "The **disk** filled.\n\n<script>window.pwned=1</script>\n\n<img src=x onerror=\"window.pwned=1\">\n\n[click me](javascript:window.pwned=1)"

func TestUIPostmortemEditor(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		r, v := w.as("responder"), w.as("viewer")
		id := strconv.FormatInt(w.id, 10)

		// Before: an offer to start one, to responders only.
		body := r.get(w.path("/postmortem"))
		mustContain(t, "no postmortem", body, `data-test="no-postmortem"`, `data-api="POST /api/v1/incidents/`+id+`/postmortem"`,
			`data-then="/incidents/{incidentId}/postmortem"`)
		mustNotContain(t, "viewer, no postmortem", v.get(w.path("/postmortem")), `data-test="create-postmortem"`)

		// Created from the template (what the button sends).
		if code, b := r.do(http.MethodPost, "/api/v1/incidents/"+id+"/postmortem", `{"via":"ui","by":"responder"}`); code != http.StatusCreated {
			t.Fatalf("create: %d %s", code, b)
		}
		body = r.get(w.path("/postmortem"))
		mustContain(t, "editor", body, `id="pm-editor"`, `data-api="PUT /api/v1/incidents/`+id+`/postmortem"`,
			`name="version" value="1"`, `Version <b id="pm-version">1</b>`, "saved by <b>responder</b>",
			`href="/api/v1/incidents/`+id+`/postmortem?format=markdown"`, `id="pm-preview"`, "/static/postmortem.js",
			// The document as exported, rendered: the template's sections
			// and the incident's timeline.
			`id="pm-document"`, "Root cause</h2>", "<table>", "opened")

		// Saved as version 2 with hostile Markdown and action items.
		edit := map[string]any{"version": 1, "by": "responder", "title": "Checkout outage", "summary": hostileMarkdown,
			"impactStart": "2026-11-25T10:00:00Z", "impact": "Checkout down", "rootCause": "A full disk",
			"actionItems": []map[string]string{
				{"title": "Alert on disk usage", "owner": "alice", "due": "2026-12-01", "status": "open"},
				{"title": "Clean up logs", "owner": "bob", "status": "done"},
			}}
		b, _ := json.Marshal(edit)
		if code, out := r.do(http.MethodPut, "/api/v1/incidents/"+id+"/postmortem", string(b)); code != http.StatusOK {
			t.Fatalf("save: %d %s", code, out)
		}
		body = r.get(w.path("/postmortem"))
		mustContain(t, "version 2", body, `Version <b id="pm-version">2</b>`, `name="version" value="2"`, "<strong>disk</strong>",
			`value="Alert on disk usage"`, `value="2026-12-01"`, "Checkout outage")
		doc := body[strings.Index(body, `id="pm-document"`):]
		mustNotContain(t, "document", strings.ToLower(doc), "<script", "<img", "onerror=", `href="javascript`)

		// A viewer reads the document but gets no editor.
		vbody := v.get(w.path("/postmortem"))
		mustContain(t, "viewer", vbody, `id="pm-document"`, "<strong>disk</strong>")
		mustNotContain(t, "viewer", vbody, `id="pm-editor"`, `data-api=`)

		// Open action items across postmortems: the done one is not there.
		items := v.get("/action-items")
		mustContain(t, "action items", items, "Alert on disk usage", "alice", "2026-12-01", `href="/incidents/`+id+`/postmortem"`)
		mustNotContain(t, "action items", items, "Clean up logs")
	})
}

func TestUIMarkdownPreview(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		w := newIncidentUI(t, db)
		b, _ := json.Marshal(map[string]string{"markdown": hostileMarkdown})
		code, out := w.as("responder").do(http.MethodPost, "/markdown/preview", string(b))
		var res struct{ HTML string }
		if code != http.StatusOK || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("preview: %d %s", code, out)
		}
		mustContain(t, "preview", res.HTML, "<strong>disk</strong>", "click me")
		mustNotContain(t, "preview", strings.ToLower(res.HTML), "<script", "onerror", "javascript:")

		for body, want := range map[string]int{
			`{"markdown": 1}`: http.StatusBadRequest,
			`{"text": "x"}`:   http.StatusBadRequest,
			`not json`:        http.StatusBadRequest,
			`{"markdown": "` + strings.Repeat("x", maxMarkdownBytes+1) + `"}`: http.StatusRequestEntityTooLarge,
		} {
			if code, out := w.as("responder").do(http.MethodPost, "/markdown/preview", body); code != want {
				t.Errorf("preview of %.30s: %d %.200s, want %d", body, code, out, want)
			}
		}
		// Only those who may edit preview.
		if code, _ := w.as("viewer").do(http.MethodPost, "/markdown/preview", string(b)); code != http.StatusForbidden {
			t.Errorf("viewer's preview: %d, want 403", code)
		}
	})
}
