package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/web/client"
)

// hostileAnnotations are what an alert may carry to attack the UI; none
// of it may run.
var hostileAnnotations = map[string]string{
	"summary":       "Checkout fails for 12% of requests",
	"description":   `<script>window.pwned = "description"</script><img src=x onerror="window.pwned = 'img'">`,
	"runbook_url":   `javascript:window.pwned = "runbook"`,
	"dashboard_url": "https://grafana.example.com/d/checkout",
}

// checkoutDown is the firing alert of the incident stories.
func checkoutDown() alert {
	a := firing("alertname", "CheckoutDown", "severity", "critical", "service", "checkout")
	a.Annotations = hostileAnnotations
	return a
}

// respondToken creates an API token with the respond scope through the
// CLI, as an operator gives one to a bot, and returns an API client that
// sends it.
func (k *klaxon) respondToken(t *testing.T, name string) *client.Client {
	t.Helper()
	args := append([]string{"tokens", "create", name, "--scope", "respond", "--created-by", "e2e"}, k.e.storeFlags()...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.e.bin, args...).Output()
	if err != nil {
		t.Fatalf("klaxon %s: %v", strings.Join(args, " "), err)
	}
	api, err := client.New(k.URL)
	if err != nil {
		t.Fatal(err)
	}
	api.SetToken(strings.TrimSpace(string(out)))
	return api
}

// incidentRow waits on the incidents list (it refreshes by itself) until
// the incident titled title is there, and returns its id.
func (b *browser) incidentRow(title string) int64 {
	b.t.Helper()
	b.waitText(`[data-test="incidents"] tr.incident`, title)
	id, err := strconv.ParseInt(b.evalString(fmt.Sprintf(
		`Array.from(document.querySelectorAll('[data-test="incidents"] tr.incident')).find(tr => tr.innerText.includes(%s)).dataset.incident`,
		jsString(title))), 10, 64)
	if err != nil {
		b.t.Fatalf("incident id: %v", err)
	}
	return id
}

// openIncident opens the incident titled title from the incidents list
// and returns its id.
func (b *browser) openIncident(title string) int64 {
	b.t.Helper()
	b.open("/incidents")
	id := b.incidentRow(title)
	b.click(fmt.Sprintf(`tr.incident[data-incident="%d"] a.incident-title`, id))
	b.waitVisible("#timeline")
	return id
}

// stayMark marks the page's window; markStayed reports whether the mark is
// still there, i.e. the page was not loaded again.
func (b *browser) stayMark() { b.evalBool(`(window.klaxonStayed = true)`) }
func (b *browser) markStayed() bool {
	return b.evalBool(`window.klaxonStayed === true`)
}

// noScriptRan fails the test if any hostile text ran as script.
func (b *browser) noScriptRan() {
	b.t.Helper()
	if got := b.evalString(`String(window.pwned ?? "")`); got != "" {
		b.t.Fatalf("script from untrusted input ran: window.pwned = %q", got)
	}
}

// A responder sees the incident an alert opened, acknowledges it from its
// page, and then sees acks and un-acks made elsewhere appear on the open
// page by themselves.
func TestBrowserIncidentLiveTimeline(t *testing.T) {
	t.Parallel()
	_, k, b := browserStory(t, "responder")
	bot := k.respondToken(t, "chatops")
	k.postAlerts(t, checkoutDown())

	b.open("/incidents")
	id := b.incidentRow("CheckoutDown")
	b.screenshot("incidents")
	b.click(fmt.Sprintf(`tr.incident[data-incident="%d"] a.incident-title`, id))
	b.waitVisible(`[data-test="ack"]`)
	b.waitVisible(`#timeline li[data-kind="opened"]`)
	b.stayMark()

	// Acknowledge from the page: the state and the timeline follow.
	b.click(`[data-test="ack"]`)
	b.waitVisible(`#timeline li[data-kind="acknowledged"]`)
	b.waitText(`[data-test="state-detail"]`, "Acknowledged by responder via ui")
	b.waitVisible(`[data-test="unack"]`)

	// Un-ack and ack again through the API while the page is open: the
	// page shows both by itself, without being reloaded.
	ctx := context.Background()
	if _, err := bot.Unack(ctx, id, "chatops", "api"); err != nil {
		t.Fatal(err)
	}
	b.waitVisible(`#timeline li[data-kind="unacknowledged"]`)
	b.waitVisible(`#incident-state[data-state="triggered"]`)
	b.waitVisible(`[data-test="ack"]`)
	if _, err := bot.Ack(ctx, id, "chatops", "api"); err != nil {
		t.Fatal(err)
	}
	b.waitJS("a second acknowledgement on the timeline", `document.querySelectorAll('#timeline li[data-kind="acknowledged"]').length === 2`)
	b.waitVisible(`#incident-state[data-state="acknowledged"]`)
	b.waitText(`#timeline li[data-kind="acknowledged"]:last-of-type`, "via api")
	if !b.markStayed() {
		t.Fatal("the page was reloaded; the timeline must update in place")
	}

	// A note, typed and sent from the page.
	b.fill("#note-text", "Rolled back the 10:02 deploy")
	b.click(`[data-test="note-form"] button[type="submit"]`)
	b.waitText(`#timeline li[data-kind="note"]`, "Rolled back the 10:02 deploy")
	if got := b.evalString(`document.getElementById("note-text").value`); got != "" {
		t.Errorf("the note form kept %q after sending", got)
	}

	// Take it, raise it, and link the trace being looked at.
	b.click(`[data-test="assign-form"] [data-fill-assignee]`)
	b.waitText(`[data-test="assignee"]`, "responder")
	b.fill(`[data-test="severity-form"] input[name="severity"]`, "warning")
	b.click(`[data-test="severity-form"] button[type="submit"]`)
	b.waitText(`#timeline li[data-kind="severity_changed"]`, `"critical" → "warning"`)
	b.choose(`[data-test="link-form"] select[name="kind"]`, "trace")
	b.fill(`[data-test="link-form"] input[name="title"]`, "Slow checkout trace")
	b.fill(`[data-test="link-form"] input[name="url"]`, "https://tempo.example.com/trace/4bf92f3577b34da6")
	b.click(`[data-test="link-form"] button[type="submit"]`)
	b.waitText(".incident-links", "Slow checkout trace")
	b.waitVisible(`#timeline li[data-kind="link_added"]`)

	// Untrusted annotations: shown as text, links only http(s), opened
	// without an opener.
	b.waitText(".annotations", `<script>window.pwned = "description"</script>`)
	b.noScriptRan()
	if b.evalBool(`Array.from(document.querySelectorAll("a[href]")).some(a => a.href.toLowerCase().startsWith("javascript:"))`) {
		t.Error("a javascript: link is on the page")
	}
	if !b.evalBool(`Array.from(document.querySelectorAll(".incident-links a, .incident-alert a")).every(a => a.rel === "noopener noreferrer" && a.target === "_blank")`) {
		t.Error("a link from an alert opens without rel=noopener noreferrer")
	}
	b.waitVisible(`.incident-links a[href="https://grafana.example.com/d/checkout"]`)
	b.screenshot("incident")

	b.phone()
	b.open(fmt.Sprintf("/incidents/%d", id))
	b.waitVisible("#timeline")
	b.screenshot("incident-phone")
}

