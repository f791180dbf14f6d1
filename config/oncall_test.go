package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

const onCallBase = `route:
  receiver: team
receivers:
  - name: team
users:
  - name: alice
    contact_methods:
      - type: email
        to: alice@example.com
      - type: slack
        to: U024BE7LH
  - name: bob
    contact_methods:
      - type: webhook
        to: https://example.com/page
schedules:
  - name: primary
    time_zone: Europe/Berlin
    rotations:
      - name: weekly
        participants: [alice, bob]
        shift: weekly
        start: 2026-01-05
        handoff: "09:00"
escalation_policies:
  - name: default
    repeat: 1
    steps:
      - delay: 5m
        targets: [{schedule: primary}]
      - delay: 15m
        targets: [{user: bob}, {receiver: team}]
`

func TestOnCallKeysLoad(t *testing.T) {
	cfg, err := Load([]byte(onCallBase), ".")
	if err != nil {
		t.Fatal(err)
	}
	oc := cfg.OnCall
	if len(oc.Users) != 2 || len(oc.Schedules) != 1 || len(oc.Policies) != 1 {
		t.Fatalf("loaded %d users, %d schedules, %d policies", len(oc.Users), len(oc.Schedules), len(oc.Policies))
	}
	if oc.Users[0].Contacts[1] != (oncall.ContactMethod{Type: oncall.Slack, To: "U024BE7LH"}) || oc.Users[0].Source != oncall.FromConfig {
		t.Fatalf("user alice = %+v", oc.Users[0])
	}
	if r := oc.Schedules[0].Rotations[0]; r.Start != "2026-01-05" || r.Handoff != "09:00" || r.Shift != "weekly" {
		t.Fatalf("rotation = %+v", r)
	}
	if p := oc.Policies[0]; p.Repeat != 1 || time.Duration(p.Steps[1].Delay) != 15*time.Minute || p.Steps[1].Targets[1].Receiver != "team" {
		t.Fatalf("policy = %+v", p)
	}
	if len(oc.Receivers) != 1 || oc.Receivers[0] != "team" {
		t.Fatalf("receivers = %v", oc.Receivers)
	}
}

// Bad on-call objects are errors with the line, the object and the field.
func TestOnCallErrorsNameLineObjectAndField(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           []string
	}{
		{"no participants", "participants: [alice, bob]", "participants: []",
			[]string{"line 21", `schedule "primary"`, "rotations[0].participants", "at least one participant"}},
		{"participants missing", "        participants: [alice, bob]\n", "",
			[]string{"line 20", `schedule "primary"`, "rotations[0].participants"}},
		{"unknown time zone", "Europe/Berlin", "Europe/Berlni",
			[]string{"line 18", "time_zone", `unknown time zone "Europe/Berlni"`}},
		{"unknown participant", "[alice, bob]", "[alice, zed]",
			[]string{"line 21", `unknown user "zed"`}},
		{"unknown user in a policy", "{user: bob}", "{user: zed}",
			[]string{"line 32", `escalation policy "default"`, "steps[1].targets[0].user", `unknown user "zed"`}},
		{"unknown receiver", "{receiver: team}", "{receiver: nope}",
			[]string{"line 32", `unknown receiver "nope"`}},
		{"unknown schedule", "{schedule: primary}", "{schedule: secondary}",
			[]string{"line 30", `unknown schedule "secondary"`}},
		{"bad shift", "shift: weekly", "shift: fortnightly",
			[]string{"line 22", "rotations[0].shift", "fortnightly"}},
		{"bad hand-off", `handoff: "09:00"`, `handoff: "9am"`,
			[]string{"line 24", "rotations[0].handoff"}},
		{"bad email", "alice@example.com", "alice at example",
			[]string{"line 9", `user "alice"`, "contact_methods[0].to"}},
		{"duplicate user", "  - name: bob\n", "  - name: alice\n",
			[]string{"line 12", `user "alice"`, "defined more than once"}},
		{"unknown field", "    time_zone: Europe/Berlin\n", "    timezone: Europe/Berlin\n",
			[]string{"line 18", "timezone"}},
		{"zero delay", "delay: 5m", "delay: 0s",
			[]string{"line 29", "steps[0].delay"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(onCallBase, c.from, c.to, 1)
			if text == onCallBase {
				t.Fatalf("replacing %q changed nothing", c.from)
			}
			_, err := LoadFile(write(t, text))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range append(c.want, "klaxon.yml") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// The README's on-call example loads as written.
func TestReadmeOnCallExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## On-call\n")
	if !ok {
		t.Fatal("README has no On-call section")
	}
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	text := "route:\n  receiver: team-slack\nreceivers:\n  - name: team-slack\n" + block
	cfg, err := Load([]byte(text), ".")
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if len(cfg.OnCall.Schedules) != 1 || len(cfg.OnCall.Schedules[0].Rotations) != 2 || len(cfg.OnCall.Policies) != 1 {
		t.Fatalf("README example loaded as %+v", cfg.OnCall)
	}
}
