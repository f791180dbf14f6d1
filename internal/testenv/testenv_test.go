package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort() = %d, want a port number", p)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("port %d from FreePort is not free: %v", p, err)
	}
	l.Close()
}

func TestRequireSet(t *testing.T) {
	t.Setenv("KLAXON_TEST_DUMMY", "some-value")
	if got := Require(t, "KLAXON_TEST_DUMMY", "dummy"); got != "some-value" {
		t.Fatalf("Require() = %q, want %q", got, "some-value")
	}
}

// recorder stands in for a testing.TB and records Fatalf/Skipf calls
// instead of stopping the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestRequireUnset(t *testing.T) {
	for _, ci := range []string{"", "false", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			t.Setenv("KLAXON_TEST_DUMMY", "")
			r := &recorder{TB: t}
			if got := Require(r, "KLAXON_TEST_DUMMY", "dummy"); got != "" {
				t.Errorf("Require() = %q, want empty", got)
			}
			called, other := r.skip, r.fatal
			if ci == "true" {
				called, other = r.fatal, r.skip
			}
			if called == "" || other != "" {
				t.Fatalf("CI=%q: fatal=%q skip=%q; want only %s", ci, r.fatal, r.skip,
					map[bool]string{true: "Fatalf", false: "Skipf"}[ci == "true"])
			}
			for _, want := range []string{"scripts/test.sh", "KLAXON_TEST_DUMMY", "dummy"} {
				if !strings.Contains(called, want) {
					t.Errorf("message %q does not mention %q", called, want)
				}
			}
		})
	}
}

func TestPostgresURLSet(t *testing.T) {
	t.Setenv(PostgresURLEnv, "postgres://example/db")
	if got := PostgresURL(t); got != "postgres://example/db" {
		t.Fatalf("PostgresURL() = %q", got)
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("moduleRoot() = %q has no go.mod: %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv")); err != nil {
		t.Fatalf("moduleRoot() = %q is not this module's root: %v", root, err)
	}
}
