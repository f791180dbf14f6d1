package incidents

import (
	"strings"
	"text/template"
	"time"
)

// markdownTemplate renders a postmortem for export (and is the template a
// new postmortem is prefilled from: every section is there to fill in).
var markdownTemplate = template.Must(template.New("postmortem").Funcs(template.FuncMap{
	"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"cell":    func(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) },
	"or":      func(a, b string) string { return map[bool]string{true: a, false: b}[a != ""] },
	"summary": func(a Alert) string { return string(a.Annotations["summary"]) },
}).Parse(`# {{ .Title }}

## Summary

{{ .Summary }}

## Impact

- Start: {{ time .ImpactStart }}
- End: {{ with .ImpactEnd }}{{ time . }}{{ else }}ongoing{{ end }}

{{ .Impact }}

## Root cause

{{ .RootCause }}

## Action items

| Title | Owner | Due | Status |
|---|---|---|---|
{{ range .ActionItems }}| {{ cell .Title }} | {{ cell (or .Owner "-") }} | {{ or .Due "-" }} | {{ .Status }} |
{{ end }}
## Timeline

| Time | Event | By | Details |
|---|---|---|---|
{{ range .Timeline }}| {{ time .At }} | {{ .Kind }} | {{ cell .Actor.Name }} ({{ .Actor.Via }}) | {{ cell .Message }} |
{{ end }}
## Alerts
{{ range .Alerts }}
- {{ .Status }}: {{ .Labels }}{{ with summary . }} — {{ . }}{{ end }}{{ end }}

## Links
{{ range .Links }}
- {{ .Kind }}: <{{ .URL }}>{{ with .Title }} ({{ . }}){{ end }}{{ end }}

_Version {{ .Version }}, last edited {{ time .UpdatedAt }}{{ with .Author }} by {{ . }}{{ end }}._
`))

// Markdown exports the postmortem as a Markdown document.
func (pm *Postmortem) Markdown() string {
	var b strings.Builder
	if err := markdownTemplate.Execute(&b, pm); err != nil {
		// The template is fixed and the data a plain struct: an error here
		// is a bug, reported in the document rather than losing it.
		b.WriteString("\n\n(rendering failed: " + err.Error() + ")\n")
	}
	return b.String()
}
