package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/api/v2/models"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
	"github.com/klaxon-dev/klaxon/storage"
)

const apiConfig = `
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1h
  routes:
    - receiver: db
      matchers: [team="db"]
receivers:
  - name: team
  - name: db
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
`

type discardSink struct{}

func (discardSink) Flush(context.Context, *storage.Tx, *router.Notification) (bool, error) {
	return true, nil
}

// apiServer is a web server on a real router and store, under the route
// prefix /am as with --web.route-prefix.
type apiServer struct {
	t     *testing.T
	url   string
	clock *clockwork.FakeClock
}

func newAPIServer(t *testing.T, db *storage.DB) *apiServer {
	t.Helper()
	config.InitMatchers(nil)
	cfg, err := amconfig.Load(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	rt := router.New(router.Options{DB: db, Clock: clock, Sink: discardSink{}, Registerer: prometheus.NewRegistry()})
	if err := rt.ApplyConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := rt.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := asAdmin(t, Options{
		Router: rt, Alertmanager: rt,
		AlertmanagerConfig: func() *amconfig.Config { return cfg },
		ResolveTimeout:     func() time.Duration { return 5 * time.Minute },
		Gatherer:           reg, Registerer: reg,
		RoutePrefix: "/am", Now: clock.Now, PeerName: "klaxon-0", PeerAddress: "10.0.0.1:9093",
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &apiServer{t: t, url: hs.URL + "/am", clock: clock}
}

func (s *apiServer) do(method, path, body string, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (s *apiServer) silence(matchers string, start, end time.Time) string {
	s.t.Helper()
	body := fmt.Sprintf(`{"matchers":%s,"startsAt":%q,"endsAt":%q,"createdBy":"me","comment":"c"}`,
		matchers, start.Format(time.RFC3339), end.Format(time.RFC3339))
	var out struct{ SilenceID string }
	if code := s.do("POST", "/api/v2/silences", body, &out); code != http.StatusOK {
		s.t.Fatalf("post silence: %d", code)
	}
	return out.SilenceID
}

func TestAPIv2AlertsSilencesStatus(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		s := newAPIServer(t, db)
		now := s.clock.Now()
		if code := s.do("POST", "/api/v2/alerts", `[
			{"labels":{"alertname":"Disk","team":"db","severity":"warning"}},
			{"labels":{"alertname":"Down","severity":"critical"}},
			{"labels":{"alertname":"Cpu","instance":"web-1"}}]`, nil); code != http.StatusOK {
			t.Fatalf("post alerts: %d", code)
		}
		id := s.silence(`[{"name":"instance","value":"web-.*","isRegex":true,"isEqual":true}]`, now, now.Add(time.Hour))

		var all models.GettableAlerts
		s.do("GET", "/api/v2/alerts", "", &all)
		state := map[string]*models.GettableAlert{}
		for _, a := range all {
			state[a.Labels["alertname"]] = a
		}
		if len(all) != 3 || *state["Down"].Status.State != "active" || *state["Cpu"].Status.State != "suppressed" ||
			state["Cpu"].Status.SilencedBy[0] != id || len(state["Disk"].Status.InhibitedBy) != 1 ||
			*state["Disk"].Receivers[0].Name != "db" {
			t.Fatalf("alerts: %s", apiv2JSON(all))
		}
		var active models.GettableAlerts
		s.do("GET", "/api/v2/alerts?silenced=false&inhibited=false&filter="+url.QueryEscape(`alertname=~"D.*"`), "", &active)
		if len(active) != 1 || active[0].Labels["alertname"] != "Down" {
			t.Fatalf("filtered alerts: %s", apiv2JSON(active))
		}
		var byReceiver models.GettableAlerts
		s.do("GET", "/api/v2/alerts?receiver=d.", "", &byReceiver)
		if len(byReceiver) != 1 || byReceiver[0].Labels["alertname"] != "Disk" {
			t.Fatalf("alerts of receiver d.: %s", apiv2JSON(byReceiver))
		}
		var groups models.AlertGroups
		s.do("GET", "/api/v2/alerts/groups?silenced=false", "", &groups)
		if len(groups) != 2 {
			t.Fatalf("groups without silenced alerts: %s", apiv2JSON(groups))
		}

		var sil models.GettableSilence
		if code := s.do("GET", "/api/v2/silence/"+id, "", &sil); code != http.StatusOK || *sil.Status.State != "active" || !*sil.Matchers[0].IsRegex {
			t.Fatalf("get silence: %d %s", code, apiv2JSON(sil))
		}
		var sils models.GettableSilences
		s.do("GET", "/api/v2/silences?filter="+url.QueryEscape(`instance=~"web-.*"`), "", &sils)
		if len(sils) != 1 {
			t.Fatalf("silences by filter: %s", apiv2JSON(sils))
		}
		if code := s.do("DELETE", "/api/v2/silence/"+id, "", nil); code != http.StatusOK {
			t.Fatalf("delete silence: %d", code)
		}
		s.do("GET", "/api/v2/silence/"+id, "", &sil)
		if *sil.Status.State != "expired" {
			t.Fatalf("deleted silence is %s", *sil.Status.State)
		}

		var rcvs []models.Receiver
		s.do("GET", "/api/v2/receivers", "", &rcvs)
		if len(rcvs) != 2 || *rcvs[0].Name != "team" {
			t.Fatalf("receivers: %s", apiv2JSON(rcvs))
		}
		var st models.AlertmanagerStatus
		s.do("GET", "/api/v2/status", "", &st)
		if _, err := amconfig.Load(*st.Config.Original); err != nil {
			t.Fatalf("config.original does not load: %v", err)
		}
		if *st.Cluster.Status != "ready" || len(st.Cluster.Peers) != 1 || *st.Cluster.Peers[0].Address != "10.0.0.1:9093" || st.VersionInfo.Version == nil {
			t.Fatalf("status: %s", apiv2JSON(st))
		}
	})
}

func TestAPIv2BadInput(t *testing.T) {
	s := newAPIServer(t, storagetest.Open(t, "sqlite"))
	now := s.clock.Now()
	unknown := "7d0c2a7e-5b1c-4b5a-9e53-1b5d8e0c9f11"
	m := `[{"name":"a","value":"b","isRegex":false}]`
	for _, c := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"invalid filter matcher", "GET", "/api/v2/alerts?filter=" + url.QueryEscape(`a=~"(`), "", 400},
		{"invalid receiver regex", "GET", "/api/v2/alerts/groups?receiver=(", "", 400},
		{"invalid boolean", "GET", "/api/v2/alerts?active=maybe", "", 400},
		{"invalid silence filter", "GET", "/api/v2/silences?filter=" + url.QueryEscape(`{{`), "", 400},
		{"endsAt before startsAt", "POST", "/api/v2/silences", fmt.Sprintf(`{"matchers":%s,"startsAt":%q,"endsAt":%q,"createdBy":"a","comment":"b"}`,
			m, now.Add(time.Hour).Format(time.RFC3339), now.Format(time.RFC3339)), 400},
		{"endsAt in the past", "POST", "/api/v2/silences", fmt.Sprintf(`{"matchers":%s,"startsAt":%q,"endsAt":%q,"createdBy":"a","comment":"b"}`,
			m, now.Add(-2*time.Hour).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339)), 400},
		{"no matchers", "POST", "/api/v2/silences", fmt.Sprintf(`{"matchers":[],"startsAt":%q,"endsAt":%q,"createdBy":"a","comment":"b"}`,
			now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), 400},
		{"invalid regex matcher", "POST", "/api/v2/silences", fmt.Sprintf(`{"matchers":[{"name":"a","value":"(","isRegex":true}],"startsAt":%q,"endsAt":%q,"createdBy":"a","comment":"b"}`,
			now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), 400},
		{"matcher matching everything", "POST", "/api/v2/silences", fmt.Sprintf(`{"matchers":[{"name":"a","value":".*","isRegex":true}],"startsAt":%q,"endsAt":%q,"createdBy":"a","comment":"b"}`,
			now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), 400},
		{"missing createdBy", "POST", "/api/v2/silences", fmt.Sprintf(`{"matchers":%s,"startsAt":%q,"endsAt":%q,"comment":"b"}`,
			m, now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), 400},
		{"not JSON", "POST", "/api/v2/silences", `{`, 400},
		{"update of unknown id", "POST", "/api/v2/silences", fmt.Sprintf(`{"id":%q,"matchers":%s,"startsAt":%q,"endsAt":%q,"createdBy":"a","comment":"b"}`,
			unknown, m, now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), 404},
		{"get unknown id", "GET", "/api/v2/silence/" + unknown, "", 404},
		{"delete unknown id", "DELETE", "/api/v2/silence/" + unknown, "", 404},
		{"id not a UUID", "GET", "/api/v2/silence/abc", "", 422},
	} {
		if got := s.do(c.method, c.path, c.body, nil); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	var sils models.GettableSilences
	s.do("GET", "/api/v2/silences", "", &sils)
	if len(sils) != 0 {
		t.Fatalf("rejected requests left silences: %s", apiv2JSON(sils))
	}
}

func apiv2JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
