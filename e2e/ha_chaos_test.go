package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxon-dev/klaxon/internal/fakes"
	"github.com/klaxon-dev/klaxon/internal/testenv"
	"github.com/klaxon-dev/klaxon/notifiers/pagerduty"
)

// The chaos scenario's shape: how long alerts stream in, how often a
// replica is killed, when PostgreSQL restarts.
const (
	chaosGroups   = 24
	chaosDuration = 70 * time.Second
	chaosKillEach = 15 * time.Second
	chaosPGAt     = 37 * time.Second
	chaosPGDown   = 3 * time.Second
	chaosPostEach = 150 * time.Millisecond
	chaosLease    = "3s" // --cluster.lease-duration
	chaosNotify   = "6s" // --notifier.lease: a send cut short by a kill is retried after this
)

// chaosAlert is one alert of the stream and what became of it.
type chaosAlert struct {
	a        alert
	anchor   bool // the group's first alert: firing until the end
	resolved bool // a resolution was accepted
}

// chaosStream posts alerts for many groups to random replicas, as
// Prometheus would (retrying on errors and 503 until accepted), and
// resolves some of those already notified.
type chaosStream struct {
	t    *testing.T
	urls []string
	hook *webhook

	mu       sync.Mutex
	alerts   map[string]*chaosAlert
	order    []string
	failures int // posts answered with an error or not at all, then retried
}

