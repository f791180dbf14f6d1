package notifiers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/fakes/webhooktest"
	"github.com/klaxon-dev/klaxon/internal/testenv"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/receiver"
	"github.com/klaxon-dev/klaxon/storage"
)

// openSQLite opens a fresh embedded store.
func openSQLite(t *testing.T) *storage.DB {
	db, err := storage.Open(context.Background(), storage.Options{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPostgres opens a fresh store in a schema of its own: the test
// database is shared with other packages' tests running in parallel.
// search_path is not a pgx option, so pgx sends it to the server as a
// run-time parameter of every connection in the pool.
func openPostgres(t *testing.T) *storage.DB {
	ctx := context.Background()
	base := testenv.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "notifiers_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := storage.Open(ctx, storage.Options{DatabaseURL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var current string
	if err := db.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil || current != schema {
		t.Fatalf("current_schema() = %q, %v; want %q", current, err, schema)
	}
	return db
}

// Secrets in the URLs of the "team" and "dead" receivers; they must never
// show in logs or in the outbox.
var secrets = []string{"s3cret", "t0ken"}

// harness is one Outbox on a fresh store, with a fake webhook server per
// receiver, a fake clock, and everything it logs and reports kept.
type harness struct {
	t      *testing.T
	ctx    context.Context
	db     *storage.DB
	clock  *clockwork.FakeClock
	reg    *prometheus.Registry
	outbox *notifiers.Outbox
	// replicas are further outboxes on the same store.
	replicas []*notifiers.Outbox
	servers  map[string]*webhooktest.Server
	deadURL  string
	logs     lockedBuffer

	mu       sync.Mutex
	results  []notifiers.Result
	problems []string
	barriers int
}

func newHarness(t *testing.T, db *storage.DB) *harness {
	h := &harness{
		t: t, ctx: context.Background(), db: db, reg: prometheus.NewRegistry(),
		// A day back, so that alerts resolved on the fake clock are
		// resolved for Alertmanager's templates, which read the real one.
		clock:   clockwork.NewFakeClockAt(time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)),
		servers: map[string]*webhooktest.Server{},
	}
	for _, name := range []string{"team", "quiet", "barrier"} {
		srv := webhooktest.NewServer()
		t.Cleanup(srv.Close)
		h.servers[name] = srv
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.deadURL = "http://alice:s3cret@" + l.Addr().String() + "/t0ken"
	l.Close()
	t.Cleanup(h.check)
	h.outbox = h.newOutbox(h.reg)
	h.applyConfig(h.outbox, "team", "quiet", "dead", "nobody")
	return h
}

func (h *harness) newOutbox(reg prometheus.Registerer) *notifiers.Outbox {
	return notifiers.NewOutbox(notifiers.OutboxOptions{
		DB: h.db, Clock: h.clock, Registerer: reg, Build: receiver.Build,
		Logger:  slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Workers: 4, Lease: time.Minute, SendTimeout: 5 * time.Second,
		OnResult: h.onResult,
	})
}

// startReplica runs another outbox on the same store, as a second Klaxon
// replica would.
func (h *harness) startReplica() {
	o := h.newOutbox(nil)
	h.applyConfig(o, "team", "quiet", "dead", "nobody")
	h.replicas = append(h.replicas, o)
	h.run(o)
}

// applyConfig configures o with the barrier receiver and the named others.
func (h *harness) applyConfig(o *notifiers.Outbox, names ...string) {
	h.t.Helper()
	webhooks := map[string]string{
		"team":    "url: " + strings.Replace(h.servers["team"].URL, "http://", "http://alice:s3cret@", 1) + "/t0ken",
		"quiet":   "url: " + h.servers["quiet"].URL + "/quiet\n    send_resolved: false",
		"barrier": "url: " + h.servers["barrier"].URL + "/barrier",
		"dead":    "url: " + h.deadURL,
	}
	var b strings.Builder
	b.WriteString("route:\n  receiver: barrier\nreceivers:\n")
	for _, name := range append(names, "barrier") {
		fmt.Fprintf(&b, "- name: %s\n", name)
		if w, ok := webhooks[name]; ok {
			fmt.Fprintf(&b, "  webhook_configs:\n  - %s\n", w)
		}
	}
	cfg, err := config.Load([]byte(b.String()), h.t.TempDir())
	if err != nil {
		h.t.Fatalf("load config: %v\n%s", err, b.String())
	}
	if err := o.ApplyConfig(cfg); err != nil {
		h.t.Fatal(err)
	}
}

// start runs the workers until the test ends.
func (h *harness) start() { h.run(h.outbox) }

func (h *harness) run(o *notifiers.Outbox) {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()
	h.t.Cleanup(func() { cancel(); <-done })
}

// onResult checks that the hook runs in the transaction that records the
// attempt: the row it sees already has the outcome's status.
func (h *harness) onResult(ctx context.Context, tx *storage.Tx, r notifiers.Result) error {
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM outbox WHERE id = ?`, r.OutboxID).Scan(&status); err != nil {
		return err
	}
	want := map[string][]string{"sent": {"sent"}, "skipped": {"skipped"}, "failed": {"failed"}, "retry": {"pending", "superseded"}}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(want[r.Outcome], status) {
		h.problems = append(h.problems, fmt.Sprintf("OnResult(%s) saw row status %q", r.Outcome, status))
	}
	h.results = append(h.results, r)
	return nil
}

// check runs after the workers stopped: no hook saw a bad state and no
// secret leaked into the logs or the outbox.
func (h *harness) check() {
	h.mu.Lock()
	for _, p := range h.problems {
		h.t.Error(p)
	}
	h.mu.Unlock()
	var errs []string
	for _, r := range h.rows("") {
		errs = append(errs, r.LastError)
	}
	for _, s := range secrets {
		if strings.Contains(h.logs.String(), s) || strings.Contains(strings.Join(errs, "\n"), s) {
			h.t.Errorf("secret %q leaked into logs or last_error", s)
		}
	}
	if h.t.Failed() {
		h.t.Logf("outbox logs:\n%s", h.logs.String())
	}
}

func (h *harness) resultsFor(id int64) []notifiers.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notifiers.Result
	for _, r := range h.results {
		if r.OutboxID == id {
			out = append(out, r)
		}
	}
	return out
}

// message is a notification for receiver and group whose alerts are
// labelled with step, to tell deliveries apart.
func (h *harness) message(receiver, group, step string, alerts ...*alert.Alert) *notifiers.Message {
	if len(alerts) == 0 {
		alerts = []*alert.Alert{h.alert("Down", step, false)}
	}
	return &notifiers.Message{
		IncidentID: 42, Receiver: receiver, GroupKey: `{}:{group="` + group + `"}`,
		GroupLabels: model.LabelSet{"group": model.LabelValue(group)},
		Alerts:      alerts, Reason: "first", At: h.clock.Now(),
	}
}

func (h *harness) alert(name, step string, resolved bool) *alert.Alert {
	now := h.clock.Now()
	a := model.Alert{
		Labels:   model.LabelSet{"alertname": model.LabelValue(name), "step": model.LabelValue(step)},
		StartsAt: now.Add(-time.Minute),
	}
	if resolved {
		a.EndsAt = now.Add(-time.Second)
	}
	return alert.New(a, now, false)
}

func (h *harness) enqueue(m *notifiers.Message) {
	h.t.Helper()
	if err := h.db.InTx(h.ctx, func(tx *storage.Tx) error { return h.outbox.Enqueue(h.ctx, tx, m) }); err != nil {
		h.t.Fatalf("enqueue: %v", err)
	}
	h.outbox.Poke()
	for _, o := range h.replicas {
		o.Poke()
	}
}

// barrier returns once the workers have claimed rows after the call: it
// enqueues a notification to the barrier receiver and waits until it is
// sent. Claims take due rows oldest first, so every row that was due and
// eligible before has been claimed by then, and its attempts counted.
func (h *harness) barrier() {
	h.t.Helper()
	h.mu.Lock()
	h.barriers++
	n := h.barriers
	h.mu.Unlock()
	h.enqueue(h.message("barrier", fmt.Sprint("barrier-", n), "barrier"))
	h.waitFor("barrier delivery", func() bool { return len(h.servers["barrier"].Requests()) >= n })
}

type rowState struct {
	ID            int64
	Status        string
	Attempts      int
	NextAttemptAt int64
	LastError     string
}

// rows returns receiver's outbox rows (all rows if receiver is ""), oldest
// first.
func (h *harness) rows(receiver string) []rowState {
	h.t.Helper()
	rs, err := h.db.Query(h.ctx, `SELECT id, status, attempts, next_attempt_at, last_error FROM outbox
		WHERE receiver = ? OR ? = '' ORDER BY id`, receiver, receiver)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rs.Close()
	var out []rowState
	for rs.Next() {
		var r rowState
		if err := rs.Scan(&r.ID, &r.Status, &r.Attempts, &r.NextAttemptAt, &r.LastError); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (h *harness) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.db.Exec(h.ctx, q, args...); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond, for goroutines to catch up; it never stands in for
// the passing of time, which the fake clock drives.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; rows: %+v", what, h.rows(""))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRow waits until receiver's i-th row has status.
func (h *harness) waitRow(receiver string, i int, status string) rowState {
	h.t.Helper()
	var r rowState
	h.waitFor(fmt.Sprintf("%s row %d to be %s", receiver, i, status), func() bool {
		rows := h.rows(receiver)
		if len(rows) <= i {
			return false
		}
		r = rows[i]
		return r.Status == status
	})
	return r
}

// advanceTo moves the clock to a row's next attempt and wakes the workers.
func (h *harness) advanceTo(r rowState) {
	h.clock.Advance(storage.Time(r.NextAttemptAt).Sub(h.clock.Now()))
	h.outbox.Poke()
}

// steps returns the step label of the first alert of each request srv got.
func steps(t *testing.T, srv *webhooktest.Server) []string {
	t.Helper()
	var out []string
	for _, r := range srv.Requests() {
		m, err := r.Message()
		if err != nil || len(m.Alerts) == 0 {
			t.Fatalf("bad webhook payload %s: %v", r.Body, err)
		}
		out = append(out, m.Alerts[0].Labels["step"])
	}
	return out
}

// metric returns a counter's or gauge's value, or a histogram's count.
func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

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
