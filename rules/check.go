package rules

import (
	"fmt"
	"io"
)

// CheckResult is what `klaxon rules check` found in all its files.
type CheckResult struct {
	Files []*File
	// PathErrors are entries that matched no file.
	PathErrors []error
	Errors     int
	Lints      int
}

// Check loads every file under paths (files, globs or directories) and
// collects their diagnostics.
func Check(paths []string) *CheckResult {
	files, errs := ExpandPaths(paths)
	res := &CheckResult{PathErrors: errs, Errors: len(errs)}
	for _, p := range files {
		f := LoadFile(p)
		for _, d := range f.Diagnostics {
			if d.Severity == SeverityError {
				res.Errors++
			} else {
				res.Lints++
			}
		}
		res.Files = append(res.Files, f)
	}
	return res
}

// Write prints the result as promtool check rules does: one block per
// file, with SUCCESS and the number of rules, or FAILED and every
// problem as file:line: message.
func (r *CheckResult) Write(out, errOut io.Writer) {
	for _, e := range r.PathErrors {
		fmt.Fprintln(errOut, "  FAILED:", e)
	}
	for _, f := range r.Files {
		fmt.Fprintln(out, "Checking", f.Path)
		for _, n := range f.Notes {
			fmt.Fprintln(out, "  note:", n)
		}
		failed := false
		for _, d := range f.Diagnostics {
			if d.Severity == SeverityError {
				failed = true
			}
		}
		for _, d := range f.Diagnostics {
			if d.Severity == SeverityLint {
				fmt.Fprintln(errOut, d.String())
			}
		}
		if failed {
			fmt.Fprintln(errOut, "  FAILED:")
			for _, d := range f.Diagnostics {
				if d.Severity == SeverityError {
					fmt.Fprintln(errOut, d.String())
				}
			}
		} else {
			n := 0
			for _, g := range f.Groups {
				n += len(g.Rules)
			}
			fmt.Fprintf(out, "  SUCCESS: %d rules found\n", n)
		}
		fmt.Fprintln(out)
	}
}
