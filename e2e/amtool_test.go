package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const amtoolConfig = `route:
  receiver: default
  group_by: [alertname]
  group_wait: 1h
  routes:
    - receiver: database
      matchers: [team="db"]
    - receiver: frontend
      matchers: [team=~"web|ui"]
      continue: true
    - receiver: default
receivers:
  - name: default
  - name: database
  - name: frontend
`

// TestAmtool drives Debian's real amtool against Klaxon, as an operator
// would against an Alertmanager: every command must work unchanged.
func TestAmtool(t *testing.T) {
	t.Parallel()
	// Under a route prefix, as --web.route-prefix serves it: amtool takes
	// the prefix as part of --alertmanager.url.
	k := startKlaxonAM(t, amtoolConfig, "--web.route-prefix", "/am")
	url := "--alertmanager.url=" + k.URL
	amtool := func(args ...string) string {
		t.Helper()
		out, err := runAmtool(t, append(append([]string{url}, k.amtoolAuth()...), args...)...)
		if err != nil {
			t.Fatalf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	// check-config validates a file offline, with amtool's own parser.
	file := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(file, []byte(amtoolConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := amtool("check-config", file); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("check-config: %s", out)
	}

	amtool("alert", "add", "DiskFull", "team=db", "instance=db1", "--annotation=summary=disk is full")
	amtool("alert", "add", "Slow", "team=web", "instance=w1")
	if out := amtool("alert", "query"); !strings.Contains(out, "DiskFull") || !strings.Contains(out, "Slow") {
		t.Fatalf("alert query after add:\n%s", out)
	}
	if out := amtool("alert", "query", "team=db"); !strings.Contains(out, "DiskFull") || strings.Contains(out, "Slow") {
		t.Fatalf("alert query team=db:\n%s", out)
	}

	amtoolSilences(t, amtool)

	// The routing tree, as served in /api/v2/status, and routing tests.
	if out := amtool("config", "routes", "show"); !strings.Contains(out, `{team="db"}  receiver: database`) ||
		!strings.Contains(out, `{team=~"web|ui"}  continue: true  receiver: frontend`) {
		t.Fatalf("config routes show:\n%s", out)
	}
	if out := strings.TrimSpace(amtool("config", "routes", "test", "team=db")); out != "database" {
		t.Fatalf("config routes test team=db: %q", out)
	}
	if out := strings.TrimSpace(amtool("config", "routes", "test", "team=ui")); out != "frontend,default" {
		t.Fatalf("config routes test team=ui: %q", out)
	}
	if out := amtool("config", "routes", "test", "--verify.receivers=database", "team=db"); !strings.Contains(out, "database") {
		t.Fatalf("config routes test --verify.receivers: %s", out)
	}
}

// amtoolSilences: silence add, query (by matcher, -q, --expired, -o json),
// expire and import, and their effect on alert query.
func amtoolSilences(t *testing.T, amtool func(args ...string) string) {
	t.Helper()
	id := strings.TrimSpace(amtool("silence", "add", "alertname=DiskFull", "instance=~db.*", "--comment=maintenance", "--author=alice"))
	if len(id) != 36 {
		t.Fatalf("silence add printed %q, want a UUID", id)
	}
	if out := amtool("silence", "query"); !strings.Contains(out, id) || !strings.Contains(out, "alice") {
		t.Fatalf("silence query:\n%s", out)
	}
	if out := amtool("silence", "query", "-q", "instance=~db.*"); strings.TrimSpace(out) != id {
		t.Fatalf("silence query -q by matcher: %q, want %s", out, id)
	}
	// A silenced alert leaves the default (active) view and shows with -s.
	if out := amtool("alert", "query"); strings.Contains(out, "DiskFull") {
		t.Fatalf("silenced alert still in the active view:\n%s", out)
	}
	if out := amtool("alert", "query", "--silenced"); !strings.Contains(out, "DiskFull") {
		t.Fatalf("alert query --silenced:\n%s", out)
	}

	// Export, expire, import: the silence comes back under a new id.
	exported := amtool("silence", "query", "-o", "json")
	var sils []map[string]any
	if err := json.Unmarshal([]byte(exported), &sils); err != nil || len(sils) != 1 {
		t.Fatalf("silence query -o json: %v\n%s", err, exported)
	}
	dump := filepath.Join(t.TempDir(), "silences.json")
	if err := os.WriteFile(dump, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	amtool("silence", "expire", id)
	if out := amtool("silence", "query", "--expired"); !strings.Contains(out, id) {
		t.Fatalf("expired silence not listed with --expired:\n%s", out)
	}
	if out := amtool("silence", "query", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("active silences after expire: %q", out)
	}
	amtool("silence", "import", dump)
	imported := strings.TrimSpace(amtool("silence", "query", "-q"))
	if imported == "" || imported == id {
		t.Fatalf("after import, active silences %q (expired id %s)", imported, id)
	}
}

// TestAMReloadRejectsBadConfig: a broken file on reload is answered with
// 400 and the reason, the running configuration stays (amtool still sees
// the old routing tree) and klaxon_config_last_reload_successful drops to 0.
func TestAMReloadRejectsBadConfig(t *testing.T) {
	t.Parallel()
	k := startKlaxonAM(t, amtoolConfig)
	code, body := k.reload(strings.Replace(amtoolConfig, `matchers: [team="db"]`, `matchers: [team=~"(db"]`, 1))
	if code != 400 || !strings.Contains(body, "error parsing regexp") {
		t.Fatalf("reload of a broken file: %d %q, want 400 with the reason", code, body)
	}
	_, metrics := k.request("GET", "/metrics", "")
	if !strings.Contains(metrics, "\nklaxon_config_last_reload_successful 0\n") {
		t.Fatalf("klaxon_config_last_reload_successful is not 0 after a failed reload")
	}
	out, err := runAmtool(t, append(k.amtoolAuth(), "--alertmanager.url="+k.URL, "config", "routes", "test", "team=db")...)
	if err != nil || strings.TrimSpace(out) != "database" {
		t.Fatalf("after a failed reload, routes test team=db: %q %v, want the old tree's database", out, err)
	}
	if code, body := k.reload(amtoolConfig); code != 200 {
		t.Fatalf("reload of a good file: %d %s", code, body)
	}
	_, metrics = k.request("GET", "/metrics", "")
	if !strings.Contains(metrics, "\nklaxon_config_last_reload_successful 1\n") {
		t.Fatalf("klaxon_config_last_reload_successful is not 1 after a good reload")
	}
}