// A viewer reads incidents but is offered no action, and an ack forged
// from the viewer's page with the page's own script is refused.
func TestBrowserViewerCannotAck(t *testing.T) {
	t.Parallel()
	_, k, b := browserStory(t, "viewer")
	k.postAlerts(t, checkoutDown())
	id := b.openIncident("CheckoutDown")
	b.waitVisible(`#incident-state[data-state="triggered"]`)
	if n := b.count(`[data-test="ack"], [data-test="resolve"], #respond`); n != 0 {
		t.Fatalf("a viewer is offered %d actions", n)
	}
	b.evalBool(fmt.Sprintf(`(Klaxon.api("POST", "/api/v1/incidents/%d/ack", {via: "ui"}).then(
		() => { window.forged = "accepted"; }, (err) => { window.forged = String(err.status); }), true)`, id))
	b.waitJS("the forged ack to be answered", `window.forged !== undefined`)
	if got := b.evalString(`window.forged`); got != "403" {
		t.Fatalf("forged ack from a viewer's page: %s, want 403", got)
	}
	b.open(fmt.Sprintf("/incidents/%d", id))
	b.waitVisible(`#incident-state[data-state="triggered"]`)
	if n := b.count(`#timeline li[data-kind="acknowledged"]`); n != 0 {
		t.Fatal("the forged ack reached the timeline")
	}
	b.noScriptRan()
}

// A responder starts the postmortem from the template, writes it with the
// preview beside, adds an action item, saves and sees the new version;
// hostile Markdown stays inert in the preview and in the saved document.
func TestBrowserPostmortem(t *testing.T) {
	t.Parallel()
	_, k, b := browserStory(t, "responder")
	k.postAlerts(t, checkoutDown())
	id := b.openIncident("CheckoutDown")

	b.click(`[data-test="postmortem-link"]`)
	b.click(`[data-test="create-postmortem"]`)
	b.waitText("#pm-version", "1")
	b.waitText("#pm-document", "Timeline")

	b.fill("#pm-rootcause", "The **disk** filled up.\n\n<script>window.pwned = 'pm'</script>\n\n"+
		"<img src=x onerror=\"window.pwned = 'pm-img'\">\n\n[click me](javascript:window.pwned='pm-link')")
	b.waitVisible("#pm-preview strong")
	b.waitText("#pm-preview", "click me")
	b.click(`[data-test="add-action"]`)
	b.fill(`#pm-actions tbody tr:last-child input[data-field="title"]`, "Alert on disk usage at 80%")
	b.fill(`#pm-actions tbody tr:last-child input[data-field="owner"]`, "alice")
	b.waitText("#pm-preview", "Alert on disk usage at 80%")
	b.noScriptRan()
	b.screenshot("postmortem")

	b.click(`[data-test="save"]`)
	b.waitText("#pm-version", "2")
	b.waitText("#pm-document", "The disk filled up.")
	b.waitText("[data-test=pm-version]", "saved by responder")
	b.noScriptRan()
	if b.evalBool(`Array.from(document.querySelectorAll("#pm-document a[href], #pm-preview a[href]")).some(a => a.href.toLowerCase().startsWith("javascript:"))`) {
		t.Error("a javascript: link in the rendered postmortem")
	}
	if got := b.evalString(`document.querySelector('#pm-actions tbody tr:last-child input[data-field="title"]').value`); got != "Alert on disk usage at 80%" {
		t.Errorf("the saved action item reads %q", got)
	}
	if href := b.evalString(`document.querySelector('[data-test="export"]').getAttribute("href")`); href != fmt.Sprintf("/api/v1/incidents/%d/postmortem?format=markdown", id) {
		t.Errorf("export link %q", href)
	}

	b.open("/action-items")
	b.waitText(`[data-test="action-items"]`, "Alert on disk usage at 80%")
}
