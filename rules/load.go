// Package rules loads Prometheus alerting and recording rules (plain rule
// files and monitoring.coreos.com/v1 PrometheusRule manifests), evaluates
// them against a Prometheus over its HTTP API with Prometheus's own alert
// state machine, keeps the alert state in the database, and gives rule
// authors `klaxon rules check` and `klaxon rules test`.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
	k8syaml "sigs.k8s.io/yaml"
)

// Severity grades a Diagnostic.
type Severity string

// Severities of diagnostics: errors make a file unusable, lint findings
// are advice.
const (
	SeverityError Severity = "error"
	SeverityLint  Severity = "warning"
)

// Diagnostic is one problem found in a rule file, with its position.
type Diagnostic struct {
	File     string
	Line     int
	Severity Severity
	Message  string
}

// String formats d as "file:line: message", or with "warning: " before
// the message for lint findings.
func (d Diagnostic) String() string {
	sev := ""
	if d.Severity == SeverityLint {
		sev = "warning: "
	}
	return fmt.Sprintf("%s:%d: %s%s", d.File, d.Line, sev, d.Message)
}

// Group is one rule group as loaded, with where it came from.
type Group struct {
	rulefmt.RuleGroup
	// Source identifies the group's origin: the file path, and for a
	// PrometheusRule manifest "path#namespace/name". Groups are keyed by
	// (Source, Name) as Prometheus keys them by (file, name).
	Source string
	// Line is the line of the group in its file; RuleLines the line of
	// each rule.
	Line      int
	RuleLines []int
}

// File is the result of loading one file.
type File struct {
	Path   string
	Groups []*Group
	// Diagnostics holds errors and lint findings; the file is usable when
	// none is an error.
	Diagnostics []Diagnostic
	// Notes are informational: skipped documents and the like.
	Notes []string
}

// Err returns the file's errors joined, or nil.
func (f *File) Err() error {
	var errs []error
	for _, d := range f.Diagnostics {
		if d.Severity == SeverityError {
			errs = append(errs, errors.New(d.String()))
		}
	}
	return errors.Join(errs...)
}

// ExpandPaths turns the configured entries (files, globs, directories)
// into a sorted list of files. Directories are searched recursively for
// *.yml and *.yaml, skipping hidden entries such as a .git directory. An
// entry that matches nothing is reported, so a typo does not silently
// disable rules, and the other entries still load.
func ExpandPaths(entries []string) ([]string, []error) {
	seen := map[string]bool{}
	var out []string
	var errs []error
	for _, e := range entries {
		matches, err := filepath.Glob(e)
		if err == nil && len(matches) == 0 {
			err = errors.New("no such file or directory")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rule files %q: %w", e, err))
			continue
		}
		for _, m := range matches {
			files, err := expandOne(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("rule files %q: %w", e, err))
			}
			for _, f := range files {
				if !seen[f] {
					seen[f] = true
					out = append(out, f)
				}
			}
		}
	}
	sort.Strings(out)
	return out, errs
}

func expandOne(m string) ([]string, error) {
	st, err := os.Stat(m)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{m}, nil
	}
	// A git-sync checkout is a symlink that is swapped to each new
	// revision: walk where it points, but name files by the link, so that
	// groups keep their identity (and alert state) across revisions.
	real, err := filepath.EvalSymlinks(m)
	if err != nil {
		return nil, err
	}
	var out []string
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != real && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			rel, err := filepath.Rel(real, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.Join(m, rel))
		}
		return nil
	})
	return out, err
}

// LoadFile reads and parses one file.
func LoadFile(path string) *File {
	content, err := os.ReadFile(path)
	if err != nil {
		return &File{Path: path, Diagnostics: []Diagnostic{{File: path, Line: 1, Severity: SeverityError, Message: err.Error()}}}
	}
	return Parse(path, content)
}

