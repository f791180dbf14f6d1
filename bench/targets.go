package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Target names, as the -targets flag spells them.
const (
	SQLite       = "sqlite"
	Postgres     = "postgres"
	Alertmanager = "alertmanager"
)

// AllTargets are the targets in the order of the report's columns.
var AllTargets = []string{SQLite, Postgres, Alertmanager}

// TargetTitle is a target's column heading.
func TargetTitle(name string) string {
	switch name {
	case SQLite:
		return "Klaxon SQLite"
	case Postgres:
		return "Klaxon PostgreSQL"
	case Alertmanager:
		return "Alertmanager"
	}
	return name
}

// target knows how to start one kind of server on a fresh, empty store.
type target struct {
	name   string
	bin    string
	config string // configuration file
	// newDatabase returns the URL of a new, empty PostgreSQL database
	// (Klaxon on PostgreSQL only).
	newDatabase func(ctx context.Context) (string, error)
}

// instance is one server with its own store, across restarts.
type instance struct {
	t    *target
	dir  string
	db   string
	port int
	URL  string
	proc *Process
	runs int
	// token is an API token of the server's own store, for the reads
	// that need one (/api/v2/alerts, /debug/pprof); "" for Alertmanager
	// and for a klaxon without access control.
	token string
}

// fresh prepares a server on an empty store under dir; call start.
func (t *target) fresh(ctx context.Context, dir string) (*instance, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	in := &instance{t: t, dir: dir}
	if t.newDatabase != nil {
		db, err := t.newDatabase(ctx)
		if err != nil {
			return nil, err
		}
		in.db = db
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	in.port = port
	in.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	if t.name != Alertmanager {
		in.token = in.createToken(ctx)
	}
	return in, nil
}

// createToken creates an admin API token in the fresh store with
// `klaxon tokens create`, as an operator would for a script. A klaxon
// without that command has no access control and needs none: that and any
// failure yield "", and requests then go without a token (a refused one
// shows in the report as the HTTP status it got).
func (in *instance) createToken(ctx context.Context) string {
	args := []string{"tokens", "create", "klaxon-bench", "--scope", "admin",
		"--created-by", "klaxon-bench", "--storage.path", filepath.Join(in.dir, "data")}
	if in.db != "" {
		args = append(args, "--database-url", in.db)
	}
	out, err := exec.CommandContext(ctx, in.t.bin, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// get sends GET path to the server with its token, if it has one.
func (in *instance) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+path, nil)
	if err != nil {
		return nil, err
	}
	if in.token != "" {
		req.Header.Set("Authorization", "Bearer "+in.token)
	}
	return http.DefaultClient.Do(req)
}

func (in *instance) args() []string {
	listen := "127.0.0.1:" + strconv.Itoa(in.port)
	common := []string{
		"--config.file", in.t.config,
		"--storage.path", filepath.Join(in.dir, "data"),
		"--web.listen-address", listen,
		"--web.external-url", in.URL + "/",
		"--log.level", "info",
	}
	if in.t.name == Alertmanager {
		return append(common, "--cluster.listen-address=")
	}
	args := append([]string{"serve"}, common...)
	if in.db != "" {
		args = append(args, "--database-url", in.db)
	}
	return args
}

// start launches the server and waits until /-/ready answers 200; it
// returns how long that took from exec.
func (in *instance) start(ctx context.Context) (time.Duration, error) {
	in.runs++
	p, err := StartProcess(in.t.name, in.t.bin, in.args(), filepath.Join(in.dir, "server.log"))
	if err != nil {
		return 0, err
	}
	in.proc = p
	ready, err := p.WaitReady(ctx, in.URL, 5*time.Minute)
	if err != nil {
		_ = p.Stop(10 * time.Second)
		return 0, err
	}
	return ready.Sub(p.Started), nil
}

// stop stops the server gracefully.
func (in *instance) stop() error {
	if in.proc == nil {
		return nil
	}
	return in.proc.Stop(60 * time.Second)
}

func (in *instance) String() string {
	return fmt.Sprintf("%s on %s", TargetTitle(in.t.name), in.URL)
}
