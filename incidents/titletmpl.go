package incidents

import (
	tmplhtml "html/template"
	"strings"
	tmpltext "text/template"

	"github.com/prometheus/alertmanager/template"
)

// textTemplates loads Alertmanager's templates from globs, as
// template.FromGlobs does, and also returns the root of its text
// templates, where every defined template lives, so that the incident
// templates can be parsed once per configuration (compileText) instead of
// on every incident: ExecuteTextString clones the whole set and parses the
// text each time, about 60 us per template.
func textTemplates(globs []string) (*template.Template, *tmpltext.Template, error) {
	var root *tmpltext.Template
	tmpl, err := template.FromGlobs(globs, func(text *tmpltext.Template, _ *tmplhtml.Template) {
		root = text
	})
	if err != nil {
		return nil, nil, err
	}
	return tmpl, root, nil
}

// compileText parses text as ExecuteTextString does on each call: in a
// clone of the set, as a template of its own with missingkey=zero. It
// renders what ExecuteTextString renders for data whose route labels are
// empty, as an incident's are (template.Data with nil route labels): the
// routeLabels function is then the set's placeholder in both. An empty
// text gives nil, which renders as the empty string.
func compileText(root *tmpltext.Template, text string) (*tmpltext.Template, error) {
	if text == "" {
		return nil, nil
	}
	c, err := root.Clone()
	if err != nil {
		return nil, err
	}
	return c.New("").Option("missingkey=zero").Parse(text)
}

// execText runs a compiled text on data; text/template runs a parsed
// template concurrently.
func execText(t *tmpltext.Template, data *template.Data) (string, error) {
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	err := t.Execute(&b, data)
	return b.String(), err
}