// post delivers alerts to some replica, retrying until one accepts them.
func (s *chaosStream) post(as ...alert) bool {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		url := s.urls[rand.IntN(len(s.urls))]
		if code, _ := postTo(url, as); code == http.StatusOK {
			return true
		}
		s.mu.Lock()
		s.failures++
		s.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// run streams until stop is closed.
func (s *chaosStream) run(stop <-chan struct{}, failed chan<- string) {
	n := 0
	for {
		select {
		case <-stop:
			return
		case <-time.After(chaosPostEach):
		}
		n++
		if n%4 == 0 {
			if a := s.pickResolvable(); a != nil {
				if !s.post(a.a.resolved()) {
					failed <- "resolution of " + alertKey(a.a.Labels) + " never accepted"
					return
				}
				s.mu.Lock()
				a.resolved = true
				s.mu.Unlock()
				continue
			}
		}
		g := rand.IntN(chaosGroups)
		a := firing("alertname", fmt.Sprintf("Chaos%02d", g), "instance", fmt.Sprintf("i%04d", n))
		key := alertKey(a.Labels)
		s.mu.Lock()
		_, seen := s.alerts[fmt.Sprintf("Chaos%02d/anchor", g)]
		s.mu.Unlock()
		ca := &chaosAlert{a: a}
		if !seen {
			// Each group's first alert fires to the end, so that each
			// group is one incident and one PagerDuty incident.
			a.Labels["instance"] = "anchor"
			key = alertKey(a.Labels)
			ca = &chaosAlert{a: a, anchor: true}
		}
		if !s.post(a) {
			failed <- key + " never accepted"
			return
		}
		s.mu.Lock()
		s.alerts[key] = ca
		s.order = append(s.order, key)
		s.mu.Unlock()
	}
}

// pickResolvable returns a firing alert, not a group's anchor, that some
// notification already showed firing.
func (s *chaosStream) pickResolvable() *chaosAlert {
	firing := s.delivered("firing")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, i := range rand.Perm(len(s.order)) {
		a := s.alerts[s.order[i]]
		if !a.anchor && !a.resolved && firing[alertKey(a.a.Labels)] {
			return a
		}
	}
	return nil
}

// delivered lists the alerts that some webhook notification showed with
// status.
func (s *chaosStream) delivered(status string) map[string]bool {
	out := map[string]bool{}
	for _, n := range s.hook.all() {
		for _, a := range n.Alerts {
			if a.Status == status {
				out[alertKey(a.Labels)] = true
			}
		}
	}
	return out
}

// missing lists the alerts whose firing, or resolution, no webhook
// notification showed.
func (s *chaosStream) missing() []string {
	firing, resolved := s.delivered("firing"), s.delivered("resolved")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, k := range s.order {
		a := s.alerts[k]
		if !firing[k] && !resolved[k] {
			out = append(out, k+" (firing)")
		}
		if a.resolved && !resolved[k] {
			out = append(out, k+" (resolved)")
		}
	}
	return out
}

// TestHAChaos runs three replicas on one PostgreSQL under a steady stream
// of alerts for many groups, posted to random replicas, while a random
// replica is SIGKILLed and restarted every 15 seconds and PostgreSQL
// restarts once. Every notification that was due must be delivered;
// no group may have two incidents; duplicates are counted: none at
// PagerDuty (dedup key), at most one per kill at the plain webhook.
func TestHAChaos(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pd := fakes.NewPagerDuty(pdRoutingKey)
	pdSrv := httptest.NewServer(pd)
	t.Cleanup(pdSrv.Close)
	e := haEnv(t, pg, func(e *env) string {
		return fmt.Sprintf(`route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: oncall
    pagerduty_configs:
      - routing_key: %s
        url: %s/v2/enqueue
    webhook_configs:
      - url: %s/hook
        send_resolved: true
`, pdRoutingKey, pdSrv.URL, e.hook.URL())
	})
	flags := []string{"--cluster.lease-duration", chaosLease, "--notifier.lease", chaosNotify}
	var reps []*klaxon
	var urls []string
	for range 3 {
		k, url := e.replica(flags...)
		reps, urls = append(reps, k), append(urls, url)
	}
	waitSettled(t, urls)
	// Peers are named by host name and port.
	var ports []string
	for _, url := range urls {
		ports = append(ports, url[strings.LastIndexByte(url, ':'):])
	}
	slices.Sort(ports)
	waitLong(t, time.Minute, "every replica's /api/v2/status to list the three as peers, ready", func() bool {
		for _, url := range urls {
			peers, status := clusterStatus(url, e.adminToken())
			var got []string
			for _, p := range peers {
				got = append(got, p[strings.LastIndexByte(p, ':'):])
			}
			slices.Sort(got)
			if !slices.Equal(got, ports) || status != "ready" {
				return false
			}
		}
		return true
	})

	s := &chaosStream{t: t, urls: urls, hook: e.hook, alerts: map[string]*chaosAlert{}}
	stop, failed := make(chan struct{}), make(chan string, 1)
	streamDone := make(chan struct{})
	go func() { s.run(stop, failed); close(streamDone) }()

	start := time.Now()
	kills, pgRestarted := 0, false
	for next := chaosKillEach; next < chaosDuration; next += chaosKillEach {
		if !pgRestarted && next > chaosPGAt {
			time.Sleep(time.Until(start.Add(chaosPGAt)))
			t.Logf("%5.1fs: restarting PostgreSQL", time.Since(start).Seconds())
			pg.Stop()
			time.Sleep(chaosPGDown)
			pg.Start()
			pgRestarted = true
			for i, k := range reps {
				if !k.running() {
					t.Fatalf("replica %d exited during the PostgreSQL restart: %v", i, k.state)
				}
			}
		}
		time.Sleep(time.Until(start.Add(next)))
		select {
		case msg := <-failed:
			t.Fatal(msg)
		default:
		}
		i := rand.IntN(len(reps))
		reps[i].kill()
		kills++
		how := "restarted on its storage directory: takes its slots back at once"
		if kills%2 == 0 {
			// As a new pod: a new replica id, so the others take the dead
			// one's slots over when its lease runs out.
			how = "restarted as a new replica: the others take its slots over after the lease"
			freshStorage(reps[i], filepath.Join(e.dir, fmt.Sprintf("replica-%d-run-%d", i, kills)))
		}
		t.Logf("%5.1fs: SIGKILL replica %d (%s), %s", time.Since(start).Seconds(), i, urls[i], how)
		reps[i].startAgain()
	}
	time.Sleep(time.Until(start.Add(chaosDuration)))
	close(stop)
	<-streamDone
	select {
	case msg := <-failed:
		t.Fatal(msg)
	default:
	}

	// Every accepted alert and resolution reaches the receiver.
	waitLong(t, 2*time.Minute, "every alert and resolution delivered", func() bool { return len(s.missing()) == 0 })

	// The end: everything resolves, every group's end is delivered too.
	var all []alert
	s.mu.Lock()
	for _, k := range s.order {
		if a := s.alerts[k]; !a.resolved {
			all = append(all, a.a.resolved())
			a.resolved = true
		}
	}
	s.mu.Unlock()
	if !s.post(all...) {
		t.Fatal("final resolutions never accepted")
	}
	waitLong(t, 2*time.Minute, "every resolution delivered and the outbox empty", func() bool {
		return len(s.missing()) == 0 &&
			countRows(t, pg.URL(), `SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')`) == 0
	})
	unresolved := func() []string {
		var out []string
		for g := range chaosGroups {
			group := fmt.Sprintf(`{}:{alertname="Chaos%02d"}`, g)
			if pd.State(pagerduty.DedupKey(group)) != "resolved" {
				out = append(out, group)
			}
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for len(unresolved()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, group := range unresolved() {
		key := pagerduty.DedupKey(group)
		var actions []string
		for _, ev := range pd.Events() {
			if ev.DedupKey == key {
				actions = append(actions, ev.EventAction)
			}
		}
		var rows []string
		for _, n := range e.hook.all() {
			if n.GroupKey != group {
				continue
			}
			var parts []string
			for _, a := range n.Alerts {
				parts = append(parts, a.Labels["instance"]+"="+a.Status)
			}
			rows = append(rows, fmt.Sprintf("webhook %s %s %v", n.At.Format("15:04:05.000"), n.Status, parts))
		}
		for _, ev := range pd.Events() {
			if ev.DedupKey == key {
				rows = append(rows, "pagerduty "+ev.EventAction+" "+string(ev.Raw))
			}
		}
		query(t, pg.URL(), `SELECT e.at, e.kind, e.message FROM incident_events e JOIN incidents i ON i.id = e.incident_id WHERE i.group_key = $1 ORDER BY e.id DESC LIMIT 8`,
			[]any{group}, func(r pgx.Rows) error {
				var at int64
				var kind, msg string
				err := r.Scan(&at, &kind, &msg)
				rows = append(rows, fmt.Sprintf("event %d %s %s", at, kind, msg))
				return err
			})
		t.Errorf("group %s not resolved at PagerDuty: events %v; outbox rows:\n%s", group, actions, strings.Join(rows, "\n"))
	}

	// Count.
	hooks := e.hook.all()
	seen, hookDups := map[string]int{}, 0
	for _, n := range hooks {
		var parts []string
		for _, a := range n.Alerts {
			parts = append(parts, alertKey(a.Labels)+"="+a.Status)
		}
		slices.Sort(parts)
		k := n.GroupKey + " " + n.Status + " " + strings.Join(parts, ",")
		if seen[k]++; seen[k] > 1 {
			hookDups++
		}
	}
	// An alert shown resolved must not be shown firing again: it was
	// never posted firing again.
	resolvedSeen, resurrected := map[string]bool{}, 0
	for _, n := range hooks {
		for _, a := range n.Alerts {
			k := alertKey(a.Labels)
			switch {
			case a.Status == "resolved":
				resolvedSeen[k] = true
			case resolvedSeen[k]:
				resurrected++
			}
		}
	}
	pdIncidents, pdSends, pdDups := map[string]int{}, 0, 0
	state := map[string]string{}
	for _, ev := range pd.Events() {
		pdSends++
		switch ev.EventAction {
		case "trigger":
			if state[ev.DedupKey] != "triggered" {
				pdIncidents[ev.DedupKey]++
				if pdIncidents[ev.DedupKey] > 1 {
					pdDups++
				}
			}
			state[ev.DedupKey] = "triggered"
		case "resolve":
			state[ev.DedupKey] = "resolved"
		}
	}
	incidentsPerGroup := map[string]int{}
	query(t, pg.URL(), `SELECT group_key, COUNT(*) FROM incidents GROUP BY group_key`, nil, func(r pgx.Rows) error {
		var key string
		var n int
		err := r.Scan(&key, &n)
		incidentsPerGroup[key] = n
		return err
	})
	twice := 0
	for _, n := range incidentsPerGroup {
		if n > 1 {
			twice++
		}
	}
	s.mu.Lock()
	posted, retried := len(s.order), s.failures
	s.mu.Unlock()
	t.Logf("chaos: %d alerts in %d groups over %v, %d SIGKILLs, 1 PostgreSQL restart, %d posts retried",
		posted, chaosGroups, chaosDuration, kills, retried)
	t.Logf("delivered: %d webhook notifications, %d PagerDuty events; lost: %d", len(hooks), pdSends, len(s.missing()))
	t.Logf("duplicates: webhook %d (limit %d, one per kill), PagerDuty incidents %d; groups with two incidents: %d; resolved alerts notified firing again: %d",
		hookDups, kills, pdDups, twice, resurrected)
	if resurrected != 0 {
		t.Errorf("%d times a resolved alert was notified firing again", resurrected)
	}

	if len(incidentsPerGroup) != chaosGroups || twice != 0 {
		t.Errorf("incidents per group: %v; want one for each of %d groups", incidentsPerGroup, chaosGroups)
	}
	if len(pdIncidents) != chaosGroups || pdDups != 0 {
		t.Errorf("PagerDuty incidents per dedup key: %v; want one for each of %d groups", pdIncidents, chaosGroups)
	}
	if hookDups > kills {
		t.Errorf("%d duplicate webhook notifications after %d kills", hookDups, kills)
	}
	for i, k := range reps {
		if !k.running() {
			t.Errorf("replica %d is not running: %v", i, k.state)
		}
	}
}
