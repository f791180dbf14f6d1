package e2e

import "testing"

// onCallPeople adds two people, two schedules in different zones and a
// policy paging both to the scenarios' configuration: alice is always on
// call for primary, bob for secondary.
const onCallPeople = `users:
  - name: alice
    contact_methods: [{type: email, to: alice@example.com}]
  - name: bob
schedules:
  - name: primary
    description: Checkout team, first line
    time_zone: Europe/Berlin
    rotations:
      - {name: weekly, participants: [alice], shift: weekly, start: 2026-01-05, handoff: "09:00"}
  - name: secondary
    time_zone: America/New_York
    rotations:
      - {name: daily, participants: [bob], shift: daily, start: 2026-01-05, handoff: "08:00"}
escalation_policies:
  - name: checkout
    repeat: 1
    steps:
      - {delay: 5m, targets: [{schedule: primary}]}
      - {delay: 10m, targets: [{schedule: secondary}, {user: alice}]}
`

// A responder sees who is on call now for each schedule, the coming two
// weeks, the policies, and swaps a shift with an override, then takes it
// back.
func TestBrowserOnCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	e.writeConfig(e.goodConfig() + onCallPeople)
	password := e.addUser(t, "responder", "responder")
	k := e.start()
	b := k.browser(t)
	b.login("responder", password)

	b.open("/oncall")
	b.waitText(`[data-schedule="primary"] [data-test="oncall-now"]`, "alice")
	b.waitText(`[data-schedule="secondary"] [data-test="oncall-now"]`, "bob")
	b.waitText(`[data-schedule="primary"] h2`, "Europe/Berlin")
	b.waitText(`[data-schedule="secondary"] h2`, "America/New_York")
	if n := b.count(`[data-schedule="primary"] .calendar .day`); n != 14 {
		t.Errorf("the calendar shows %d days, want 14", n)
	}
	if n := b.count(`[data-schedule="primary"] .calendar .day.today`); n != 1 {
		t.Errorf("%d days marked today, want 1", n)
	}
	b.waitText(`[data-policy="checkout"]`, "whoever is on call for primary")

	// Bob takes 10:00–14:00 (browser time) of the schedule's tomorrow from
	// alice. Tomorrow is counted in the schedule's zone, whose calendar the
	// page shows: late in the evening (UTC) Berlin's date is already the
	// browser's tomorrow.
	b.click("#override-add summary")
	b.choose(`#override-form select[name="schedule"]`, "primary")
	b.evalBool(`(() => {
		const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
		const today = new Intl.DateTimeFormat("en-CA", {timeZone: "Europe/Berlin", year: "numeric", month: "2-digit", day: "2-digit"}).format(new Date());
		const start = new Date(today + "T10:00"); start.setDate(start.getDate() + 1);
		const end = new Date(start.getTime() + 4 * 3600 * 1000);
		const f = document.getElementById("override-form");
		f.elements.start.value = local(start);
		f.elements.end.value = local(end);
		return true;
	})()`)
	b.choose(`#override-form select[name="add"]`, "bob")
	b.choose(`#override-form select[name="remove"]`, "alice")
	b.fill(`#override-form input[name="note"]`, "dentist")
	b.click(`#override-form button[type="submit"]`)
	b.waitText(`[data-schedule="primary"] [data-test="overrides"]`, "bob replaces alice")
	b.waitText(`[data-schedule="primary"] .calendar .day.today + .day`, "bob")
	b.screenshot("oncall")

	b.phone()
	b.open("/oncall")
	b.waitText(`[data-schedule="primary"] [data-test="oncall-now"]`, "alice")
	b.screenshot("oncall-phone")
	b.desktop()

	b.click(`[data-schedule="primary"] [data-test="remove-override"]`)
	b.waitGone(`[data-schedule="primary"] [data-test="overrides"]`)
	if d := b.Dialogs(); len(d) != 1 || d[0] != "Remove this override?" {
		t.Errorf("dialogs %q, want the confirmation of the removal", d)
	}
	b.waitNoText(`[data-schedule="primary"] .calendar .day.today + .day`, "bob")
}
