package notifiers_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/fakes/webhooktest"
	"github.com/klaxon-dev/klaxon/internal/testenv"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/storage"
)

// contract is the outbox's behaviour, run against each backend.
var contract = []struct {
	name string
	test func(t *testing.T, h *harness)
}{
	{"DeliversOnce", testDeliversOnce},
	{"ReceiverWithoutIntegrations", testReceiverWithoutIntegrations},
	{"RetriesUntilReceiverIsUp", testRetriesUntilReceiverIsUp},
	{"DoesNotRetryRejected", testDoesNotRetryRejected},
	{"HonoursRetryAfter", testHonoursRetryAfter},
	{"RedactsUnreachableURL", testRedactsUnreachableURL},
	{"SupersedesPending", testSupersedesPending},
	{"RedeliversAfterCrash", testRedeliversAfterCrash},
	{"SendResolvedFalse", testSendResolvedFalse},
	{"DeliversGroupInOrder", testDeliversGroupInOrder},
	{"FailsRemovedIntegration", testFailsRemovedIntegration},
	{"ReplicasSendOnce", testReplicasSendOnce},
	{"SlowReceiverDoesNotBlockOthers", testSlowReceiverDoesNotBlockOthers},
	{"PrunesOnlyFinishedRowsPastRetention", testPrunesOnlyFinishedRowsPastRetention},
}

func runContract(t *testing.T, open func(t *testing.T) *storage.DB) {
	for _, c := range contract {
		t.Run(c.name, func(t *testing.T) { c.test(t, newHarness(t, open(t))) })
	}
}

func TestOutboxSQLite(t *testing.T) { runContract(t, openSQLite) }

func TestOutboxPostgres(t *testing.T) {
	testenv.PostgresURL(t) // skip (or fail under CI) before the subtests
	runContract(t, openPostgres)
}

func testDeliversOnce(t *testing.T, h *harness) {
	h.start()
	h.enqueue(h.message("team", "g", "1"))
	row := h.waitRow("team", 0, "sent")

	h.clock.Advance(time.Hour)
	h.barrier()
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"1"}) {
		t.Errorf("team received %v, want [1]", got)
	}
	if row.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", row.Attempts)
	}
	m, err := h.servers["team"].Requests()[0].Message()
	if err != nil || m.Receiver != "team" || m.GroupKey != `{}:{group="g"}` || m.Version != "4" {
		t.Errorf("payload = %+v, %v", m, err)
	}
	rs := h.resultsFor(row.ID)
	if len(rs) != 1 || rs[0].Outcome != notifiers.OutcomeSent || rs[0].Attempt != 1 ||
		rs[0].IncidentID != 42 || rs[0].Integration != "webhook" || rs[0].Index != 0 {
		t.Errorf("results = %+v, want one sent attempt", rs)
	}
	sent := map[string]string{"integration": "webhook", "receiver": "team", "result": "sent"}
	// An attempt is counted just after its outcome is recorded.
	h.waitFor("the sent attempt counted", func() bool { return h.metric("klaxon_notifications_total", sent) > 0 })
	if got := h.metric("klaxon_notifications_total", sent); got != 1 {
		t.Errorf("klaxon_notifications_total{result=sent} = %v, want 1", got)
	}
	if got := h.metric("klaxon_notification_latency_seconds", map[string]string{"integration": "webhook"}); got == 0 {
		t.Error("no latency observed")
	}
	h.waitFor("klaxon_outbox_pending to drop to 0", func() bool {
		h.outbox.Poke()
		return h.metric("klaxon_outbox_pending", nil) == 0
	})
}

func testReceiverWithoutIntegrations(t *testing.T, h *harness) {
	h.enqueue(h.message("nobody", "g", "1"))
	if rows := h.rows(""); len(rows) != 0 {
		t.Errorf("rows = %+v, want none", rows)
	}
	err := h.db.InTx(h.ctx, func(tx *storage.Tx) error {
		return h.outbox.Enqueue(h.ctx, tx, h.message("unknown", "g", "1"))
	})
	if err == nil || !strings.Contains(err.Error(), `"unknown"`) {
		t.Errorf("Enqueue for an unknown receiver = %v, want an error naming it", err)
	}
}

