// Package e2e runs the klaxon binary as users run it, on SQLite and on
// PostgreSQL, and checks whole scenarios from the outside: alerts go in over
// HTTP, notifications come out at a webhook receiver, people act through
// the API and the CLI.
//
// This file is the harness; e2e_test.go holds the stories.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/internal/testenv"
	"github.com/klaxon-dev/klaxon/web/client"
)

// The timers of the test configuration (configTemplate); the stories
// reason in these units.
const (
	groupWait      = 1 * time.Second
	groupInterval  = 2 * time.Second
	repeatInterval = 3 * time.Second
)

// patience bounds every wait for something that must happen. It is
// generous because test machines are noisy: no scenario asserts how fast
// Klaxon is, only what it does and in which order.
const patience = 15 * time.Second

const configTemplate = `route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 3s
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`

// onEachStore runs a scenario twice, as the parallel subtests "sqlite"
// (the embedded store) and "postgres" (a fresh database of
// KLAXON_TEST_POSTGRES_URL; skipped without it unless CI=true).
func onEachStore(t *testing.T, scenario func(t *testing.T, store string)) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			scenario(t, store)
		})
	}
}

// env is one scenario's world: a store, a configuration file pointing at
// a webhook receiver, and the log of every klaxon process started on them.
type env struct {
	t      *testing.T
	store  string
	bin    string
	dir    string // configuration file and SQLite store
	config string // path of the configuration file
	dbURL  string // PostgreSQL only
	hook   *webhook
	log    *lockedBuffer
	// token is an API token with every scope, made with `klaxon tokens
	// create` on the store before the first start (adminToken).
	token string
}

// newEnv prepares a world on store ("sqlite" or "postgres"). Everything is
// torn down when the test ends: the processes first, then the receiver and
// the database; the processes' log is dumped if the test failed.
func newEnv(t *testing.T, store string) *env {
	t.Helper()
	e := &env{t: t, store: store, bin: testenv.Binary(t), dir: t.TempDir(), log: &lockedBuffer{}}
	if store == "postgres" {
		e.dbURL = createDatabase(t)
	}
	e.hook = newWebhook(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("klaxon log (%s store):\n%s", store, e.log.String())
		}
	})
	e.config = filepath.Join(e.dir, "klaxon.yml")
	e.writeConfig(e.goodConfig())
	return e
}

// goodConfig is the scenarios' configuration: one route to the receiver.
func (e *env) goodConfig() string {
	return fmt.Sprintf(configTemplate, e.hook.URL()+"/hook")
}

