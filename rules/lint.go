package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"gopkg.in/yaml.v3"

	promrules "github.com/prometheus/prometheus/rules"
)

// lint adds the findings that do not make a file unusable: what promtool
// lints (duplicate rules) and the traps Klaxon's users keep falling into.
func (f *File) lint(rgs *rulefmt.RuleGroups, pos positions, text []byte) {
	f.lintDuplicates(rgs, pos)
	for i, g := range rgs.Groups {
		for j, r := range g.Rules {
			line := pos.rule(i, j)
			for name := range r.Labels {
				if !model.LegacyValidation.IsValidLabelName(name) {
					f.warnf(line, "group %q, rule %q: label name %q is not a classic Prometheus label name; older Alertmanagers and many tools reject it", g.Name, ruleName(r), name)
				}
			}
			if r.Alert == "" {
				continue
			}
			for _, want := range []string{"summary", "runbook_url"} {
				if _, ok := r.Annotations[want]; !ok {
					f.warnf(line, "group %q, alert %q: no %q annotation", g.Name, r.Alert, want)
				}
			}
		}
	}
	f.lintYAMLTypes(text)
}

func (f *File) warnf(line int, format string, args ...any) {
	f.Diagnostics = append(f.Diagnostics, Diagnostic{File: f.Path, Line: line, Severity: SeverityLint, Message: fmt.Sprintf(format, args...)})
}

func ruleName(r rulefmt.Rule) string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// lintDuplicates reports rules with the same name and labels, as
// promtool's duplicate-rules lint does.
func (f *File) lintDuplicates(rgs *rulefmt.RuleGroups, pos positions) {
	type key struct {
		name   string
		labels string
	}
	first := map[key]int{}
	var keys []key
	dup := map[key][]int{}
	for i, g := range rgs.Groups {
		for j, r := range g.Rules {
			k := key{ruleName(r), promrules.FromMaps(g.Labels, r.Labels).String()}
			line := pos.rule(i, j)
			if _, ok := first[k]; !ok {
				first[k] = line
				keys = append(keys, k)
				continue
			}
			dup[k] = append(dup[k], line)
		}
	}
	sort.Slice(keys, func(a, b int) bool { return first[keys[a]] < first[keys[b]] })
	for _, k := range keys {
		for _, line := range dup[k] {
			f.warnf(line, "duplicate rule %s%s (first at line %d); might cause inconsistency while recording expressions", k.name, k.labels, first[k])
		}
	}
}

// yaml11Special are plain scalars that YAML 1.1 parsers (Kubernetes, the
// Prometheus Operator, Python's PyYAML) read as booleans or null, while
// Prometheus reads them as text: `summary: No` means "No" to Prometheus
// and false to the Operator.
var yaml11Special = regexp.MustCompile(`^(?i:y|n|yes|no|on|off|true|false|null|~)$`)

// lintYAMLTypes warns about unquoted label, annotation and expr values
// that are not plain text to every YAML parser.
func (f *File) lintYAMLTypes(text []byte) {
	var doc yaml.Node
	if yaml.Unmarshal(text, &doc) != nil || len(doc.Content) == 0 {
		return
	}
	gs := mapValue(doc.Content[0], "groups")
	if gs == nil {
		return
	}
	for _, g := range gs.Content {
		if rs := mapValue(g, "rules"); rs != nil {
			for _, r := range rs.Content {
				for _, field := range []string{"labels", "annotations"} {
					m := mapValue(r, field)
					if m == nil || m.Kind != yaml.MappingNode {
						continue
					}
					for i := 0; i+1 < len(m.Content); i += 2 {
						f.lintScalar(strings.TrimSuffix(field, "s")+" "+m.Content[i].Value, m.Content[i+1])
					}
				}
			}
		}
		if m := mapValue(g, "labels"); m != nil && m.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(m.Content); i += 2 {
				f.lintScalar("group label "+m.Content[i].Value, m.Content[i+1])
			}
		}
	}
}

func (f *File) lintScalar(what string, v *yaml.Node) {
	if v.Kind != yaml.ScalarNode || v.Style != 0 {
		return // quoted or block scalars are text everywhere
	}
	if v.Tag != "!!str" || yaml11Special.MatchString(v.Value) {
		f.warnf(v.Line, "%s: unquoted value %s is not a string to every YAML parser (YAML 1.1 tools read it as %s); quote it", what, v.Value, yaml11Kind(v))
	}
}

func yaml11Kind(v *yaml.Node) string {
	switch {
	case v.Tag == "!!int" || v.Tag == "!!float":
		return "a number"
	case v.Tag == "!!null" || v.Value == "~" || strings.EqualFold(v.Value, "null"):
		return "null"
	default:
		return "a boolean"
	}
}
