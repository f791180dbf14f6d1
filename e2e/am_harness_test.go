package e2e

// This file is the harness of the Alertmanager-compatibility tests
// (differential_test.go, amtool_test.go): it runs the real alertmanager
// binary and Klaxon side by side, each notifying its own webhook recorder.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// Environment variables set by scripts/test.sh's setup_alertmanager.
const (
	amBinaryEnv     = "KLAXON_TEST_ALERTMANAGER_BINARY"
	amtoolBinaryEnv = "KLAXON_TEST_AMTOOL_BINARY"
)

// amNotification is what both systems' webhooks are compared on: the
// fields that Alertmanager 0.25 and Klaxon both produce.
type amNotification struct {
	Receiver        string            `json:"receiver"`
	Status          string            `json:"status"`
	GroupKey        string            `json:"groupKey"`
	GroupLabels     map[string]string `json:"groupLabels"`
	TruncatedAlerts int               `json:"truncatedAlerts"`
	Alerts          []amHookAlert     `json:"alerts"`
	// At is when it arrived, from the start of the scenario on that
	// system (its first request).
	At time.Duration `json:"-"`
}

type amHookAlert struct {
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

// summary renders the compared content, without the timing.
func (n amNotification) summary() string {
	as := make([]string, len(n.Alerts))
	for i, a := range n.Alerts {
		as[i] = fmt.Sprintf("%s%v", a.Status, sortedPairs(a.Labels))
	}
	sort.Strings(as)
	return fmt.Sprintf("%s %s %v truncated=%d [%s]", n.Receiver, n.Status, sortedPairs(n.GroupLabels), n.TruncatedAlerts, strings.Join(as, " "))
}

func sortedPairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, m[k])
	}
	return "{" + b.String() + "}"
}

// amRecorder is a webhook receiver that keeps every notification.
type amRecorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	start time.Time
	got   []amNotification
}

func newAMRecorder(t *testing.T) *amRecorder {
	t.Helper()
	rec := &amRecorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var n amNotification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		n.At = now.Sub(rec.start)
		rec.got = append(rec.got, n)
		rec.mu.Unlock()
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *amRecorder) markStart(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = at
	}
}

func (r *amRecorder) all() []amNotification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]amNotification(nil), r.got...)
}

