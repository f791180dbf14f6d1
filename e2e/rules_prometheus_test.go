package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// rulesTarget is a scrape target whose values a rules scenario sets.
type rulesTarget struct {
	mu     sync.Mutex
	values map[string]float64 // inst label -> value of klaxon_e2e_value
	srv    *httptest.Server
}

func newRulesTarget(t *testing.T) *rulesTarget {
	tg := &rulesTarget{values: map[string]float64{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		fmt.Fprintln(w, "# TYPE klaxon_e2e_value gauge")
		for inst, v := range tg.values {
			fmt.Fprintf(w, "klaxon_e2e_value{inst=%q} %g\n", inst, v)
		}
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *rulesTarget) set(inst string, v float64) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.values[inst] = v
}

// startRulesPrometheus runs Debian's Prometheus scraping tg every second
// and returns its URL once the first sample is queryable.
func startRulesPrometheus(t *testing.T, tg *rulesTarget) string {
	t.Helper()
	bin := testenv.Require(t, "KLAXON_TEST_PROMETHEUS_BINARY", "Prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: target\n    static_configs: [{targets: [%q]}]\n",
		strings.TrimPrefix(tg.srv.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testenv.FreePort(t)))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Prometheus: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var r struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if resp, err := http.Get(url + "/api/v1/query?query=klaxon_e2e_value"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if len(r.Data.Result) > 0 {
				return url
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("Prometheus did not scrape the target within 30s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