func testRetriesUntilReceiverIsUp(t *testing.T, h *harness) {
	down := webhooktest.Response{Status: http.StatusServiceUnavailable, Body: "down for maintenance"}
	h.servers["team"].Script(down, down)
	h.start()
	h.enqueue(h.message("team", "g", "1"))

	for attempt := 1; attempt <= 2; attempt++ {
		var row rowState
		h.waitFor("the failed attempt", func() bool {
			row = h.rows("team")[0]
			return row.Status == "pending" && row.Attempts == attempt
		})
		if !strings.Contains(row.LastError, "503") {
			t.Errorf("last_error = %q, want the status", row.LastError)
		}
		wait := storage.Time(row.NextAttemptAt).Sub(h.clock.Now())
		if ceiling := time.Second << (attempt - 1); wait < ceiling/2 || wait > ceiling {
			t.Errorf("attempt %d: backoff %v, want between %v and %v", attempt, wait, ceiling/2, ceiling)
		}
		h.advanceTo(row)
	}
	row := h.waitRow("team", 0, "sent")
	if row.Attempts != 3 || row.LastError != "" {
		t.Errorf("row = %+v, want sent on the third attempt with last_error cleared", row)
	}
	h.clock.Advance(time.Hour)
	h.barrier()
	if n := len(h.servers["team"].Requests()); n != 3 {
		t.Errorf("team got %d requests, want 3 (two refused, one delivered)", n)
	}
	var outcomes []string
	for _, r := range h.resultsFor(row.ID) {
		outcomes = append(outcomes, r.Outcome)
	}
	if !slices.Equal(outcomes, []string{"retry", "retry", "sent"}) {
		t.Errorf("OnResult outcomes = %v, want [retry retry sent]", outcomes)
	}
	if rs := h.resultsFor(row.ID); rs[0].Err == nil || rs[0].Attempt != 1 || rs[2].Attempt != 3 {
		t.Errorf("results = %+v", rs)
	}
}

func testDoesNotRetryRejected(t *testing.T, h *harness) {
	h.servers["team"].Script(webhooktest.Response{Status: http.StatusBadRequest, Body: "bad payload"})
	h.start()
	h.enqueue(h.message("team", "g", "1"))
	row := h.waitRow("team", 0, "failed")
	if !strings.Contains(row.LastError, "400") || !strings.Contains(row.LastError, "bad payload") {
		t.Errorf("last_error = %q", row.LastError)
	}
	h.clock.Advance(time.Hour)
	h.barrier()
	if rows := h.rows("team"); rows[0].Attempts != 1 || len(h.servers["team"].Requests()) != 1 {
		t.Errorf("rejected row retried: %+v", rows)
	}
	if rs := h.resultsFor(row.ID); len(rs) != 1 || rs[0].Outcome != notifiers.OutcomeFailed {
		t.Errorf("results = %+v", rs)
	}
}

func testHonoursRetryAfter(t *testing.T, h *harness) {
	h.servers["team"].Script(webhooktest.Response{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}})
	h.start()
	attemptAt := h.clock.Now()
	h.enqueue(h.message("team", "g", "1"))
	h.waitFor("the rate-limited attempt", func() bool { r := h.rows("team")[0]; return r.Status == "pending" && r.Attempts == 1 })
	if got := storage.Time(h.rows("team")[0].NextAttemptAt); !got.Equal(attemptAt.Add(7 * time.Second)) {
		t.Errorf("next attempt at %v, want Retry-After's 7s after %v", got, attemptAt)
	}

	h.clock.Advance(6 * time.Second)
	h.barrier()
	if r := h.rows("team")[0]; r.Status != "pending" || r.Attempts != 1 {
		t.Fatalf("after 6s: %+v; want still waiting", r)
	}
	h.clock.Advance(time.Second)
	h.outbox.Poke()
	if r := h.waitRow("team", 0, "sent"); r.Attempts != 2 {
		t.Errorf("row = %+v, want sent on the second attempt", r)
	}
}

func testRedactsUnreachableURL(t *testing.T, h *harness) {
	h.start()
	h.enqueue(h.message("dead", "g", "1"))
	h.waitFor("the failed attempt", func() bool { r := h.rows("dead"); return r[0].Attempts == 1 && r[0].Status == "pending" })
	row := h.rows("dead")[0]
	if !strings.Contains(row.LastError, "<redacted>") {
		t.Errorf("last_error = %q, want the URL redacted", row.LastError)
	}
	// harness.check looks for the secrets in last_error and the logs.
}

