package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
)

// timingTolerance is how far apart the same notification may arrive from
// the two systems, measured from each system's own first request. The
// issue asks for 150 ms. Both systems run the same timers from the same
// inputs; what differs is scheduling on a loaded two-core machine (two
// servers per scenario, several scenarios at once), where a goroutine
// can wait tens of milliseconds for a core.
const timingTolerance = 150 * time.Millisecond

// diffConcurrency is how many scenarios run at once: enough to keep the
// suite near half a minute, few enough that the machine's load does not
// eat the timing tolerance.
const diffConcurrency = 5

// A diffScenario is a config and a timed script applied to both systems.
type diffScenario struct {
	name   string
	want   int    // notifications expected from alertmanager: guards against both sending none
	config string // {{HOOK}} is replaced by each system's webhook URL
	steps  []diffStep
	end    time.Duration // notifications are collected until then
}

// A diffStep happens at its offset from the scenario's start.
type diffStep struct {
	at      time.Duration
	post    []diffAlert
	silence *diffSilence
	expire  string // name of a silence to expire
	reload  string // new config text
	restart bool
}

// diffAlert is an alert given as label pairs; resolved alerts carry endsAt
// = now, firing ones no endsAt (so resolve_timeout applies).
type diffAlert struct {
	labels   []string
	resolved bool
	age      time.Duration // startsAt this long before the post
}

func fire(pairs ...string) diffAlert    { return diffAlert{labels: pairs} }
func resolve(pairs ...string) diffAlert { return diffAlert{labels: pairs, resolved: true} }

// old is an alert that started age before it was first posted.
func old(age time.Duration, pairs ...string) diffAlert { return diffAlert{labels: pairs, age: age} }

// diffSilence creates a silence, or updates the one named by update.
type diffSilence struct {
	name     string
	update   string
	matchers []string
	startIn  time.Duration
	lasts    time.Duration
}

// diffSide is one system under test with its recorder and silence ids.
type diffSide struct {
	srv  *amServer
	rec  *amRecorder
	hook string
	sils map[string]string
}

func renderConfig(config, hook string) string {
	return strings.ReplaceAll(config, "{{HOOK}}", hook)
}

// TestDifferentialAgainstAlertmanager runs every scenario against the real
// alertmanager and against Klaxon and requires the same notifications,
// group by group, in the same order, each within timingTolerance.
func TestDifferentialAgainstAlertmanager(t *testing.T) {
	t.Parallel()
	sem := make(chan struct{}, diffConcurrency)
	var wg sync.WaitGroup
	// Subtests are started from goroutines (allowed by testing.T.Run)
	// instead of t.Parallel, so that the concurrency is ours and not
	// -test.parallel's (GOMAXPROCS, 2 here).
	for _, sc := range diffScenarios() {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(sc.name, func(t *testing.T) { runDifferential(t, sc) })
		})
	}
	wg.Wait()
}

func runDifferential(t *testing.T, sc diffScenario) {
	var sides []*diffSide
	klaxon := func(t *testing.T, config string) *amServer { return startKlaxonAM(t, config) }
	for _, start := range []func(*testing.T, string) *amServer{startRealAlertmanager, klaxon} {
		rec := newAMRecorder(t)
		hook := rec.srv.URL + "/hook"
		sides = append(sides, &diffSide{srv: start(t, renderConfig(sc.config, hook)), rec: rec, hook: hook, sils: map[string]string{}})
	}
	starts := map[string]time.Time{}
	begin := time.Now()
	for _, st := range sc.steps {
		time.Sleep(time.Until(begin.Add(st.at)))
		wall := time.Now()
		body := alertsBody(st.post, wall, starts)
		var wg sync.WaitGroup
		for _, sd := range sides {
			wg.Go(func() { sd.apply(t, st, wall, body) })
		}
		wg.Wait()
	}
	time.Sleep(time.Until(begin.Add(sc.end)))
	am, kl := sides[0].rec.all(), sides[1].rec.all()
	t.Logf("alertmanager:\n%sklaxon:\n%s", describe(am), describe(kl))
	if len(am) != sc.want {
		t.Errorf("alertmanager sent %d notifications, the scenario expects %d: the scenario is wrong", len(am), sc.want)
	}
	compareNotifications(t, am, kl)
}

