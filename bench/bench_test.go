package bench

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, c := range []struct {
		values []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(3, 1, 2), 50, 2 * time.Millisecond},
		{ms(3, 1, 2), 100, 3 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 99.5, 100 * time.Millisecond},
		{ms(hundred...), 1, 1 * time.Millisecond},
	} {
		if got := Percentile(c.values, c.p); got != c.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(c.values), c.p, got, c.want)
		}
	}
	// Lost probes count as slower than any other.
	withLost := append(ms(hundred[:98]...), Lost, Lost)
	if got := Percentile(withLost, 98); got != 100*time.Millisecond {
		t.Errorf("p98 with 2 of 100 lost = %v, want 100ms", got)
	}
	if got := Percentile(withLost, 99); got != Lost {
		t.Errorf("p99 with 2 of 100 lost = %v, want Lost", got)
	}
	in := ms(3, 1, 2)
	Percentile(in, 50)
	if in[0] != 3*time.Millisecond {
		t.Error("Percentile sorted its argument")
	}
}

func distinct(alerts []Alert, label string) map[string]int {
	out := map[string]int{}
	for _, a := range alerts {
		out[a.label(label)]++
	}
	return out
}

func TestPopulation(t *testing.T) {
	now := time.Now()
	alerts := Population(100_000, 10_000, now, now.Add(time.Hour))
	if len(alerts) != 100_000 {
		t.Fatalf("%d alerts, want 100000", len(alerts))
	}
	groups := distinct(alerts, "group")
	if len(groups) != 10_000 {
		t.Fatalf("%d groups, want 10000", len(groups))
	}
	for g, n := range groups {
		if n != 10 {
			t.Fatalf("group %s has %d alerts, want 10", g, n)
		}
	}
	if n := len(distinct(alerts, "instance")); n != 100_000 {
		t.Fatalf("%d distinct instances, want 100000", n)
	}
}

func TestMix(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := NewMix(10_000, 1_000, 5, 5, start)

	initial := m.Initial(start)
	if len(initial) != 10_000 || len(distinct(initial, "instance")) != 10_000 {
		t.Fatalf("initial window: %d alerts, %d distinct", len(initial), len(distinct(initial, "instance")))
	}
	if n := len(distinct(initial, "group")); n != 1_000 {
		t.Fatalf("initial window in %d groups, want 1000", n)
	}

	now := start.Add(time.Minute)
	var sent []Alert
	for range 1_000 {
		sent = append(sent, m.Next(BatchSize, now)...)
	}
	initialSet := distinct(initial, "instance")
	var resolved int
	fresh := map[string]bool{}
	for _, a := range sent {
		inst := a.label("instance")
		switch {
		case a.Resolved(now):
			resolved++
		case initialSet[inst] == 0:
			fresh[inst] = true
			if !a.StartsAt.Equal(now) {
				t.Fatalf("new alert %s starts at %v, want %v", inst, a.StartsAt, now)
			}
		case !a.StartsAt.Equal(start) || !a.EndsAt.Equal(now.Add(validFor)):
			t.Fatalf("re-sent alert %v: startsAt %v endsAt %v, want the original start and now+%v",
				a.Labels, a.StartsAt, a.EndsAt, validFor)
		}
	}
	// 5% resolve; 5% start, but the first ones only once the window has room.
	if resolved != 5_000 || len(fresh) < 4_990 || len(fresh) > 5_000 {
		t.Errorf("of 100000 sent, %d resolved and %d new, want 5000 and about 5000", resolved, len(fresh))
	}
	lo, hi := m.Window()
	if size := hi - lo; size < 10_000-5 || size > 10_000 {
		t.Errorf("active window holds %d alerts, want about 10000", size)
	}
	if n := len(distinct(sent, "group")); n != 1_000 {
		t.Errorf("alerts sent in %d groups, want 1000", n)
	}
}