func testSupersedesPending(t *testing.T, h *harness) {
	h.enqueue(h.message("team", "g", "1"))
	h.enqueue(h.message("team", "g", "2"))
	h.enqueue(h.message("team", "other", "other"))
	if got := statuses(h.rows("team")); !slices.Equal(got, []string{"superseded", "pending", "pending"}) {
		t.Fatalf("statuses = %v, want the first superseded", got)
	}
	// A row being sent is never superseded; the newer one waits for it.
	h.exec(`UPDATE outbox SET status = 'sending', attempts = 1, locked_until = ? WHERE id = ?`,
		storage.Millis(h.clock.Now().Add(time.Minute)), h.rows("team")[1].ID)
	h.enqueue(h.message("team", "g", "3"))
	if got := statuses(h.rows("team")); !slices.Equal(got, []string{"superseded", "sending", "pending", "pending"}) {
		t.Fatalf("statuses = %v, want the row in flight left alone", got)
	}

	h.start()
	h.waitRow("team", 2, "sent")
	h.clock.Advance(time.Minute + time.Second) // the "sending" row's lease expires
	h.outbox.Poke()
	h.waitRow("team", 3, "sent")
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"other", "2", "3"}) {
		t.Errorf("team received %v, want [other 2 3]", got)
	}
}

func testRedeliversAfterCrash(t *testing.T, h *harness) {
	h.enqueue(h.message("team", "g", "1"))
	// A worker claimed the row and died before recording the outcome.
	h.exec(`UPDATE outbox SET status = 'sending', attempts = 1, locked_until = ?`,
		storage.Millis(h.clock.Now().Add(time.Minute)))
	h.start()
	h.barrier()
	if r := h.rows("team")[0]; r.Status != "sending" || r.Attempts != 1 {
		t.Fatalf("row %+v taken over before its lease expired", r)
	}
	h.clock.Advance(time.Minute + time.Millisecond)
	h.outbox.Poke()
	row := h.waitRow("team", 0, "sent")
	if row.Attempts != 2 || len(h.servers["team"].Requests()) != 1 {
		t.Errorf("row = %+v, requests = %d; want delivered once, on attempt 2", row, len(h.servers["team"].Requests()))
	}
	if rs := h.resultsFor(row.ID); len(rs) != 1 || rs[0].Attempt != 2 {
		t.Errorf("results = %+v", rs)
	}
}

func testSendResolvedFalse(t *testing.T, h *harness) {
	h.start()
	h.enqueue(h.message("quiet", "g", "", h.alert("Down", "firing", false), h.alert("Down", "resolved", true)))
	h.waitRow("quiet", 0, "sent")
	h.enqueue(h.message("quiet", "g", "", h.alert("Down", "resolved", true)))
	row := h.waitRow("quiet", 1, "skipped")

	reqs := h.servers["quiet"].Requests()
	if len(reqs) != 1 {
		t.Fatalf("quiet got %d requests, want 1", len(reqs))
	}
	m, err := reqs[0].Message()
	if err != nil || len(m.Alerts) != 1 || m.Alerts[0].Labels["step"] != "firing" {
		t.Errorf("payload alerts = %+v, %v; want only the firing one", m.Alerts, err)
	}
	if rs := h.resultsFor(row.ID); len(rs) != 1 || rs[0].Outcome != notifiers.OutcomeSkipped {
		t.Errorf("results = %+v", rs)
	}
	skipped := map[string]string{"receiver": "quiet", "result": "skipped"}
	h.waitFor("the skipped attempt counted", func() bool { return h.metric("klaxon_notifications_total", skipped) > 0 })
	if got := h.metric("klaxon_notifications_total", skipped); got != 1 {
		t.Errorf("klaxon_notifications_total{result=skipped} = %v, want 1", got)
	}
}

func testDeliversGroupInOrder(t *testing.T, h *harness) {
	hold := make(chan struct{})
	defer close(hold)
	h.servers["team"].Script(webhooktest.Response{Hold: hold})
	h.start()
	h.enqueue(h.message("team", "g", "1"))
	h.waitFor("the first request", func() bool { return len(h.servers["team"].Requests()) == 1 })
	h.enqueue(h.message("team", "g", "2"))
	h.barrier()
	if got := statuses(h.rows("team")); !slices.Equal(got, []string{"sending", "pending"}) {
		t.Fatalf("statuses = %v; want the second waiting for the first", got)
	}
	if r := h.rows("team")[1]; r.Attempts != 0 {
		t.Fatalf("second row claimed while the first was in flight: %+v", r)
	}
	hold <- struct{}{}
	h.waitRow("team", 1, "sent")
	if got := steps(t, h.servers["team"]); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("team received %v, want [1 2]", got)
	}
	if n := h.servers["team"].MaxInFlight(); n != 1 {
		t.Errorf("%d requests of one group were in flight at once", n)
	}
}

func testFailsRemovedIntegration(t *testing.T, h *harness) {
	h.enqueue(h.message("team", "g", "1"))
	h.applyConfig(h.outbox, "quiet")
	h.start()
	row := h.waitRow("team", 0, "failed")
	if !strings.Contains(row.LastError, `receiver "team" has no webhook integration #0`) {
		t.Errorf("last_error = %q, want the reason", row.LastError)
	}
	if len(h.servers["team"].Requests()) != 0 {
		t.Error("sent through a removed integration")
	}
}

