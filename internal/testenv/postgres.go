package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PostgresBinEnv names the directory of PostgreSQL's server programs
// (initdb, pg_ctl); scripts/test.sh sets it.
const PostgresBinEnv = "KLAXON_TEST_PGBIN"

// Postgres is a private PostgreSQL server that a test stops and starts
// itself, to see what a database outage does to Klaxon. The shared
// server of KLAXON_TEST_POSTGRES_URL cannot be stopped without harming
// other tests.
type Postgres struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	as   string // run the programs as this user ("" = the current one)

	mu      sync.Mutex
	running bool
}

// StartPostgres initialises a new cluster in a temporary directory, starts
// it on a free loopback port with trust authentication and creates the
// database "klaxon". It is stopped and removed when the test ends. Without
// the server programs (PostgresBinEnv) the test fails under CI=true and is
// skipped otherwise, as with Require. As root, the programs run as the postgres user
// (initdb refuses root).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := Require(t, PostgresBinEnv, "PostgreSQL's server programs")
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		t.Fatalf("%s=%s: no pg_ctl there: %v", PostgresBinEnv, bin, err)
	}
	dir, err := os.MkdirTemp("", "klaxon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &Postgres{t: t, bin: bin, dir: dir, port: FreePort(t)}
	t.Cleanup(func() { p.stop(); os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.as = "postgres"
	}
	p.run("initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	p.Start()
	p.psql("CREATE DATABASE klaxon")
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// URL is the connection URL of the database "klaxon".
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/klaxon?sslmode=disable", p.port)
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return
	}
	// Loopback TCP only: no socket file, whose path length is limited.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", p.port)
	p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
	p.running = true
}

// Stop stops the server at once (fast shutdown: open sessions are
// disconnected, as when a managed database fails over).
func (p *Postgres) Stop() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return
	}
	p.run("pg_ctl", "-D", p.data(), "-m", "fast", "-w", "-t", "60", "stop")
	p.running = false
}

func (p *Postgres) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		_ = p.command("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop").Run()
		p.running = false
	}
}

// Log returns the server's log, for a failing test to show.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "log"))
	return string(b)
}

func (p *Postgres) psql(sql string) {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, "psql"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql)
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
}

func (p *Postgres) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, prog)
	var cmd *exec.Cmd
	if p.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.as, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	// runuser keeps the working directory, which the user may not read.
	cmd.Dir = p.dir
	return cmd
}

func (p *Postgres) run(prog string, args ...string) {
	p.t.Helper()
	if out, err := p.command(prog, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s %s: %v\n%s\n%s", prog, strings.Join(args, " "), err, out, p.Log())
	}
}
