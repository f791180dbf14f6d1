package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// diag finds the diagnostic at line whose message contains text.
func diag(f *File, sev Severity, line int, text string) bool {
	for _, d := range f.Diagnostics {
		if d.Severity == sev && d.Line == line && strings.Contains(d.Message, text) {
			return true
		}
	}
	return false
}

func TestCheckReportsFileLineAndReason(t *testing.T) {
	res := Check([]string{"testdata/check"})
	files := map[string]*File{}
	for _, f := range res.Files {
		files[f.Path[strings.LastIndex(f.Path, "/")+1:]] = f
	}
	if len(files) != 4 {
		t.Fatalf("want the 4 files of the directory, got %v", files)
	}
	if f := files["good.yml"]; len(f.Diagnostics) != 0 || len(f.Groups) != 1 || len(f.Groups[0].Rules) != 2 {
		t.Errorf("good.yml: want one group of two rules and no findings, got %+v", f)
	}
	broken := files["broken.yml"]
	for _, want := range []struct {
		line int
		text string
	}{{5, "unclosed left parenthesis"}, {9, "template"}, {14, "braces present in the recording rule name"}} {
		if !diag(broken, SeverityError, want.line, want.text) {
			t.Errorf("broken.yml: want an error at line %d about %q; got %v", want.line, want.text, broken.Diagnostics)
		}
	}
	lint := files["lint.yml"]
	if lint.Err() != nil {
		t.Errorf("lint findings are not errors: %v", lint.Err())
	}
	for _, want := range []struct {
		line int
		text string
	}{{4, `no "summary" annotation`}, {4, `no "runbook_url" annotation`}, {11, "unquoted value No"}, {13, "read it as a number"}, {14, "duplicate rule NoSummary"}} {
		if !diag(lint, SeverityLint, want.line, want.text) {
			t.Errorf("lint.yml: want a warning at line %d about %q; got %v", want.line, want.text, lint.Diagnostics)
		}
	}
	if res.Errors != 4 || res.Lints == 0 {
		t.Errorf("want 4 errors (3 in broken.yml, 1 in manifests.yaml) and some lint, got %d errors, %d lint", res.Errors, res.Lints)
	}
	for _, f := range res.Files {
		for _, d := range f.Diagnostics {
			if d.Line < 1 || !strings.HasPrefix(d.String(), f.Path+":") {
				t.Errorf("every message says file:line, got %q", d.String())
			}
		}
	}
}

func TestPrometheusRuleManifests(t *testing.T) {
	f := LoadFile("testdata/check/manifests.yaml")
	if len(f.Notes) != 1 || !strings.Contains(f.Notes[0], "skipped v1 ConfigMap") {
		t.Errorf("other kinds are skipped with a note, got %v", f.Notes)
	}
	if len(f.Groups) != 1 || f.Groups[0].Name != "api" || f.Groups[0].Source != "testdata/check/manifests.yaml#prod/api" {
		t.Fatalf("want group api of prod/api, got %+v", f.Groups)
	}
	if f.Groups[0].RuleLines[0] != 18 {
		t.Errorf("rule lines are the file's: want 18, got %d", f.Groups[0].RuleLines[0])
	}
	if !diag(f, SeverityError, 35, `unexpected "="`) {
		t.Errorf("want the bad expression of prod/db at line 35, got %v", f.Diagnostics)
	}
}

func TestManifestStrictDecoding(t *testing.T) {
	f := Parse("x.yaml", []byte(`apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: a}
spec:
  groups:
    - name: g
      rulez: []
`))
	if f.Err() == nil || !strings.Contains(f.Err().Error(), "rulez") {
		t.Errorf("unknown fields of a PrometheusRule are errors, got %v", f.Diagnostics)
	}
}

func TestExpandPaths(t *testing.T) {
	files, errs := ExpandPaths([]string{"testdata/check/*.yml", "testdata/check", "testdata/nope/*.yml"})
	if len(files) != 4 {
		t.Errorf("globs and directories, without duplicates: got %v", files)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "nope") {
		t.Errorf("an entry matching nothing is reported, got %v", errs)
	}
}

func TestMultiDocumentRuleFileIsAnError(t *testing.T) {
	f := Parse("multi.yml", []byte("groups: []\n---\ngroups:\n  - name: g\n    rules: []\n"))
	if f.Err() == nil || f.Diagnostics[0].Line != 1 || !strings.Contains(f.Diagnostics[0].Message, "single YAML document") {
		t.Errorf("want an error at the first document, got %v", f.Diagnostics)
	}
}

// TestExpandPathsThroughSymlinkedCheckout: a git-sync checkout is a
// symlink swapped to each revision; files are named by the link.
func TestExpandPathsThroughSymlinkedCheckout(t *testing.T) {
	dir := t.TempDir()
	rev := filepath.Join(dir, "rev-1", "team")
	if err := os.MkdirAll(rev, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rev, "a.yml"), []byte("groups: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "rev-1"), filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	files, errs := ExpandPaths([]string{filepath.Join(dir, "current")})
	if len(errs) != 0 || len(files) != 1 || files[0] != filepath.Join(dir, "current", "team", "a.yml") {
		t.Errorf("want current/team/a.yml, got %v %v", files, errs)
	}
}