func testReplicasSendOnce(t *testing.T, h *harness) {
	h.startReplica()
	h.start()
	const n = 30
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint(i))
		h.enqueue(h.message("team", fmt.Sprint("g", i), want[i]))
	}
	h.waitFor("every row sent", func() bool { return slices.Equal(statuses(h.rows("team")), slices.Repeat([]string{"sent"}, n)) })
	got := steps(t, h.servers["team"])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("team received %v, want each of 0..%d once", got, n-1)
	}
	for _, r := range h.rows("team") {
		if r.Attempts != 1 {
			t.Errorf("row %+v: want one attempt", r)
		}
	}
}

func statuses(rows []rowState) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Status)
	}
	return out
}

func TestApplyConfigKeepsOldIntegrationsOnError(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.tmpl"), []byte(`{{ define "x" }}{{ .Oops`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad, err := config.Load([]byte("templates: [bad.tmpl]\nroute: {receiver: x}\nreceivers: [{name: x}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.outbox.ApplyConfig(bad); err == nil || !strings.Contains(err.Error(), "bad.tmpl") {
		t.Fatalf("ApplyConfig(broken template) = %v, want an error naming the file", err)
	}
	h.start()
	h.enqueue(h.message("team", "g", "1"))
	h.waitRow("team", 0, "sent")
}

// A receiver whose sends hang holds at most its share of the workers
// (half of them here); the other receivers' notifications pass it.
func testSlowReceiverDoesNotBlockOthers(t *testing.T, h *harness) {
	hold := make(chan struct{})
	defer close(hold)
	for range 4 {
		h.servers["team"].Script(webhooktest.Response{Hold: hold})
	}
	h.start()
	for i := range 4 {
		h.enqueue(h.message("team", fmt.Sprint("g", i), fmt.Sprint(i)))
	}
	h.waitFor("team's share of the workers to hang", func() bool { return len(h.servers["team"].Requests()) == 2 })
	h.enqueue(h.message("quiet", "q", "q"))
	h.waitRow("quiet", 0, "sent")
	if n := h.servers["team"].MaxInFlight(); n != 2 {
		t.Errorf("%d sends to the slow receiver in flight at once, want its share of 2", n)
	}
	for _, r := range h.rows("team") {
		if r.Status == "pending" && r.Attempts != 0 {
			t.Errorf("row %+v waiting for a worker counts an attempt", r)
		}
	}
}

func testPrunesOnlyFinishedRowsPastRetention(t *testing.T, h *harness) {
	h.start()
	h.enqueue(h.message("team", "g", "1"))
	h.waitRow("team", 0, "sent")
	h.enqueue(h.message("dead", "g", "1"))
	h.waitFor("the failing row's first attempt", func() bool {
		r := h.rows("dead")
		return len(r) == 1 && r[0].Status == "pending" && r[0].Attempts >= 1
	})
	h.exec(`INSERT INTO notification_threads (thread_key, receiver, integration, idx, ref, updated_at) VALUES
		('old', 'team', 'webhook', 0, 'r1', ?), ('fresh', 'quiet', 'webhook', 0, 'r2', ?), ('busy', 'dead', 'webhook', 0, 'r3', ?)`,
		storage.Millis(h.clock.Now()), storage.Millis(h.clock.Now().Add(notifiers.DefaultRetention)), storage.Millis(h.clock.Now()))

	// Within the retention nothing goes.
	if rows, threads, err := h.outbox.Prune(h.ctx, h.clock.Now().Add(time.Hour)); err != nil || rows != 0 || threads != 0 {
		t.Fatalf("Prune within retention = %d rows, %d threads, %v; want nothing", rows, threads, err)
	}
	rows, threads, err := h.outbox.Prune(h.ctx, h.clock.Now().Add(notifiers.DefaultRetention+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || threads != 1 {
		t.Errorf("Prune = %d rows, %d threads; want the sent row and the idle thread", rows, threads)
	}
	if got := h.rows("team"); len(got) != 0 {
		t.Errorf("sent row kept: %+v", got)
	}
	if got := h.rows("dead"); len(got) != 1 || got[0].Status != "pending" {
		t.Errorf("a row still being retried must stay, got %+v", got)
	}
	var left []string
	rs, err := h.db.Query(h.ctx, `SELECT thread_key FROM notification_threads ORDER BY thread_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			t.Fatal(err)
		}
		left = append(left, k)
	}
	if !slices.Equal(left, []string{"busy", "fresh"}) {
		t.Errorf("threads left %v, want [busy fresh] (busy has a notification in flight)", left)
	}
}
