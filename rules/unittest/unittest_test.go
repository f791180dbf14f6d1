package unittest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// PromtoolEnv names the promtool 3.x binary (built by scripts/test.sh from
// the Prometheus module version in go.mod) that is the reference for
// `klaxon rules test`.
const PromtoolEnv = "KLAXON_TEST_PROMTOOL_BINARY"

// corpus lists the test files of testdata/unittest. By convention files
// named fail_* must fail and the others pass.
func corpus(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../testdata/unittest/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in testdata/unittest: %v", err)
	}
	return files
}

func wantFail(file string) bool { return strings.HasPrefix(filepath.Base(file), "fail_") }

func TestCorpusOutcomes(t *testing.T) {
	var passed, failed int
	for _, f := range corpus(t) {
		var out, errOut bytes.Buffer
		code := Main(&out, &errOut, Options{Files: []string{f}})
		if (code != 0) != wantFail(f) {
			t.Errorf("%s: exit status %d, want failure %v\nstdout:\n%s\nstderr:\n%s", f, code, wantFail(f), &out, &errOut)
		}
		if code == 0 {
			passed++
		} else {
			failed++
		}
	}
	if passed == 0 || failed == 0 {
		t.Errorf("the corpus must hold passing and failing files; got %d passing, %d failing", passed, failed)
	}
}

// TestCorpusMatchesPromtool runs every corpus file through promtool test
// rules and through Main: the exit status and the output must be the same.
func TestCorpusMatchesPromtool(t *testing.T) {
	promtool := testenv.Require(t, PromtoolEnv, "promtool 3.x")
	for _, f := range corpus(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			wantOut, wantErr, wantCode := runPromtool(t, promtool, "test", "rules", f)
			var out, errOut bytes.Buffer
			code := Main(&out, &errOut, Options{Files: []string{f}})
			if code != wantCode {
				t.Errorf("exit status %d, promtool %d\nklaxon stderr:\n%s\npromtool stderr:\n%s", code, wantCode, &errOut, wantErr)
			}
			if out.String() != wantOut {
				t.Errorf("stdout differs\nklaxon:\n%s\npromtool:\n%s", &out, wantOut)
			}
			if errOut.String() != wantErr {
				t.Errorf("stderr differs\nklaxon:\n%s\npromtool:\n%s", &errOut, wantErr)
			}
		})
	}
}

func TestRunSelectsGroups(t *testing.T) {
	f := "../testdata/unittest/fail_glob_and_run.yml"
	var out, errOut bytes.Buffer
	if code := Main(&out, &errOut, Options{Files: []string{f}}); code != 1 {
		t.Fatalf("all groups: exit status %d, want 1 (broken-on-purpose fails)\n%s", code, &errOut)
	}
	out.Reset()
	errOut.Reset()
	junit := filepath.Join(t.TempDir(), "junit.xml")
	if code := Main(&out, &errOut, Options{Files: []string{f}, Run: []string{"^quick$"}, JUnit: junit}); code != 0 {
		t.Fatalf("--run ^quick$: exit status %d, want 0\n%s", code, &errOut)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x), `name="quick"`) || strings.Contains(string(x), "broken-on-purpose") {
		t.Errorf("JUnit report should list only the selected group:\n%s", x)
	}
	if promtool := os.Getenv(PromtoolEnv); promtool != "" {
		_, _, code := runPromtool(t, promtool, "test", "rules", "--run", "^quick$", f)
		if code != 0 {
			t.Errorf("promtool --run ^quick$: exit status %d, want 0 like klaxon", code)
		}
	}
}

func runPromtool(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return out.String(), errOut.String(), code
}