// writeConfig replaces the configuration file's content.
func (e *env) writeConfig(text string) {
	e.t.Helper()
	if err := os.WriteFile(e.config, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// createDatabase creates an empty database on the test PostgreSQL server
// and returns its URL; it is dropped when the test ends, after the klaxon
// processes using it stopped.
func createDatabase(t *testing.T) string {
	t.Helper()
	base := testenv.PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s is not a postgres:// URL: %q", testenv.PostgresURLEnv, base)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "e2e_" + hex.EncodeToString(b)
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// klaxon is the klaxon server of an env, across restarts.
type klaxon struct {
	e     *env
	args  []string
	runs  int
	URL   string // e.g. http://127.0.0.1:43121, changes on restart
	API   *client.Client
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process exited
	state *os.ProcessState
}

// start runs `klaxon serve` on the env's store and configuration, with
// extra flags, and waits until it listens and is ready.
func (e *env) start(extra ...string) *klaxon {
	e.t.Helper()
	args := []string{"serve",
		"--config.file", e.config,
		"--storage.path", filepath.Join(e.dir, "data"),
		"--web.listen-address", "127.0.0.1:0",
		"--log.level", "debug",
	}
	if e.dbURL != "" {
		args = append(args, "--database-url", e.dbURL)
	}
	k := &klaxon{e: e, args: append(args, extra...)}
	e.adminToken()
	e.t.Cleanup(k.shutdown)
	k.launch()
	return k
}

var listeningRE = regexp.MustCompile(`msg="Listening on".*\baddress=([^\s"]+)`)

func (k *klaxon) launch() {
	t := k.e.t
	t.Helper()
	k.runs++
	fmt.Fprintf(k.e.log, "===== klaxon run %d: %s %s\n", k.runs, k.e.bin, strings.Join(k.args, " "))
	addr := make(chan string, 1)
	cmd := exec.Command(k.e.bin, k.args...)
	cmd.Stdout = k.e.log
	cmd.Stderr = &lineWatcher{w: k.e.log, re: listeningRE, found: addr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start klaxon: %v", err)
	}
	k.cmd, k.done, k.state = cmd, make(chan struct{}), nil
	done := k.done
	go func() {
		_ = cmd.Wait()
		k.state = cmd.ProcessState
		close(done)
	}()
	select {
	case a := <-addr:
		k.URL = "http://" + a
	case <-done:
		t.Fatalf("klaxon exited before listening: %v", k.state)
	case <-time.After(30 * time.Second):
		t.Fatalf("klaxon did not log \"Listening on\" within 30s")
	}
	api, err := client.New(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	api.SetToken(k.e.adminToken())
	k.API = api
	waitFor(t, "klaxon to be ready", func() bool {
		status, _ := k.get(t, "/-/ready")
		return status == http.StatusOK
	})
}

func (k *klaxon) running() bool {
	if k.done == nil {
		return false
	}
	select {
	case <-k.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and expects a clean exit.
func (k *klaxon) stop() {
	t := k.e.t
	t.Helper()
	if !k.running() {
		t.Fatalf("stop: klaxon is not running (%v)", k.state)
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(patience):
		_ = k.cmd.Process.Kill()
		<-k.done
		t.Fatalf("klaxon did not stop within %v of SIGTERM", patience)
	}
	if code := k.state.ExitCode(); code != 0 {
		t.Fatalf("klaxon exited with status %d after SIGTERM, want 0", code)
	}
}

// kill sends SIGKILL: a crash, with no chance to finish anything.
func (k *klaxon) kill() {
	t := k.e.t
	t.Helper()
	if !k.running() {
		t.Fatalf("kill: klaxon is not running (%v)", k.state)
	}
	_ = k.cmd.Process.Kill()
	<-k.done
}

// restart stops klaxon gracefully and starts it again on the same store.
func (k *klaxon) restart() {
	k.e.t.Helper()
	k.stop()
	k.launch()
}

// startAgain starts klaxon again after stop or kill.
func (k *klaxon) startAgain() {
	k.e.t.Helper()
	if k.running() {
		k.e.t.Fatal("startAgain: klaxon is still running")
	}
	k.launch()
}

// shutdown stops a process still running at the end of the test, politely
// if it can, so that its database connections close before the drop.
func (k *klaxon) shutdown() {
	if !k.running() {
		return
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(patience):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}

// --- HTTP ---------------------------------------------------------------

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request to klaxon and returns the status and body.
func (k *klaxon) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, k.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+k.e.adminToken())
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func (k *klaxon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	status, body := k.do(t, http.MethodGet, path, nil)
	return status, string(body)
}

func (k *klaxon) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	status, data := k.do(t, http.MethodPost, path, []byte(body))
	return status, string(data)
}

// postJSON posts v as JSON and expects 200.
func (k *klaxon) postJSON(t *testing.T, path string, v any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if status, answer := k.do(t, http.MethodPost, path, body); status != http.StatusOK {
		t.Fatalf("POST %s: status %d, want 200; body: %s", path, status, answer)
	}
}

// --- alerts -------------------------------------------------------------

// alert is a postable alert of Alertmanager's API v2.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// firing is an alert with the given label name/value pairs, starting when
// Klaxon receives it and firing until resolved (no endsAt).
func firing(labelPairs ...string) alert {
	if len(labelPairs)%2 != 0 {
		panic("firing: odd number of label arguments")
	}
	a := alert{Labels: map[string]string{}, GeneratorURL: "http://prometheus.example/graph"}
	for i := 0; i < len(labelPairs); i += 2 {
		a.Labels[labelPairs[i]] = labelPairs[i+1]
	}
	return a
}

// resolved is the alert as a sender reports its end: endsAt now, which is
// in the past by the time Klaxon reads it.
func (a alert) resolved() alert {
	a.EndsAt = time.Now()
	return a
}

// postAlerts posts alerts to /api/v2/alerts and expects 200.
func (k *klaxon) postAlerts(t *testing.T, alerts ...alert) {
	t.Helper()
	k.postJSON(t, "/api/v2/alerts", alerts)
}

// forward posts alerts to /hooks/alertmanager as an upstream Alertmanager's
// webhook (payload version 4) would, and expects 200.
func (k *klaxon) forward(t *testing.T, alerts ...alert) {
	t.Helper()
	var list []map[string]any
	for _, a := range alerts {
		status, ends := "firing", time.Time{}
		if !a.EndsAt.IsZero() {
			status, ends = "resolved", a.EndsAt
		}
		starts := a.StartsAt
		if starts.IsZero() {
			starts = time.Now()
		}
		list = append(list, map[string]any{
			"status": status, "labels": a.Labels, "annotations": nonNil(a.Annotations),
			"startsAt": starts, "endsAt": ends, "generatorURL": a.GeneratorURL, "fingerprint": "",
		})
	}
	k.postJSON(t, "/hooks/alertmanager", map[string]any{
		"version": "4", "groupKey": `{}:{alertname="upstream"}`, "truncatedAlerts": 0,
		"status": "firing", "receiver": "klaxon", "groupLabels": map[string]string{},
		"commonLabels": map[string]string{}, "commonAnnotations": map[string]string{},
		"externalURL": "http://upstream-alertmanager.example:9093", "alerts": list,
	})
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// --- incidents ----------------------------------------------------------

func apiContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (k *klaxon) incidents(t *testing.T) []*incidents.Incident {
	t.Helper()
	list, err := k.API.ListIncidents(apiContext(t), client.IncidentFilter{})
	if err != nil {
		t.Fatalf("list incidents: %v", err)
	}
	return list
}

// incident returns an incident with its alerts and timeline.
func (k *klaxon) incident(t *testing.T, id int64) *incidents.Incident {
	t.Helper()
	inc, err := k.API.GetIncident(apiContext(t), id)
	if err != nil {
		t.Fatalf("get incident %d: %v", id, err)
	}
	return inc
}

// onlyIncident expects exactly one incident and returns it with its
// alerts and timeline.
func (k *klaxon) onlyIncident(t *testing.T) *incidents.Incident {
	t.Helper()
	list := k.incidents(t)
	if len(list) != 1 {
		t.Fatalf("got %d incidents, want 1: %s", len(list), asJSON(list))
	}
	return k.incident(t, list[0].ID)
}

// ack acknowledges an incident through the API as who.
func (k *klaxon) ack(t *testing.T, id int64, who string) *incidents.Incident {
	t.Helper()
	inc, err := k.API.Ack(apiContext(t), id, who, "api")
	if err != nil {
		t.Fatalf("ack incident %d: %v", id, err)
	}
	return inc
}

// events returns the incident's timeline events of one kind.
func events(inc *incidents.Incident, kind string) []incidents.Event {
	var out []incidents.Event
	for _, ev := range inc.Timeline {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func asJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// --- metrics ------------------------------------------------------------

// metric returns the sum of the samples of one metric family in /metrics,
// and whether any sample was exposed.
func (k *klaxon) metric(t *testing.T, name string) (float64, bool) {
	t.Helper()
	status, text := k.get(t, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", status)
	}
	return sample(text, name)
}

func sample(text, name string) (float64, bool) {
	var sum float64
	found := false
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, name)
		if !ok || !(strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// --- command line -------------------------------------------------------

type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs the klaxon binary with args, as a person at a terminal would.
func (e *env) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "KLAXON_URL=") || strings.HasPrefix(kv, "KLAXON_DATABASE_URL=") || strings.HasPrefix(kv, "KLAXON_TOKEN=")
	})
	if e.token != "" {
		// The HTTP commands (incidents, oncall) authenticate as the harness.
		cmd.Env = append(cmd.Env, "KLAXON_TOKEN="+e.token)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run klaxon %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// storeArgs are the storage flags of the env's store, for the commands
// that work on the database directly (users, tokens).
func (e *env) storeArgs() []string {
	args := []string{"--storage.path", filepath.Join(e.dir, "data")}
	if e.dbURL != "" {
		args = append(args, "--database-url", e.dbURL)
	}
	return args
}

// adminToken is an API token with every scope on the env's store, made
// once through `klaxon tokens create` (which also migrates a new store):
// the scenarios act as an administrator unless they test access control.
func (e *env) adminToken() string {
	e.t.Helper()
	if e.token == "" {
		res := e.cli(e.t, append([]string{"tokens", "create", "e2e-admin", "--scope", "admin"}, e.storeArgs()...)...)
		if res.code != 0 {
			e.t.Fatalf("klaxon tokens create: %s", res)
		}
		e.token = strings.TrimSpace(res.stdout)
	}
	return e.token
}

// --- waiting ------------------------------------------------------------

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", patience, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --- process output -----------------------------------------------------

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWatcher copies a process's output to w and sends the first
// submatch of re, from the first line that matches, to found.
type lineWatcher struct {
	w       io.Writer
	re      *regexp.Regexp
	found   chan<- string
	partial []byte
	sent    bool
}

func (lw *lineWatcher) Write(p []byte) (int, error) {
	n, err := lw.w.Write(p)
	if lw.sent {
		return n, err
	}
	lw.partial = append(lw.partial, p...)
	for {
		i := bytes.IndexByte(lw.partial, '\n')
		if i < 0 {
			break
		}
		line := lw.partial[:i]
		lw.partial = lw.partial[i+1:]
		if m := lw.re.FindSubmatch(line); m != nil {
			lw.found <- string(m[1])
			lw.sent, lw.partial = true, nil
			break
		}
	}
	return n, err
}