// Parse parses content read from path: a Prometheus rule file, or one or
// more YAML documents of which the PrometheusRule manifests are read and
// other kinds skipped with a note.
func Parse(path string, content []byte) *File {
	f := &File{Path: path}
	docs, err := splitDocuments(content)
	if err != nil {
		f.errorf(lineOf(err.Error(), 1), "%s", err)
		return f
	}
	defer f.sortDiagnostics()
	if len(docs) == 1 && !isManifest(docs[0].node) {
		f.parseRuleFile(path, content, 0)
		return f
	}
	for _, d := range docs {
		if !isManifest(d.node) {
			if mapValue(d.node, "groups") != nil {
				// Prometheus reads only the first document of a rule file
				// and drops the others with a log line; say so instead.
				f.errorf(d.line, "a rule file must be a single YAML document; only PrometheusRule manifests may share a file")
			} else {
				f.Notes = append(f.Notes, fmt.Sprintf("%s:%d: skipped document: neither a rule file nor a PrometheusRule", path, d.line))
			}
			continue
		}
		f.parseManifest(path, content, d)
	}
	return f
}

func (f *File) sortDiagnostics() {
	sort.SliceStable(f.Diagnostics, func(i, j int) bool { return f.Diagnostics[i].Line < f.Diagnostics[j].Line })
}

type document struct {
	node *yaml.Node // the document's root mapping
	line int
}

func splitDocuments(content []byte) ([]document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(content))
	var docs []document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 {
			continue
		}
		docs = append(docs, document{node: n.Content[0], line: n.Content[0].Line})
	}
	if len(docs) == 0 {
		// An empty file is a valid rule file with no groups.
		docs = append(docs, document{node: &yaml.Node{Kind: yaml.MappingNode}, line: 1})
	}
	return docs, nil
}

