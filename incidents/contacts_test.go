package incidents

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/notifiers/receiver"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

// apiPagingConfig routes team's incidents through a policy that is
// created through the API, as is the user it pages.
const apiPagingConfig = `route:
  receiver: team
receivers:
  - name: team
incidents:
  escalation:
    - {receiver: team, policy: api-primary}
`

// A user created through the API, with no reload since, is paged through
// their contact method: the outbox resolves the receiver from the
// database, when the page is queued and again, on a replica that never
// saw it, when it is sent.
func TestPagingAUserCreatedThroughTheAPI(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		got := make(chan string, 4)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			got <- string(body)
		}))
		defer hook.Close()

		cfg, err := config.Load([]byte(apiPagingConfig), ".")
		if err != nil {
			t.Fatal(err)
		}
		clk := clockwork.NewFakeClockAt(t0)
		oc := oncall.New(oncall.Options{DB: db, Clock: clk})
		if err := oc.ApplyConfig(ctx, &cfg.OnCall); err != nil {
			t.Fatal(err)
		}
		newOutbox := func() *notifiers.Outbox {
			o := notifiers.NewOutbox(notifiers.OutboxOptions{DB: db, Build: receiver.Build, Resolve: ContactResolver(oc)})
			if err := o.ApplyConfig(WithContactReceivers(cfg)); err != nil {
				t.Fatal(err)
			}
			return o
		}
		outbox := newOutbox()
		s := New(Options{DB: db, Clock: clk, Outbox: outbox, Registerer: prometheus.NewRegistry(), OnCall: oc})
		if err := s.ApplyConfig(cfg); err != nil {
			t.Fatal(err)
		}

		carol := oncall.User{Name: "carol", Contacts: []oncall.ContactMethod{{Type: oncall.Webhook, To: hook.URL + "/carol"}}}
		if _, err := oc.PutUser(ctx, carol, true); err != nil {
			t.Fatal(err)
		}
		pol := oncall.Policy{Name: "api-primary", Steps: []oncall.Step{
			{Delay: model.Duration(5 * time.Minute), Targets: []oncall.Target{{User: "carol"}}},
		}}
		if _, err := oc.PutPolicy(ctx, pol, true); err != nil {
			t.Fatal(err)
		}

		f := &fixture{t: t, db: db, s: s, clk: clk}
		f.flush(router.ReasonFirst, t0, alertAt("db1", t0, time.Time{}))
		inc := f.only()
		if ev := eventsOf(inc, "page_failed"); len(ev) > 0 {
			t.Fatalf("paging carol failed: %v", ev)
		}
		if ev := eventsOf(inc, "escalated"); len(ev) != 1 || !strings.Contains(ev[0], "paged carol (webhook)") {
			t.Fatalf("escalated events %v, want carol paged by webhook", ev)
		}
		var rows int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE incident_id = ? AND receiver = ?`,
			inc.ID, ContactReceiver("carol", carol.Contacts[0])).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("%d outbox rows for carol's webhook (%v), want 1", rows, err)
		}

		// Another replica's outbox, which has never built carol's
		// receiver, sends the page.
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); newOutbox().Run(runCtx) }()
		defer func() { stop(); <-done }()
		select {
		case body := <-got:
			if !strings.Contains(body, `"alertname":"Down"`) {
				t.Errorf("carol's webhook got %s", body)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("carol's webhook was not called")
		}
	})
}

// The resolver knows only current contact methods of existing users.
func TestContactResolverFollowsTheDatabase(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		cfg, err := config.Load([]byte(apiPagingConfig), ".")
		if err != nil {
			t.Fatal(err)
		}
		oc := oncall.New(oncall.Options{DB: db})
		resolve := ContactResolver(oc)
		old := oncall.ContactMethod{Type: oncall.Webhook, To: "https://hooks.example.com/dave"}
		name := ContactReceiver("dave", old)
		if rc, err := resolve(ctx, cfg, name); err != nil || rc != nil {
			t.Fatalf("unknown user: %v, %v; want nothing", rc, err)
		}
		if _, err := oc.PutUser(ctx, oncall.User{Name: "dave", Contacts: []oncall.ContactMethod{old}}, true); err != nil {
			t.Fatal(err)
		}
		rc, err := resolve(ctx, cfg, name)
		if err != nil || rc == nil || rc.Name != name || len(rc.WebhookConfigs) != 1 {
			t.Fatalf("dave's webhook: %+v, %v", rc, err)
		}
		moved := oncall.ContactMethod{Type: oncall.Webhook, To: "https://hooks.example.com/dave2"}
		if _, err := oc.PutUser(ctx, oncall.User{Name: "dave", Contacts: []oncall.ContactMethod{moved}}, false); err != nil {
			t.Fatal(err)
		}
		if rc, err := resolve(ctx, cfg, name); err != nil || rc != nil {
			t.Fatalf("removed contact method: %v, %v; want nothing", rc, err)
		}
		email := oncall.ContactMethod{Type: oncall.Email, To: "dave@example.com"}
		if _, err := oc.PutUser(ctx, oncall.User{Name: "dave", Contacts: []oncall.ContactMethod{email}}, false); err != nil {
			t.Fatal(err)
		}
		if rc, err := resolve(ctx, cfg, ContactReceiver("dave", email)); err != nil || rc != nil {
			t.Fatalf("email without global SMTP settings: %v, %v; want nothing", rc, err)
		}
		if rc, err := resolve(ctx, cfg, "team"); err != nil || rc != nil {
			t.Fatalf("not a contact receiver: %v, %v; want nothing", rc, err)
		}
	})
}

// eventsOf returns the messages of inc's events of kind.
func eventsOf(inc *Incident, kind string) []string {
	var out []string
	for _, e := range inc.Timeline {
		if e.Kind == kind {
			out = append(out, e.Message)
		}
	}
	return out
}
