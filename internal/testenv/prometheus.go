package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// PrometheusEnv names the Prometheus binary (Debian's package) that
// integration tests run; scripts/test.sh sets it.
const PrometheusEnv = "KLAXON_TEST_PROMETHEUS_BINARY"

// ScrapeTarget is a scrape target exposing one gauge, Metric{inst="…"},
// whose values the test sets.
type ScrapeTarget struct {
	Metric string

	mu     sync.Mutex
	values map[string]float64 // inst label -> value
	static string             // a fixed exposition page instead of values
	srv    *httptest.Server
}

// NewScrapeTarget serves metric until the test ends.
func NewScrapeTarget(t testing.TB, metric string) *ScrapeTarget {
	tg := &ScrapeTarget{Metric: metric, values: map[string]float64{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		if tg.static != "" {
			_, _ = w.Write([]byte(tg.static))
			return
		}
		fmt.Fprintf(w, "# TYPE %s gauge\n", metric)
		for inst, v := range tg.values {
			fmt.Fprintf(w, "%s{inst=%q} %g\n", metric, inst, v)
		}
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// NewStaticScrapeTarget serves page, an exposition of metric rendered
// once, so that a target with many series costs next to nothing.
func NewStaticScrapeTarget(t testing.TB, metric, page string) *ScrapeTarget {
	tg := NewScrapeTarget(t, metric)
	tg.static = page
	return tg
}

// Set sets the value exposed for inst.
func (tg *ScrapeTarget) Set(inst string, v float64) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.values[inst] = v
}

// Prometheus is a real Prometheus started for one test.
type Prometheus struct {
	URL string
}

// StartPrometheus runs Prometheus on a free loopback port, scraping tg
// every second and evaluating ruleFiles, if any, every second (for
// differential tests). It returns once Prometheus has scraped tg, and,
// when tg already exposes values, once they are queryable. It fails (or
// skips outside CI) when the binary is not configured.
func StartPrometheus(t testing.TB, tg *ScrapeTarget, ruleFiles ...string) *Prometheus {
	t.Helper()
	bin := Require(t, PrometheusEnv, "Prometheus")
	dir := t.TempDir()
	quoted := make([]string, len(ruleFiles))
	for i, f := range ruleFiles {
		quoted[i] = fmt.Sprintf("%q", f)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%s]
scrape_configs:
  - job_name: target
    static_configs: [{targets: [%q]}]
`, strings.Join(quoted, ", "), strings.TrimPrefix(tg.srv.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(FreePort(t)))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn",
		"--web.enable-remote-write-receiver")
	var log lockedBuilder
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
	p := &Prometheus{URL: "http://" + addr}
	tg.mu.Lock()
	query := "up == 1"
	if len(tg.values) > 0 || tg.static != "" {
		query = tg.Metric
	}
	tg.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var r struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if p.Get("/api/v1/query?query="+url.QueryEscape(query), &r) == nil && len(r.Data.Result) > 0 {
			return p
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Prometheus did not answer %q within 30s", query)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Get decodes the JSON answer of GET path into v.
func (p *Prometheus) Get(path string, v any) error {
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

// lockedBuilder collects a child's output, written from its goroutines.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