// isManifest reports whether a document is a Kubernetes object (it has
// apiVersion and kind) rather than a rule file.
func isManifest(n *yaml.Node) bool {
	return mapValue(n, "kind") != nil && mapValue(n, "apiVersion") != nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var promqlParser = parser.NewParser(parser.Options{})

// parseRuleFile parses text as a Prometheus rule file. The text keeps the
// lines of the original file, so every position is the file's own.
func (f *File) parseRuleFile(source string, text []byte, indent int) {
	rgs, errs := rulefmt.Parse(text, indent > 0, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	pos := positionsOf(text)
	for _, e := range errs {
		f.Diagnostics = append(f.Diagnostics, Diagnostic{File: f.Path, Line: pos.lineFor(e), Severity: SeverityError, Message: stripPosition(e.Error())})
	}
	if rgs == nil || len(errs) > 0 {
		return
	}
	for i, rg := range rgs.Groups {
		g := &Group{RuleGroup: rg, Source: source, Line: pos.group(i)}
		for j := range rg.Rules {
			g.RuleLines = append(g.RuleLines, pos.rule(i, j))
		}
		f.Groups = append(f.Groups, g)
	}
	f.lint(rgs, pos, text)
}

// parseManifest reads a PrometheusRule document. It is decoded strictly
// with the Prometheus Operator's types, then its spec goes through the
// same rule-file parser, positioned at the spec's lines in the file.
func (f *File) parseManifest(path string, content []byte, d document) {
	kind := mapValue(d.node, "kind").Value
	api := mapValue(d.node, "apiVersion").Value
	if kind != monitoringv1.PrometheusRuleKind || api != monitoringv1.SchemeGroupVersion.String() {
		f.Notes = append(f.Notes, fmt.Sprintf("%s:%d: skipped %s %s: not a %s/%s", path, d.line, api, kind,
			monitoringv1.SchemeGroupVersion.String(), monitoringv1.PrometheusRuleKind))
		return
	}
	raw, err := yaml.Marshal(d.node)
	if err != nil {
		f.errorf(d.line, "%s", err)
		return
	}
	var pr monitoringv1.PrometheusRule
	if err := k8syaml.UnmarshalStrict(raw, &pr); err != nil {
		f.errorf(d.line, "PrometheusRule: %s", err)
		return
	}
	source := path + "#" + pr.Namespace + "/" + pr.Name
	spec := mapValue(d.node, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode || len(spec.Content) == 0 {
		return
	}
	text, indent := extractBlock(content, spec)
	f.parseRuleFile(source, text, indent)
}

// extractBlock returns content with every line outside the block mapping
// n blanked and n's indentation removed, so that the mapping parses as a
// document of its own with the file's line numbers.
func extractBlock(content []byte, n *yaml.Node) ([]byte, int) {
	lines := strings.SplitAfter(string(content), "\n")
	first := n.Content[0].Line - 1
	indent := n.Content[0].Column - 1
	last := lastLine(n) - 1
	// The block ends at the next line indented no deeper than the parent.
	for l := last + 1; l < len(lines); l++ {
		s := lines[l]
		t := strings.TrimLeft(s, " ")
		if strings.TrimSpace(s) == "" || strings.HasPrefix(t, "#") || len(s)-len(t) >= indent {
			if strings.TrimSpace(s) != "" && !strings.HasPrefix(t, "#") {
				last = l
			}
			continue
		}
		break
	}
	var b strings.Builder
	for i, l := range lines {
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		if i < first || i > last || strings.HasPrefix(strings.TrimSpace(l), "---") {
			b.WriteString(nl)
			continue
		}
		if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
			b.WriteString(l[indent:])
		} else {
			b.WriteString(strings.TrimLeft(l, " "))
		}
	}
	return []byte(b.String()), indent
}

func lastLine(n *yaml.Node) int {
	l := n.Line
	for _, c := range n.Content {
		if cl := lastLine(c); cl > l {
			l = cl
		}
	}
	return l
}

func (f *File) errorf(line int, format string, args ...any) {
	f.Diagnostics = append(f.Diagnostics, Diagnostic{File: f.Path, Line: line, Severity: SeverityError, Message: fmt.Sprintf(format, args...)})
}

// positions maps groups and rules of a rule file to their lines.
type positions struct {
	groups [][2]int // per group: group line, and index into rules
	rules  [][]int
	names  []string
}

func positionsOf(text []byte) positions {
	var p positions
	var doc yaml.Node
	if yaml.Unmarshal(text, &doc) != nil || len(doc.Content) == 0 {
		return p
	}
	gs := mapValue(doc.Content[0], "groups")
	if gs == nil || gs.Kind != yaml.SequenceNode {
		return p
	}
	for _, g := range gs.Content {
		p.groups = append(p.groups, [2]int{g.Line})
		name := ""
		if n := mapValue(g, "name"); n != nil {
			name = n.Value
		}
		p.names = append(p.names, name)
		var lines []int
		if rs := mapValue(g, "rules"); rs != nil && rs.Kind == yaml.SequenceNode {
			for _, r := range rs.Content {
				lines = append(lines, r.Line)
			}
		}
		p.rules = append(p.rules, lines)
	}
	return p
}

func (p positions) group(i int) int {
	if i < len(p.groups) {
		return p.groups[i][0]
	}
	return 1
}

func (p positions) rule(g, r int) int {
	if g < len(p.rules) && r < len(p.rules[g]) {
		return p.rules[g][r]
	}
	return p.group(g)
}

var (
	leadingPos = regexp.MustCompile(`^(\d+):(\d+): (?:\d+:\d+: )?`)
	yamlLine   = regexp.MustCompile(`\bline (\d+)\b`)
)

// lineFor finds the line an error from rulefmt is about: its own position
// if it has one, else the rule's or group's line, else a YAML line.
func (p positions) lineFor(err error) int {
	msg := err.Error()
	var re *rulefmt.Error
	if errors.As(err, &re) {
		inner := re.Err.Error()
		if m := leadingPos.FindStringSubmatch(inner); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
		for i, name := range p.names {
			if name == re.Group {
				return p.rule(i, re.Rule-1)
			}
		}
	}
	if m := leadingPos.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if strings.Contains(msg, "invalid label") {
		// Group labels: rulefmt gives no position; the first group will
		// do only when there is no better hint.
		return p.group(0)
	}
	return lineOf(msg, 1)
}

func lineOf(msg string, def int) int {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return def
}

// stripPosition drops rulefmt's "line:col: " prefixes, since Diagnostic
// prints the line itself.
func stripPosition(msg string) string {
	return leadingPos.ReplaceAllString(msg, "")
}
