// Package testenv gives tests access to the external services and build
// artifacts that scripts/test.sh sets up: a PostgreSQL database, the klaxon
// binary and free loopback ports.
//
// A test that needs a service the environment does not provide is skipped
// when run by hand (plain `go test`), and fails when the CI environment
// variable is "true", so a mis-configured CI run cannot pass by skipping
// everything. Run scripts/test.sh to get the full environment.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Environment variables set by scripts/test.sh.
const (
	// PostgresURLEnv holds a connection URL for an empty, throw-away
	// PostgreSQL database, e.g.
	// postgres://postgres@127.0.0.1:15432/klaxon_test?sslmode=disable.
	PostgresURLEnv = "KLAXON_TEST_POSTGRES_URL"
	// BinaryEnv holds the path of a klaxon binary built from ./cmd/klaxon.
	BinaryEnv = "KLAXON_BINARY"
)

const hint = "run scripts/test.sh, which sets up the test services"

// Require returns the value of the environment variable envVar, which
// describes the test service what (e.g. "PostgreSQL"). If the variable is
// empty the test fails when CI=true and is skipped otherwise; in both
// cases the message tells the reader to run scripts/test.sh.
//
// Require calls only t.Helper, t.Fatalf and t.Skipf.
func Require(t testing.TB, envVar, what string) string {
	t.Helper()
	v := os.Getenv(envVar)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required but %s is not set (CI=true, so this is a failure, not a skip); %s", what, envVar, hint)
	} else {
		t.Skipf("%s not available: %s is not set; %s", what, envVar, hint)
	}
	return ""
}

// PostgresURL returns the URL of the test PostgreSQL database from
// KLAXON_TEST_POSTGRES_URL, skipping the test (or failing it under CI=true)
// if it is not set. The database is shared by every test package of a run,
// so tests must tolerate data left by others, e.g. by using their own
// schema or unique names.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return Require(t, PostgresURLEnv, "PostgreSQL")
}

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a klaxon binary. It uses KLAXON_BINARY if set
// (scripts/test.sh builds it once for the whole run); otherwise it builds
// ./cmd/klaxon once per test process into a new temporary directory, which
// is left behind when the process exits. A failed build fails the test with
// the compiler output.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	build.once.Do(func() {
		build.path, build.err = buildBinary()
	})
	if build.err != nil {
		t.Fatalf("building klaxon: %v", build.err)
	}
	return build.path
}

func buildBinary() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "klaxon-testenv-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "klaxon")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/klaxon")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build ./cmd/klaxon in %s: %v\n%s", root, err, out)
	}
	return path, nil
}

// moduleRoot walks up from the working directory to the directory that
// contains go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller binds it; where possible,
// listen on 127.0.0.1:0 directly instead.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
