package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// onCallKeys extend the scenarios' configuration with a Berlin schedule:
// alice has the week from Monday 23 March 2026 09:00, bob the next.
const onCallKeys = `users:
  - name: alice
    contact_methods: [{type: email, to: alice@example.com}]
  - name: bob
schedules:
  - name: primary
    time_zone: Europe/Berlin
    rotations:
      - {name: weekly, participants: [alice, bob], shift: weekly, start: 2026-03-23, handoff: "09:00"}
escalation_policies:
  - name: default
    steps:
      - {delay: 5m, targets: [{schedule: primary}, {receiver: hook}]}
`

// Schedules come from the file and the API; `klaxon oncall` asks the
// server; a file that claims a name the API already uses is refused on
// reload, the API's objects survive a restart.
func TestOnCallFromFileAPIAndCLI(t *testing.T) {
	onEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store)
		e.writeConfig(e.goodConfig() + onCallKeys)
		k := e.start()

		status, body := k.get(t, "/api/v1/schedules/primary/oncall?at=2026-03-29T12:00:00%2B02:00")
		if status != 200 || !strings.Contains(body, `"user":"alice"`) || !strings.Contains(body, `"end":"2026-03-30T07:00:00Z"`) {
			t.Fatalf("who is on call: %d %s", status, body)
		}

		out, err := exec.Command(e.bin, "oncall", "primary", "--klaxon.url", k.URL, "--token", e.adminToken(), "--at", "2026-03-30T09:00:00+02:00").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "bob") || !strings.Contains(string(out), "2026-03-30 09:00 CEST") {
			t.Fatalf("klaxon oncall: %v\n%s", err, out)
		}

		if status, body := k.post(t, "/api/v1/users", `{"name": "carol"}`); status != 201 {
			t.Fatalf("create carol: %d %s", status, body)
		}
		e.writeConfig(strings.Replace(e.goodConfig()+onCallKeys, "  - name: bob\n", "  - name: bob\n  - name: carol\n", 1))
		status, body = k.post(t, "/-/reload", "")
		if status != 400 || !strings.Contains(body, `user "carol" is defined both in the configuration file and through the API`) {
			t.Fatalf("reload with a clashing name: %d %s", status, body)
		}

		// Starting with that file would fail the same way; restore it.
		e.writeConfig(e.goodConfig() + onCallKeys)
		k.restart()
		status, body = k.get(t, "/api/v1/users")
		for _, want := range []string{`"name":"alice","contactMethods":[{"type":"email","to":"alice@example.com"}],"source":"config"`, `"name":"carol","source":"api"`} {
			if status != 200 || !strings.Contains(body, want) {
				t.Fatalf("users after restart: %d %s, want %s", status, body, want)
			}
		}
	})
}