// amServer is a running alertmanager or klaxon process.
type amServer struct {
	t    *testing.T
	name string
	bin  string
	args func(port int) []string
	dir  string
	cfg  string
	URL  string // includes the route prefix
	// prefix is --web.route-prefix, if any.
	prefix string
	// token, for klaxon, is an API token with every scope; requests
	// send it (Alertmanager ignores it).
	token string
	cmd   *exec.Cmd
	done  chan struct{}
	log   *bytes.Buffer
	logMu *sync.Mutex
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// startRealAlertmanager starts Debian's alertmanager on a free port
// without gossip, on a fresh storage directory, with config text.
func startRealAlertmanager(t *testing.T, config string) *amServer {
	t.Helper()
	bin := testenv.Require(t, amBinaryEnv, "the alertmanager binary (Debian package prometheus-alertmanager)")
	s := &amServer{t: t, name: "alertmanager", bin: bin, dir: t.TempDir()}
	s.args = func(port int) []string {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		return []string{"--config.file=" + s.cfg, "--storage.path=" + filepath.Join(s.dir, "data"),
			"--web.listen-address=" + addr, "--web.external-url=http://" + addr, "--cluster.listen-address=",
			"--log.level=debug"}
	}
	s.launch(config)
	return s
}

// startKlaxonAM starts klaxon serve on the embedded store with config
// text and extra flags, as a drop-in alertmanager.
func startKlaxonAM(t *testing.T, config string, extra ...string) *amServer {
	t.Helper()
	s := &amServer{t: t, name: "klaxon", bin: testenv.Binary(t), dir: t.TempDir()}
	s.args = func(port int) []string {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		return []string{"serve", "--config.file", s.cfg, "--storage.path", filepath.Join(s.dir, "data"),
			"--web.listen-address", addr, "--web.external-url", "http://" + addr + s.prefix, "--log.level", "debug"}
	}
	for i, f := range extra {
		if f == "--web.route-prefix" && i+1 < len(extra) {
			s.prefix = extra[i+1]
		}
	}
	base := s.args
	s.args = func(port int) []string { return append(base(port), extra...) }
	out, err := exec.Command(s.bin, "tokens", "create", "e2e-admin", "--scope", "admin", "--storage.path", filepath.Join(s.dir, "data")).Output()
	if err != nil {
		t.Fatalf("klaxon tokens create: %v", err)
	}
	s.token = strings.TrimSpace(string(out))
	s.launch(config)
	return s
}

// amtoolAuth is amtool's --http.config.file flag carrying the server's
// token (Prometheus's http_config authorization), or nothing.
func (s *amServer) amtoolAuth() []string {
	s.t.Helper()
	if s.token == "" {
		return nil
	}
	file := filepath.Join(s.dir, "amtool-http.yml")
	if err := os.WriteFile(file, []byte("authorization:\n  credentials: "+s.token+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return []string{"--http.config.file=" + file}
}

func (s *amServer) launch(config string) {
	t := s.t
	t.Helper()
	s.cfg = filepath.Join(s.dir, "config.yml")
	s.writeConfig(config)
	if s.log == nil {
		s.log, s.logMu = &bytes.Buffer{}, &sync.Mutex{}
		t.Cleanup(func() {
			s.stopNow()
			if t.Failed() {
				s.logMu.Lock()
				t.Logf("%s log:\n%s", s.name, s.log.String())
				s.logMu.Unlock()
			}
		})
	}
	s.run()
}

func (s *amServer) writeConfig(config string) {
	s.t.Helper()
	if err := os.WriteFile(s.cfg, []byte(config), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// run starts the process and waits until it is ready. The port is found
// free a moment before the process binds it, so with many servers starting
// at once another may take it first: the process then fails to bind and
// is started again on another port. Readiness needs the process's own
// "Listening on" log line (both servers write one), so that a /-/ready
// answered by whoever took the port is not mistaken for it.
func (s *amServer) run() {
	t := s.t
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := s.runOnce()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			t.Fatalf("start %s: %v", s.name, err)
		}
	}
}

var errPortTaken = errors.New("port taken by another process")

func (s *amServer) runOnce() error {
	port := testenv.FreePort(s.t)
	s.URL = fmt.Sprintf("http://127.0.0.1:%d%s", port, s.prefix)
	cmd := exec.Command(s.bin, s.args(port)...)
	w := syncWriter{mu: s.logMu, w: s.log}
	cmd.Stdout, cmd.Stderr = w, w
	s.logMu.Lock()
	from := s.log.Len()
	s.logMu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() { _ = cmd.Wait(); close(done) }()
	listening := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := s.logSince(from)
		if strings.Contains(out, "Listening on") && strings.Contains(out, listening) {
			resp, err := http.Get(s.URL + "/-/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-done:
			if strings.Contains(s.logSince(from), "address already in use") {
				return errPortTaken
			}
			return errors.New("exited before it was ready")
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("not ready within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *amServer) logSince(from int) string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return string(s.log.Bytes()[from:])
}

// stop ends the process with SIGTERM and waits for it.
func (s *amServer) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.t.Fatalf("%s did not stop within 15s of SIGTERM", s.name)
	}
}

func (s *amServer) stopNow() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// restart stops the process and starts it again on the same storage.
func (s *amServer) restart() {
	s.t.Helper()
	s.stop()
	s.run()
}

// reload rewrites the configuration and asks the server to reload it.
func (s *amServer) reload(config string) (int, string) {
	s.t.Helper()
	s.writeConfig(config)
	return s.request("POST", "/-/reload", "")
}

// request sends a request and returns the status and body.
func (s *amServer) request(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Errorf("%s %s %s: %v", s.name, method, path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runAmtool runs the real amtool with args and returns its standard
// output; on failure the error carries its standard error. (amtool warns
// on stderr that Klaxon's version is not its own.)
func runAmtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Require(t, amtoolBinaryEnv, "amtool (Debian package prometheus-alertmanager)")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), err
}
