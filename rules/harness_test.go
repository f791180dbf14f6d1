package rules

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/storage"
)

// world is an evaluator on a fake clock, a real store and a stub data
// source whose answer the test sets; it drives evaluations one at a time.
type world struct {
	t      *testing.T
	db     *storage.DB
	clock  *clockwork.FakeClock
	dir    string
	cfg    *config.Config
	src    *stubSource
	router *recorder
	m      *Manager
	cancel context.CancelFunc
	done   chan struct{}
	itv    time.Duration
}

func newWorld(t *testing.T, db *storage.DB) *world {
	t.Helper()
	w := &world{t: t, db: db, clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)),
		dir: t.TempDir(), src: &stubSource{}, itv: 10 * time.Second}
	w.cfg = &config.Config{Rules: config.DefaultRules, Prometheus: config.DefaultPrometheus}
	w.cfg.Rules.Files = []string{w.dir}
	w.cfg.Prometheus.URL = "http://prometheus.invalid:9090"
	return w
}

func (w *world) writeRules(name, text string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(text), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// start runs a new Manager on the world's store and waits until its
// group loops wait for their first slot. groups is how many groups load.
func (w *world) start(groups int) {
	w.t.Helper()
	w.router = &recorder{}
	w.m = New(Options{DB: w.db, Clock: w.clock, Router: w.router, WatchInterval: 24 * time.Hour, Query: w.src.query})
	if err := w.m.ApplyConfig(context.Background(), w.cfg); err != nil {
		w.t.Fatalf("ApplyConfig: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() { defer close(w.done); w.m.Run(ctx) }()
	w.t.Cleanup(w.stop)
	w.settle(groups)
}

func (w *world) stop() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
		w.cancel = nil
	}
}

// settle waits until every group loop and the file watcher wait on the
// clock again.
func (w *world) settle(groups int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.clock.BlockUntilContext(ctx, groups+1); err != nil {
		w.t.Fatalf("evaluator did not settle: %v", err)
	}
}

// tick moves time one interval on, waits for the evaluations and returns
// the evaluation timestamp of the first group (its slot, not the clock).
func (w *world) tick(groups int) time.Time {
	w.t.Helper()
	w.clock.Advance(w.itv)
	w.settle(groups)
	return w.m.Groups()[0].GetLastEvalTimestamp()
}

// alerts returns the alerts of the named rule, by instance label.
func (w *world) alerts(name string) map[string]*promrules.Alert {
	out := map[string]*promrules.Alert{}
	for _, g := range w.m.Groups() {
		for _, r := range g.AlertingRules() {
			if r.Name() != name {
				continue
			}
			r.ForEachActiveAlert(func(a *promrules.Alert) {
				c := *a
				out[a.Labels.Get("instance")] = &c
			})
		}
	}
	return out
}

func (w *world) rule(name string) *promrules.AlertingRule {
	for _, g := range w.m.Groups() {
		for _, r := range g.AlertingRules() {
			if r.Name() == name {
				return r
			}
		}
	}
	w.t.Fatalf("no rule %s", name)
	return nil
}

// stubSource answers every query with the instances the test set.
type stubSource struct {
	mu    sync.Mutex
	insts []string
	err   error
}

func (s *stubSource) set(insts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insts, s.err = insts, nil
}

func (s *stubSource) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = errors.New(msg)
}

func (s *stubSource) query(_ context.Context, _ string, ts time.Time) (promql.Vector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var v promql.Vector
	for _, i := range s.insts {
		v = append(v, promql.Sample{Metric: labels.FromStrings("__name__", "up", "instance", i, "job", "api"), T: ts.UnixMilli(), F: 0})
	}
	return v, nil
}

// recorder is the router: it keeps every alert it was given.
type recorder struct {
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (r *recorder) Ingest(_ context.Context, as []*alert.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range as {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	r.alerts = append(r.alerts, as...)
	return nil
}

func (r *recorder) take() []*alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.alerts
	r.alerts = nil
	return out
}