// alertsBody renders a POST /api/v2/alerts body. An alert keeps the
// startsAt of its first firing post, as Prometheus sends it.
func alertsBody(as []diffAlert, wall time.Time, starts map[string]time.Time) string {
	if len(as) == 0 {
		return ""
	}
	type apiAlert struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   *time.Time        `json:"endsAt,omitempty"`
	}
	out := make([]apiAlert, 0, len(as))
	for _, a := range as {
		ls := map[string]string{}
		for i := 0; i+1 < len(a.labels); i += 2 {
			ls[a.labels[i]] = a.labels[i+1]
		}
		key := sortedPairs(ls)
		if _, ok := starts[key]; !ok || a.age > 0 {
			starts[key] = wall.Add(-a.age)
		}
		aa := apiAlert{Labels: ls, StartsAt: starts[key].UTC()}
		if a.resolved {
			end := wall.UTC()
			aa.EndsAt = &end
		}
		out = append(out, aa)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func (sd *diffSide) apply(t *testing.T, st diffStep, wall time.Time, body string) {
	sd.rec.markStart(time.Now())
	switch {
	case st.restart:
		sd.srv.restart()
	case st.reload != "":
		if code, msg := sd.srv.reload(renderConfig(st.reload, sd.hook)); code != http.StatusOK {
			t.Errorf("%s: reload: %d %s", sd.srv.name, code, msg)
		}
	case st.expire != "":
		if code, msg := sd.srv.request("DELETE", "/api/v2/silence/"+sd.sils[st.expire], ""); code != http.StatusOK {
			t.Errorf("%s: expire silence: %d %s", sd.srv.name, code, msg)
		}
	case st.silence != nil:
		sd.setSilence(t, st.silence, wall)
	}
	if body != "" {
		if code, msg := sd.srv.request("POST", "/api/v2/alerts", body); code != http.StatusOK {
			t.Errorf("%s: post alerts: %d %s", sd.srv.name, code, msg)
		}
	}
}

func (sd *diffSide) setSilence(t *testing.T, s *diffSilence, wall time.Time) {
	type matcher struct {
		Name    string `json:"name"`
		Value   string `json:"value"`
		IsRegex bool   `json:"isRegex"`
		IsEqual bool   `json:"isEqual"`
	}
	var ms []matcher
	for _, text := range s.matchers {
		m, err := labels.ParseMatcher(text)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, matcher{m.Name, m.Value,
			m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp,
			m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp})
	}
	body := map[string]any{
		"matchers": ms, "startsAt": wall.Add(s.startIn).UTC(), "endsAt": wall.Add(s.startIn + s.lasts).UTC(),
		"createdBy": "differential", "comment": s.name,
	}
	if s.update != "" {
		body["id"] = sd.sils[s.update]
	}
	b, _ := json.Marshal(body)
	code, resp := sd.srv.request("POST", "/api/v2/silences", string(b))
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(resp), &out) != nil {
		t.Errorf("%s: post silence: %d %s", sd.srv.name, code, resp)
		return
	}
	sd.sils[s.name] = out.SilenceID
}

// compareNotifications requires, for each group (receiver and group
// labels), the same notifications in the same order, each within
// timingTolerance of the other. Groups are compared separately because
// two groups due at the same moment may arrive in either order.
func compareNotifications(t *testing.T, am, kl []amNotification) {
	t.Helper()
	ga, gk := byGroup(am), byGroup(kl)
	keys := map[string]bool{}
	for k := range ga {
		keys[k] = true
	}
	for k := range gk {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		a, b := ga[k], gk[k]
		if len(a) != len(b) {
			t.Errorf("group %s: alertmanager sent %d notifications, klaxon %d\nalertmanager:\n%s\nklaxon:\n%s",
				k, len(a), len(b), describe(a), describe(b))
			continue
		}
		for i := range a {
			if a[i].summary() != b[i].summary() {
				t.Errorf("group %s, notification %d differs:\nalertmanager: %s\nklaxon:       %s", k, i, a[i].summary(), b[i].summary())
			}
			if d := a[i].At - b[i].At; d > timingTolerance || d < -timingTolerance {
				t.Errorf("group %s, notification %d: alertmanager at %v, klaxon at %v (tolerance %v)", k, i, a[i].At, b[i].At, timingTolerance)
			}
			if a[i].GroupKey != b[i].GroupKey {
				t.Logf("group key differs: alertmanager %q, klaxon %q", a[i].GroupKey, b[i].GroupKey)
			}
		}
	}
}

func byGroup(ns []amNotification) map[string][]amNotification {
	out := map[string][]amNotification{}
	for _, n := range ns {
		k := n.Receiver + sortedPairs(n.GroupLabels)
		out[k] = append(out[k], n)
	}
	for _, s := range out {
		sort.SliceStable(s, func(i, j int) bool { return s[i].At < s[j].At })
	}
	return out
}

func describe(ns []amNotification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "  at %v: %s\n", n.At.Round(time.Millisecond), n.summary())
	}
	return b.String()
}
