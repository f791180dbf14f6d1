package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// An on-call engineer logs in, sees a firing alert in its group, narrows
// the page with a matcher filter, silences the alert from its "Silence"
// button with the preview showing what the silence will mute, sees the
// alert silenced, and expires the silence again.
func TestBrowserAlertsAndSilences(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	password := e.addUser(t, "oncall", "responder")
	k := e.start()
	disk := firing("alertname", "DiskFull", "instance", "db-1", "severity", "critical")
	disk.Annotations = map[string]string{
		"summary":       "Disk /var/lib/postgresql is 97% full",
		"description":   "Free space will run out within 2 hours at the current rate.",
		"runbook_url":   "https://runbooks.example.com/disk-full",
		"dashboard_url": "https://grafana.example.com/d/disk?var-instance=db-1",
	}
	latency := firing("alertname", "HighLatency", "service", "checkout", "severity", "warning")
	latency.Annotations = map[string]string{"summary": "p99 latency of checkout is 2.3s"}
	k.postAlerts(t, disk)

	b := k.browser(t)
	b.open("/login")
	b.waitVisible(`input[name="password"]`)
	b.screenshot("login")
	b.login("oncall", password)

	// The alert is in its group, under the receiver the route chose.
	b.open("/alerts")
	group := b.waitText("section.group", "DiskFull")
	for _, want := range []string{"hook", `instance="db-1"`, "97% full", "Runbook", "Dashboard", "Source"} {
		if !strings.Contains(group, want) {
			t.Errorf("DiskFull group lacks %q:\n%s", want, group)
		}
	}
	// A new alert shows up on the open page, without a reload.
	b.eval(`window.__sameDocument = true`, new(bool))
	k.postAlerts(t, latency)
	b.waitText("section.group", "HighLatency")
	if !b.evalBool(`window.__sameDocument === true`) {
		t.Error("the page reloaded to show the new alert")
	}
	if n := b.count("section.group"); n != 2 {
		t.Errorf("%d groups on the page, want 2 (group_by: [alertname])", n)
	}
	b.screenshot("alerts")

	// A matcher filter in Alertmanager's syntax narrows the page.
	b.fill("#filter", `{alertname="DiskFull",severity=~"crit.*"}`)
	b.click(`#alert-filters button[type="submit"]`)
	b.waitJS("the filter in the URL", `location.search.includes("filter=")`)
	b.waitText("section.group", "DiskFull")
	b.waitNoText("#live", "HighLatency")
	// Bad syntax is explained, not ignored.
	b.fill("#filter", `{alertname=~"Disk`)
	b.click(`#alert-filters button[type="submit"]`)
	b.waitText("#filter-error", "bad filter")

	// One click opens the editor with the alert's labels as matchers; the
	// preview lists the alert before anything is saved.
	b.open("/alerts?filter=" + `%7Balertname%3D%22DiskFull%22%7D`)
	b.click(`li.alert [data-test="silence"]`)
	b.waitJS("the silence editor", `location.pathname === "/silences/new"`)
	b.waitText("#silence-preview", "1 alert would be silenced")
	b.waitText("#silence-preview", `instance="db-1"`)
	var rows [][3]string
	b.eval(`Array.from(document.querySelectorAll(".matcher-row")).map(r => [r.querySelector("[name=name]").value, r.querySelector("[name=op]").value, r.querySelector("[name=value]").value])`, &rows)
	want := [][3]string{{"alertname", "=", "DiskFull"}, {"instance", "=", "db-1"}, {"severity", "=", "critical"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("editor rows %v, want %v", rows, want)
	}
	if got := b.evalString(`document.getElementById("createdBy").value`); got != "oncall" {
		t.Errorf("created by %q, want the logged-in user", got)
	}
	// The preview follows the matchers as they are edited.
	b.fill(`.matcher-row:nth-child(2) [name="value"]`, "db-9")
	b.waitText("#silence-preview", "0 alerts would be silenced")
	b.fill(`.matcher-row:nth-child(2) [name="value"]`, "db-1")
	b.waitText("#silence-preview", "1 alert would be silenced")
	b.fill("#comment", "Cleaning up old WAL files, see OPS-1234")
	b.screenshot("silence-editor")
	b.click("#save-silence")
	b.waitJS("the new silence's page", `/^\/silences\/[0-9a-f-]{36}$/.test(location.pathname)`)
	b.waitText(".silence-detail", "active")
	silencePath := b.path()
	if by := b.text(".silence-detail .created-by"); by != "oncall" {
		t.Errorf("silence created by %q, want oncall", by)
	}

	// Edits keep Alertmanager's rules: a new comment updates the silence
	// in place; changed matchers replace it with a new one.
	b.click(`[data-test="edit"]`)
	b.waitVisible("#silence-editor")
	b.fill("#comment", "Cleaning up old WAL files, see OPS-1234 and OPS-1235")
	b.click("#save-silence")
	b.waitText(".silence-detail .comment", "OPS-1235")
	if p := b.path(); p != silencePath {
		t.Errorf("a comment edit moved the silence from %s to %s", silencePath, p)
	}
	b.click(`[data-test="edit"]`)
	b.waitVisible("#silence-editor")
	b.click(`.matcher-row:nth-child(3) .remove-row`)
	b.waitText("#silence-preview", "1 alert would be silenced")
	b.click("#save-silence")
	b.waitJS("the replacing silence's page", fmt.Sprintf(`/^\/silences\/[0-9a-f-]{36}$/.test(location.pathname) && location.pathname !== %s`, jsString(silencePath)))
	b.waitText(".silence-detail .matchers", `instance="db-1"`)
	if strings.Contains(b.text(".silence-detail .matchers"), "severity") {
		t.Error("the removed matcher is still there")
	}
	replaced := silencePath
	silencePath = b.path()
	b.open(replaced)
	b.waitText(".silence-detail", "expired")

	// The alert is muted: hidden by default, shown as silenced on demand.
	b.open("/alerts")
	b.waitText("#live .summary", "1 silenced hidden")
	b.open("/alerts?state=active&state=silenced&filter=%7Balertname%3D%22DiskFull%22%7D")
	b.waitText("li.alert", "silenced")
	b.waitVisible("li.alert .state-silenced")

	b.open("/silences")
	b.waitText("#silences-active", `instance="db-1"`)
	b.screenshot("silences")

	// Expiring asks first, then the alert notifies again.
	b.open(silencePath)
	b.click(`[data-test="expire"]`)
	b.waitText(".silence-detail", "expired")
	if d := b.Dialogs(); len(d) != 1 || !strings.Contains(d[0], "Expire this silence?") {
		t.Errorf("dialogs %q, want one asking to expire", d)
	}
	b.open("/alerts?filter=%7Balertname%3D%22DiskFull%22%7D")
	b.waitVisible("li.alert .state-active")
}

// Alert labels and annotations are untrusted: markup in them is shown as
// text, never run, and a javascript: runbook link is not a link.
func TestBrowserAlertXSSIsInert(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	password := e.addUser(t, "viewer", "viewer")
	k := e.start()
	const script = `<script>window.__xss=1;document.title="pwned"</script>`
	const img = `<img src=x onerror="window.__xss=2;document.title='pwned'">`
	evil := firing("alertname", "Evil", "payload", `"><svg onload="window.__xss=3">`)
	evil.Annotations = map[string]string{
		"summary":       script,
		"description":   img,
		"runbook_url":   `javascript:window.__xss=4;document.title='pwned'`,
		"dashboard_url": `JaVaScRiPt:window.__xss=5`,
	}
	evil.GeneratorURL = `javascript:window.__xss=6`
	k.postAlerts(t, evil)

	b := k.browser(t)
	b.login("viewer", password)
	b.open("/alerts")
	text := b.waitText("li.alert", "Evil")
	if n := b.count(`[data-test="silence"], [data-test="silence-group"]`); n != 0 {
		t.Errorf("a viewer is offered %d Silence buttons", n)
	}
	for _, literal := range []string{script, img, `"><svg onload="window.__xss=3">`} {
		if !strings.Contains(text, literal) {
			t.Errorf("alert does not show %q as text:\n%s", literal, text)
		}
	}
	// The links are not links, and clicking them does nothing.
	if n := b.count(`a[href^="javascript:" i], a[href^="data:" i]`); n != 0 {
		t.Errorf("%d script links on the page", n)
	}
	for _, name := range []string{"Runbook", "Dashboard", "Source"} {
		sel := fmt.Sprintf(`[data-link=%q]`, name)
		if tag := b.evalString(fmt.Sprintf(`document.querySelector(%s).tagName`, jsString(sel))); tag == "A" {
			t.Errorf("%s is a link", name)
		}
		b.click(sel)
	}
	if n := b.count("li.alert img, li.alert script, li.alert svg"); n != 0 {
		t.Errorf("%d elements made from alert text", n)
	}
	if b.evalBool(`window.__xss !== undefined || document.title.includes("pwned")`) {
		t.Fatalf("a script from the alert ran: __xss=%s title=%q", b.evalString(`String(window.__xss)`), b.evalString(`document.title`))
	}
	// The silence editor shows the same labels as values, also inert.
	b.open("/silences/new?filter=" + `%7Bpayload%3D%22%5C%22%3E%3Csvg%20onload%3D%5C%22window.__xss%3D3%5C%22%3E%22%7D`)
	b.waitText("#silence-preview", "1 alert would be silenced")
	if b.evalBool(`window.__xss !== undefined`) {
		t.Fatal("a script from the alert ran in the silence editor")
	}
}

// The alerts page fits a phone screen: nothing wider than the screen, the
// actions reachable.
func TestBrowserAlertsOnPhone(t *testing.T) {
	t.Parallel()
	e, k, b := browserStory(t, "responder")
	_ = e
	a := firing("alertname", "DiskFull", "instance", "db-1.eu-west-1.internal.example.com:9100", "severity", "critical")
	a.Annotations = map[string]string{
		"summary":     "Disk /var/lib/postgresql is 97% full",
		"runbook_url": "https://runbooks.example.com/disk-full",
	}
	k.postAlerts(t, a, firing("alertname", "HighLatency", "service", "checkout", "severity", "warning"))
	b.phone()
	b.open("/alerts")
	b.waitText("section.group", "DiskFull")
	if b.evalBool(`document.documentElement.scrollWidth > window.innerWidth`) {
		t.Errorf("the page is wider (%s px) than the phone (%d px)", b.evalString(`String(document.documentElement.scrollWidth)`), phoneWidth)
	}
	b.waitVisible(`li.alert [data-test="silence"]`)
	b.screenshot("alerts-phone")
}

// The rules page shows the rule groups Klaxon evaluates, with health and
// the active alerts, and the status page the version, configuration and
// receivers; both are screenshotted for the README.
func TestBrowserRulesAndStatus(t *testing.T) {
	t.Parallel()
	tg := testenv.NewScrapeTarget(t, "klaxon_e2e_value")
	tg.Set("web-1", 42)
	prom := testenv.StartPrometheus(t, tg)
	e := newEnv(t, "sqlite")
	rulesDir := filepath.Join(e.dir, "rules.yml")
	if err := os.WriteFile(rulesDir, []byte(fmt.Sprintf(e2eRules, "web-1")+browserExtraRules), 0o600); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(fmt.Sprintf(rulesConfig, e.hook.URL()+"/hook", rulesDir, prom.URL))
	password := e.addUser(t, "admin", "admin")
	k := e.start()
	b := k.browser(t)
	b.login("admin", password)

	b.open("/rules")
	b.waitText(".rule-group", "e2e")
	rule := b.waitText(".rule", "ValueHigh")
	if !strings.Contains(rule, `klaxon_e2e_value{inst="web-1"} > 10`) {
		t.Errorf("rule lacks its expression:\n%s", rule)
	}
	href := b.evalString(`document.querySelector(".rule a.graph").href`)
	if !strings.HasPrefix(href, prom.URL+"/graph?g0.expr=") {
		t.Errorf("graph link %q does not point at %s/graph", href, prom.URL)
	}
	// The rule fires (for: 2s): its alert shows on the page without a reload.
	b.waitText(".rule", "firing")
	b.waitText(".rule-group", "ok")
	b.screenshot("rules")

	b.open("/status")
	b.waitText("#status-version", "Version")
	b.waitText("#status-config", "receivers:")
	b.waitText("#status-receivers", "hook")
	// This process, named by the port it listens on.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(k.URL, "http://"))
	b.waitText("#status-replicas", ":"+port)
	b.screenshot("status")
}

// browserExtraRules adds a recording rule next to e2eRules' alert, so that
// the rules page shows both kinds.
const browserExtraRules = `      - record: job:klaxon_e2e_value:max
        expr: max(klaxon_e2e_value)
`
