package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// outageLoad posts a new alert every few milliseconds, as a Prometheus
// with many rules would, and remembers which ones Klaxon accepted.
type outageLoad struct {
	url string

	mu         sync.Mutex
	accepted   []string // instance labels of the alerts answered 2xx
	refused    int      // answered 503
	retryAfter int      // of those, with a Retry-After header
	other      []int    // any other answer (0: none)
}

func (l *outageLoad) run(stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		instance := fmt.Sprintf("i%05d", n)
		a := firing("alertname", fmt.Sprintf("Outage%d", n%10), "instance", instance)
		code, retry := postTo(l.url, []alert{a})
		l.mu.Lock()
		switch {
		case code >= 200 && code < 300:
			l.accepted = append(l.accepted, instance)
		case code == http.StatusServiceUnavailable:
			l.refused++
			if retry != "" {
				l.retryAfter++
			}
		default:
			l.other = append(l.other, code)
		}
		l.mu.Unlock()
	}
}

func (l *outageLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// TestHADatabaseOutage stops PostgreSQL for 30 seconds under ingest load
// on one replica: ingest answers 503 with Retry-After, readiness goes
// false, nothing crashes; when the database is back, readiness returns,
// notifications flow again, and every alert that got a 2xx is there, in
// the API and in the database.
func TestHADatabaseOutage(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := haEnv(t, pg, func(e *env) string { return e.goodConfig() })
	k, url := e.replica()

	l := &outageLoad{url: url}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { l.run(stop); close(done) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	waitLong(t, time.Minute, "alerts accepted before the outage", func() bool { return l.count() >= 20 })
	waitLong(t, time.Minute, "a notification before the outage", func() bool { return e.hook.count() > 0 })

	pg.Stop()
	downAt := time.Now()
	waitLong(t, time.Minute, "readiness to go false", func() bool { return getStatus(url, "/-/ready") == http.StatusServiceUnavailable })
	acceptedAtStop := l.count()
	for time.Since(downAt) < 30*time.Second {
		if !k.running() {
			t.Fatalf("klaxon exited during the outage: %v", k.state)
		}
		time.Sleep(time.Second)
	}
	if code := getStatus(url, "/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("readiness at the end of the outage: %d, want 503", code)
	}
	pg.Start()
	waitLong(t, time.Minute, "readiness to come back", func() bool { return getStatus(url, "/-/ready") == http.StatusOK })
	waitLong(t, time.Minute, "ingest to work again", func() bool { return l.count() >= acceptedAtStop+20 })
	hooksBefore := e.hook.count()
	waitLong(t, time.Minute, "notifications to flow again", func() bool { return e.hook.count() > hooksBefore })
	close(stop)
	<-done

	l.mu.Lock()
	accepted, refused, retryAfter, other := append([]string(nil), l.accepted...), l.refused, l.retryAfter, l.other
	l.mu.Unlock()
	t.Logf("ingest: %d accepted, %d refused with 503 (%d with Retry-After), %d other answers %v",
		len(accepted), refused, retryAfter, len(other), other)
	if refused == 0 || retryAfter != refused {
		t.Errorf("during the outage ingest must answer 503 with Retry-After: %d refused, %d with Retry-After", refused, retryAfter)
	}
	if !k.running() {
		t.Fatalf("klaxon is not running: %v", k.state)
	}

	// Every accepted alert is in the database and in the API.
	inDB := map[string]bool{}
	query(t, pg.URL(), `SELECT labels FROM alerts`, nil, func(r pgx.Rows) error {
		var raw string
		var labels map[string]string
		if err := r.Scan(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(raw), &labels); err != nil {
			return err
		}
		inDB[labels["instance"]] = true
		return nil
	})
	status, body := k.get(t, "/api/v2/alerts")
	if status != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %d %s", status, body)
	}
	var listed []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal([]byte(body), &listed); err != nil {
		t.Fatal(err)
	}
	inAPI := map[string]bool{}
	for _, a := range listed {
		inAPI[a.Labels["instance"]] = true
	}
	var lostDB, lostAPI []string
	for _, i := range accepted {
		if !inDB[i] {
			lostDB = append(lostDB, i)
		}
		if !inAPI[i] {
			lostAPI = append(lostAPI, i)
		}
	}
	if len(lostDB) > 0 || len(lostAPI) > 0 {
		t.Errorf("accepted alerts missing: %d from the database %v, %d from the API %v", len(lostDB), lostDB, len(lostAPI), lostAPI)
	}
}
