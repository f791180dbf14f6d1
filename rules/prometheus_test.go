package rules

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

// PrometheusEnv names the Prometheus binary (Debian's package) that the
// integration tests run; scripts/test.sh sets it.
const PrometheusEnv = "KLAXON_TEST_PROMETHEUS_BINARY"

// target is a scrape target whose values the test sets.
type target struct {
	mu     sync.Mutex
	values map[string]float64 // instance -> value of klaxon_test_value
	srv    *httptest.Server
}

func newTarget(t testing.TB) *target {
	tg := &target{values: map[string]float64{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		fmt.Fprintln(w, "# TYPE klaxon_test_value gauge")
		for inst, v := range tg.values {
			fmt.Fprintf(w, "klaxon_test_value{inst=%q} %g\n", inst, v)
		}
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) set(inst string, v float64) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.values[inst] = v
}

// prometheusServer is a real Prometheus scraping a target every second.
type prometheusServer struct {
	URL string
}

// startPrometheus runs Prometheus on a free port, scraping tg every
// second and, if ruleFiles are given, evaluating them itself every
// second (for the differential test). It waits until the target's first
// sample is queryable.
func startPrometheus(t testing.TB, tg *target, ruleFiles ...string) *prometheusServer {
	t.Helper()
	bin := testenv.Require(t, PrometheusEnv, "Prometheus")
	dir := t.TempDir()
	host := strings.TrimPrefix(tg.srv.URL, "http://")
	quoted := make([]string, len(ruleFiles))
	for i, f := range ruleFiles {
		quoted[i] = fmt.Sprintf("%q", f)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%s]
scrape_configs:
  - job_name: target
    static_configs: [{targets: [%q]}]
`, strings.Join(quoted, ", "), host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testenv.FreePort(t)))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn",
		"--web.enable-remote-write-receiver")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Prometheus log:\n%s", log.String())
		}
	})
	p := &prometheusServer{URL: "http://" + addr}
	waitUntil(t, 30*time.Second, "Prometheus has scraped the target", func() bool {
		var r struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		return p.get("/api/v1/query?query=up%3D%3D1", &r) == nil && len(r.Data.Result) > 0
	})
	return p
}

func (p *prometheusServer) get(path string, v any) error {
	resp, err := http.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitUntil polls cond until it holds, failing the test after limit.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting until %s", limit, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
