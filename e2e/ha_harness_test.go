package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/klaxon-dev/klaxon/internal/testenv"
	"github.com/klaxon-dev/klaxon/router"
)

// The high-availability scenarios run replicas on a private PostgreSQL
// server (testenv.StartPostgres) that they stop and start.

// haEnv is an env on the private server pg, with the given configuration.
func haEnv(t *testing.T, pg *testenv.Postgres, config func(e *env) string) *env {
	t.Helper()
	e := &env{t: t, store: "postgres", bin: testenv.Binary(t), dir: t.TempDir(), log: &lockedBuffer{}, dbURL: pg.URL()}
	e.hook = newWebhook(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("klaxon log:\n%s", e.log.String())
			t.Logf("PostgreSQL log:\n%s", pg.Log())
		}
	})
	e.config = filepath.Join(e.dir, "klaxon.yml")
	e.writeConfig(config(e))
	return e
}

// replica starts a klaxon serve on a port of its own, kept across
// restarts, so that it keeps its address and name among the peers.
func (e *env) replica(extra ...string) (*klaxon, string) {
	e.t.Helper()
	port := strconv.Itoa(testenv.FreePort(e.t))
	url := "http://127.0.0.1:" + port
	// A storage directory of its own, kept across restarts, holds the
	// replica's id: a replica restarted after a kill takes its slots back.
	args := []string{"serve",
		"--config.file", e.config,
		"--storage.path", filepath.Join(e.dir, "replica-"+port),
		"--database-url", e.dbURL,
		"--web.listen-address", "127.0.0.1:" + port,
		"--web.external-url", url + "/",
		"--log.level", "info",
	}
	k := &klaxon{e: e, args: append(args, extra...)}
	e.t.Cleanup(k.shutdown)
	k.launch()
	return k, url
}

// freshStorage points k's next start at another storage directory.
func freshStorage(k *klaxon, dir string) {
	for i, a := range k.args {
		if a == "--storage.path" && i+1 < len(k.args) {
			k.args[i+1] = dir
		}
	}
}

// postTo posts alerts to the klaxon at url without failing the test: the
// scenarios count what was accepted. It returns the status (0 if no
// answer) and the Retry-After header.
func postTo(url string, alerts []alert) (int, string) {
	body, _ := json.Marshal(alerts)
	req, err := http.NewRequest(http.MethodPost, url+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, ""
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// getStatus answers GET path on url without failing the test.
func getStatus(url, path string) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// clusterStatus reads the cluster part of /api/v2/status at url with an
// API token: the peers' names, sorted, and the status; nil and "" if it
// cannot be read.
func clusterStatus(url, token string) ([]string, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url+"/api/v2/status", nil)
	if err != nil {
		return nil, ""
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, ""
	}
	defer resp.Body.Close()
	var st models.AlertmanagerStatus
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil || st.Cluster == nil || st.Cluster.Status == nil {
		return nil, ""
	}
	var peers []string
	for _, p := range st.Cluster.Peers {
		if p.Name != nil {
			peers = append(peers, *p.Name)
		}
	}
	slices.Sort(peers)
	return peers, *st.Cluster.Status
}

// metricAt reads one metric's sum from /metrics at url; ok is false if
// it cannot be read.
func metricAt(url, name string) (float64, bool) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return sample(string(text), name)
}

// waitSettled waits until every replica at urls sees all of them as peers
// and together they hold every slot, each its share.
func waitSettled(t *testing.T, urls []string) {
	t.Helper()
	waitLong(t, time.Minute, "the replicas to share the slots", func() bool {
		total := 0.0
		for _, url := range urls {
			peers, ok1 := metricAt(url, "klaxon_cluster_peers")
			held, ok2 := metricAt(url, "klaxon_cluster_slots_held")
			if !ok1 || !ok2 || int(peers) != len(urls) || int(held) < router.Slots/len(urls) {
				return false
			}
			total += held
		}
		return int(total) == router.Slots
	})
}

// waitLong is waitFor with a bound of its own, for waits that span lease
// expiries and restarts.
func waitLong(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", bound, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query runs a read on the database at dbURL, failing the test on error.
func query(t *testing.T, dbURL, sql string, args []any, scan func(pgx.Rows) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the database: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// countRows returns the result of a SELECT COUNT(*) on dbURL.
func countRows(t *testing.T, dbURL, sql string, args ...any) int {
	t.Helper()
	n := 0
	query(t, dbURL, sql, args, func(r pgx.Rows) error { return r.Scan(&n) })
	return n
}

// alertKey names an alert by its alertname and instance.
func alertKey(labels map[string]string) string {
	return fmt.Sprintf("%s/%s", labels["alertname"], labels["instance"])
}