func TestAppendJSON(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
	alerts := []Alert{
		benchAlert(42, 1000, start, start.Add(validFor)),
		probeAlert(`odd "id"`, start),
		{Labels: []Label{{"alertname", "NoTimes"}}},
	}
	var got []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    *time.Time        `json:"startsAt"`
		EndsAt      *time.Time        `json:"endsAt"`
	}
	body := AppendJSON(nil, alerts)
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if len(got) != 3 {
		t.Fatalf("%d alerts decoded, want 3", len(got))
	}
	if g := got[0].Labels["group"]; g != "g00042" {
		t.Errorf("group label %q, want g00042", g)
	}
	if !got[0].StartsAt.Equal(start) || !got[0].EndsAt.Equal(start.Add(validFor)) {
		t.Errorf("times %v %v, want %v %v", got[0].StartsAt, got[0].EndsAt, start, start.Add(validFor))
	}
	if id := got[1].Labels[ProbeLabel]; id != `odd "id"` {
		t.Errorf("probe label %q", id)
	}
	if got[2].StartsAt != nil || got[2].EndsAt != nil {
		t.Error("zero times were written")
	}
}

func TestConfigLoadsInAlertmanager(t *testing.T) {
	cfg, err := amconfig.Load(Config("http://127.0.0.1:1234"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Route.Routes) != 1 || cfg.Route.Routes[0].GroupWait == nil || *cfg.Route.Routes[0].GroupWait != 0 {
		t.Errorf("probe route: %+v, want one sub-route with group_wait 0s", cfg.Route.Routes)
	}
	if got := string(cfg.Receivers[1].WebhookConfigs[0].URL); got != "http://127.0.0.1:1234/probe" {
		t.Errorf("probe receiver URL %s", got)
	}
}

func TestReceiverRecordsFirstArrival(t *testing.T) {
	r, err := StartReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	post := func(id string) {
		body := `{"version":"4","alerts":[{"labels":{"probe":"` + id + `"}}]}`
		resp, err := http.Post(r.URL+"/probe", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	before := time.Now()
	post("a")
	first, ok := r.Arrival("a")
	if !ok || first.Before(before) {
		t.Fatalf("arrival of a: %v %v", first, ok)
	}
	post("a")
	if again, _ := r.Arrival("a"); !again.Equal(first) {
		t.Error("a second notification moved the arrival time")
	}
	if _, ok := r.Arrival("b"); ok {
		t.Error("b arrived without being sent")
	}
}

func TestParseProc(t *testing.T) {
	rss, peak, err := parseStatus(strings.NewReader("Name:\tklaxon\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n"))
	if err != nil || rss != 100<<20 || peak != 200<<20 {
		t.Errorf("parseStatus = %d, %d, %v; want 100 MiB, 200 MiB", rss, peak, err)
	}
	cpu, err := parseStat("1234 (odd name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3")
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStat = %v, %v; want 3s", cpu, err)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{formatInt(0), "0"},
		{formatInt(999), "999"},
		{formatInt(1000), "1,000"},
		{formatInt(1234567), "1,234,567"},
		{formatInt(-12345), "-12,345"},
		{formatDuration(2600 * time.Microsecond), "2.60 ms"},
		{formatDuration(148400 * time.Microsecond), "148.4 ms"},
		{formatDuration(1500 * time.Millisecond), "1.50 s"},
		{formatRatio(0.456), "0.46×"},
		{formatRatio(20.4), "20×"},
		{mib(310 << 20), "310 MiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTableMarkdown(t *testing.T) {
	tab := Table{Header: []string{"figure", "a"}, Rows: [][]string{{"x", "1 ✓"}, {"longer", "22"}}}
	want := "" +
		"| figure | a   |\n" +
		"|--------|-----|\n" +
		"| x      | 1 ✓ |\n" +
		"| longer | 22  |\n"
	if got := tab.Markdown(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestResultsTable(t *testing.T) {
	r := &Results{
		Options: Options{Targets: []string{Alertmanager, SQLite, Postgres}, Workers: 8},
		Sizes:   FullSizes,
		Ingest: map[string]*IngestResult{
			SQLite: {Rate: 150_000}, Postgres: {Rate: 50_000}, Alertmanager: {Rate: 70_000},
		},
		Memory: map[string]*MemoryResult{
			SQLite: {RSS: 100 << 20}, Alertmanager: {RSS: 310 << 20},
		},
		Startup: map[string]*StartupResult{
			SQLite:       {Ready: 400 * time.Millisecond, Notified: 450 * time.Millisecond, AlertsHeld: 100_000},
			Postgres:     {Ready: 1200 * time.Millisecond, Notified: 1300 * time.Millisecond, AlertsHeld: 100_000},
			Alertmanager: {Ready: 50 * time.Millisecond, Notified: 60 * time.Millisecond, AlertsHeld: 0},
		},
	}
	tab := r.Table()
	wantHeader := []string{"figure", "Klaxon SQLite", "Klaxon PostgreSQL", "Alertmanager", "SQLite/AM", "PostgreSQL/AM", "target"}
	if strings.Join(tab.Header, "|") != strings.Join(wantHeader, "|") {
		t.Fatalf("header %q, want %q", tab.Header, wantHeader)
	}
	row := func(prefix string) []string {
		for _, row := range tab.Rows {
			if strings.HasPrefix(row[0], prefix) {
				return row
			}
		}
		t.Fatalf("no row %q in\n%s", prefix, tab.Markdown())
		return nil
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got[1:len(want)+1], "|") != strings.Join(want, "|") {
			t.Errorf("row %q: got %q, want %q", got[0], got[1:len(want)+1], want)
		}
	}
	check(row("ingest: accepted"), "150,000", "50,000", "70,000", "2.14× ✓", "0.71× ✗")
	check(row("memory:"), "100 MiB", "—", "310 MiB", "0.32× ✓", "—")
	for _, row := range tab.Rows {
		if strings.HasPrefix(row[0], "latency:") {
			t.Errorf("row %q of a scenario that did not run", row[0])
		}
	}

	r.Latency = map[string]*LatencyResult{
		SQLite:       {Probes: 100, Notified: 100, P50: 3 * time.Millisecond, P99: 30 * time.Millisecond},
		Postgres:     {Probes: 100, Notified: 97, P50: 5 * time.Millisecond, P99: Lost},
		Alertmanager: {Probes: 100, Notified: 100, P50: time.Millisecond, P99: 25 * time.Millisecond},
	}
	tab = r.Table()
	check(row("latency: POST → webhook p99"), "30.0 ms", "lost", "25.0 ms", "1.20× ✓", "∞ ✗")
	check(row("start-up: exec → /-/ready"), "400.0 ms ✓", "1.20 s ✗", "50.0 ms", "8.00×", "24×")
	check(row("start-up: alerts held"), "100,000", "100,000", "0", "—", "—")
	if !strings.Contains(row("memory:")[0], "100,000 alerts in 10,000 groups") {
		t.Errorf("memory row title %q does not give the sizes", row("memory:")[0])
	}

	// Without Alertmanager there are no ratio columns.
	r.Options.Targets = []string{SQLite}
	if h := r.Table().Header; len(h) != 3 {
		t.Errorf("header without Alertmanager: %q", h)
	}
}

func TestReplaceSection(t *testing.T) {
	block := BeginMarker + "\nnew\n" + EndMarker + "\n"
	if got := ReplaceSection("", "new"); got != block {
		t.Errorf("empty doc: %q", got)
	}
	if got := ReplaceSection("# Title\nintro", "new\n"); got != "# Title\nintro\n\n"+block {
		t.Errorf("no markers: %q", got)
	}
	doc := "# Title\n\n" + BeginMarker + "\nold\nlines\n" + EndMarker + "\n\n## After\n"
	if got := ReplaceSection(doc, "new"); got != "# Title\n\n"+block+"\n## After\n" {
		t.Errorf("markers: %q", got)
	}
}
