package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// Postmortem Markdown is written by people but may quote alert text, so it
// is untrusted: it is rendered in two independent steps, either of which
// alone keeps script out of the page. goldmark leaves raw HTML out (it is
// not built WithUnsafe, so <script> and <img onerror> become a comment) and
// drops javascript: link destinations; bluemonday's UGC policy then keeps
// only known-safe elements, attributes and URL schemes of whatever is left.
var (
	markdownParser = goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithRendererOptions(html.WithHardWraps()),
	)
	markdownPolicy = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		// Links from a postmortem leave Klaxon: they get no opener and no
		// referrer, as links from annotations do.
		p.RequireNoReferrerOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		return p
	}()
)

// maxMarkdownBytes bounds what one preview renders; a postmortem is a few
// pages, not megabytes.
const maxMarkdownBytes = 1 << 20

// renderMarkdown turns untrusted Markdown into sanitised HTML. It is the
// one place the UI makes template.HTML out of text people wrote.
func renderMarkdown(src string) template.HTML {
	var buf bytes.Buffer
	if err := markdownParser.Convert([]byte(src), &buf); err != nil {
		// goldmark only fails on writer errors, which a bytes.Buffer does
		// not have; show the text escaped rather than nothing.
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	return template.HTML(markdownPolicy.SanitizeBytes(buf.Bytes())) //nolint:gosec // sanitised just now
}

// markdownPreviewBody is the body of POST /markdown/preview.
type markdownPreviewBody struct {
	Markdown string `json:"markdown"`
}

// previewMarkdown renders Markdown exactly as the UI will show it, for the
// postmortem editor's live preview. It changes nothing; it answers JSON
// ({"html": …}) so that the editor can place the result.
func (s *Server) previewMarkdown(w http.ResponseWriter, r *http.Request) {
	var b markdownPreviewBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMarkdownBytes+4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "body: "+err.Error())
		return
	}
	if len(b.Markdown) > maxMarkdownBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "markdown: longer than 1 MiB")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"html": string(renderMarkdown(b.Markdown))})
}
