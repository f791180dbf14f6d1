package incidents

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

var (
	aliceEmail = ContactReceiver("alice", oncall.ContactMethod{Type: oncall.Email, To: "alice@example.com"})
	bobHook    = ContactReceiver("bob", oncall.ContactMethod{Type: oncall.Webhook, To: "https://hooks.example.com/bob"})
)

func TestEscalationPagesStepByStepUntilAck(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		// Step 1 runs with the incident: the receiver and alice, who is
		// on call for "day".
		if got := f.receivers(0); !slices.Equal(got, []string{"team", aliceEmail}) {
			t.Fatalf("first flush queued to %v, want alice's email and team", got)
		}
		n := len(f.q.msgs)
		f.runDue(t0.Add(4 * time.Minute))
		if len(f.q.msgs) != n {
			t.Fatalf("before the delay: queued %v", f.receivers(n))
		}
		// No ack after 5 minutes: step 2 pages bob and the team.
		f.runDue(t0.Add(5 * time.Minute))
		if got := f.receivers(n); !slices.Equal(got, []string{bobHook, "team"}) {
			t.Fatalf("step 2 queued to %v, want bob's webhook and team", got)
		}
		id := f.only().ID
		if _, err := f.s.Ack(ctx, id, Actor{Name: "bob", Via: "api"}); err != nil {
			t.Fatal(err)
		}
		// Acknowledged: the policy is exhausted later without paging
		// anyone (and the ack timeout is 30m away).
		n = len(f.q.msgs)
		f.runDue(t0.Add(20 * time.Minute))
		if len(f.q.msgs) != n {
			t.Errorf("after the ack: queued %v", f.receivers(n))
		}
		got := kinds(f.only())
		want := []string{"escalation_started", "escalated", "escalated", "acknowledged"}
		if !isSubsequence(want, got) {
			t.Errorf("timeline %v lacks %v in order", got, want)
		}
	})
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestEscalationResumesAfterRestart(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		// A new Klaxon on the same database, as after a restart: the next
		// step's due time is in the database.
		g := newWorkFixture(t, db, workConfig)
		g.clk.Advance(5 * time.Minute)
		next, err := g.s.RunDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := g.receivers(0); !slices.Equal(got, []string{bobHook, "team"}) {
			t.Errorf("restarted service queued %v, want step 2", got)
		}
		if want := t0.Add(15 * time.Minute); !next.Equal(want) {
			t.Errorf("next due %v, want %v (step 2's delay)", next, want)
		}
		// The first service does not run the step again.
		f.clk.Advance(5 * time.Minute)
		n := len(f.q.msgs)
		if _, err := f.s.RunDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(f.q.msgs) != n {
			t.Errorf("step ran twice: %v", f.receivers(n))
		}
	})
}

func TestUnackResumesEscalation(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		id := f.only().ID
		if _, err := f.s.Ack(ctx, id, Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Minute)
		if _, err := f.s.Unack(ctx, id, Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		n := len(f.q.msgs)
		f.runDue(t0.Add(time.Minute))
		if got := f.receivers(n); !slices.Equal(got, []string{bobHook, "team"}) {
			t.Errorf("after un-ack queued %v, want step 2 at once", got)
		}
	})
}

func TestAckTimeoutPagesAgain(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		id := f.only().ID
		if _, err := f.s.Ack(ctx, id, Actor{Name: "alice", Via: "api"}); err != nil {
			t.Fatal(err)
		}
		n := len(f.q.msgs)
		f.runDue(t0.Add(29 * time.Minute))
		if len(f.q.msgs) != n {
			t.Fatalf("before the ack timeout: queued %v", f.receivers(n))
		}
		f.runDue(t0.Add(30 * time.Minute))
		inc := f.only()
		if inc.Status != Triggered {
			t.Fatalf("after the ack timeout: %s, want triggered", inc.Status)
		}
		got := f.receivers(n)
		// The receiver is paged again, then the escalation goes on from the
		// step last run (step 1: alice).
		if !slices.Equal(got, []string{"team", aliceEmail}) {
			t.Errorf("ack timeout queued %v", got)
		}
		if m := f.q.msgs[n]; m.Reason != "ack_timeout" || m.Ack != nil {
			t.Errorf("re-page = %s with ack %v, want ack_timeout without ack", m.Reason, m.Ack)
		}
		if !slices.Contains(kinds(inc), "ack_timeout") {
			t.Errorf("timeline %v lacks ack_timeout", kinds(inc))
		}
	})
}

func TestScheduleWithNobodyOnCallIsOnTheTimeline(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		text := strings.Replace(workConfig, "{receiver: team, policy: primary}", "{receiver: team, policy: nobody}", 1)
		f := newWorkFixture(t, db, text) // t0 is a Wednesday
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		var msg string
		for _, e := range f.only().Timeline {
			if e.Kind == "escalation_step_empty" {
				msg = e.Message
			}
		}
		if !strings.Contains(msg, "weekends") || !strings.Contains(msg, "nobody is on call") {
			t.Errorf("timeline %v: step without anyone on call not recorded (%q)", kinds(f.only()), msg)
		}
		// A rotation without participants is refused when loading.
		bad := strings.Replace(workConfig, "participants: [alice]", "participants: []", 1)
		if _, err := config.Load([]byte(bad), "."); err == nil || !strings.Contains(err.Error(), "participant") {
			t.Errorf("schedule without participants: err = %v", err)
		}
	})
}

func TestAckTokens(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newWorkFixture(t, db, workConfig)
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		id := f.only().ID
		tok, err := f.s.NewAckToken(id, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.CheckAckToken(ctx, tok); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		if f.only().Status != Triggered {
			t.Fatal("checking a token acknowledged")
		}
		for name, bad := range map[string]string{
			"tampered":  tok[:len(tok)-2] + "xx",
			"no dot":    strings.ReplaceAll(tok, ".", ""),
			"other key": signedWith(t, "other", id),
		} {
			if _, err := f.s.AckWithToken(ctx, bad); !errors.Is(err, ErrTokenInvalid) {
				t.Errorf("%s token: err = %v, want ErrTokenInvalid", name, err)
			}
		}
		inc, err := f.s.AckWithToken(ctx, tok)
		if err != nil || inc.Status != Acknowledged || inc.AckedBy.Name != "alice" || inc.AckedBy.Via != "email" {
			t.Fatalf("AckWithToken = %+v, %v", inc, err)
		}
		if _, err := f.s.AckWithToken(ctx, tok); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("reused token: err = %v, want ErrTokenUsed", err)
		}
		if _, err := f.s.CheckAckToken(ctx, tok); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("reused token check: err = %v, want ErrTokenUsed", err)
		}
		old, _ := f.s.NewAckToken(id, "bob")
		f.clk.Advance(25 * time.Hour)
		if _, err := f.s.AckWithToken(ctx, old); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("expired token: err = %v, want ErrTokenExpired", err)
		}
		unknown, _ := f.s.NewAckToken(999, "bob")
		if _, err := f.s.AckWithToken(ctx, unknown); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown incident: err = %v, want ErrNotFound", err)
		}
	})
}

// signedWith is a token for id signed with another secret.
func signedWith(t *testing.T, secret string, id int64) string {
	cfg, err := config.Load([]byte(strings.Replace(workConfig, "s3cret", secret, 1)), ".")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Registerer: prometheus.NewRegistry()})
	if err := s.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	tok, err := s.NewAckToken(id, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
