package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // schedules name IANA zones; minimal containers have no zoneinfo

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/web/client"
)

type onCallCmd struct {
	cmd                       *kingpin.CmdClause
	url, output, schedule, at *string
	token                     *string
	// Tests replace these.
	stdout, stderr io.Writer
	now            func() time.Time
	localZone      *time.Location
	timeout        time.Duration
}

func newOnCallCmd(app *kingpin.Application) *onCallCmd {
	c := &onCallCmd{stdout: os.Stdout, stderr: os.Stderr, now: time.Now, localZone: time.Local, timeout: 30 * time.Second}
	c.cmd = app.Command("oncall", "Show who is on call for a schedule now or at a given time, and who is next.")
	c.url = c.cmd.Flag("klaxon.url", "Klaxon's URL, including any --web.route-prefix.").
		Envar("KLAXON_URL").Default("http://localhost:9093").String()
	c.token = c.cmd.Flag("token", "API token with the read scope; see klaxon tokens create.").Envar("KLAXON_TOKEN").String()
	c.output = c.cmd.Flag("output", "Output format: table or json.").Short('o').Default("table").Enum("table", "json")
	c.at = c.cmd.Flag("at", "When to ask about: RFC 3339 (2026-03-29T09:00:00+02:00), local 2026-03-29T09:00, or relative +8h / -1d. Default now.").String()
	c.schedule = c.cmd.Arg("schedule", "Schedule name.").Required().String()
	return c
}

// parseAt reads --at: an RFC 3339 time, a date and time in the local zone,
// or a duration relative to now.
func parseAt(s string, now time.Time, local *time.Location) (time.Time, error) {
	if s == "" || s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, local); err == nil {
			return t, nil
		}
	}
	if sign := s[0]; sign == '+' || sign == '-' {
		if d, err := model.ParseDuration(s[1:]); err == nil {
			if sign == '-' {
				return now.Add(-time.Duration(d)), nil
			}
			return now.Add(time.Duration(d)), nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 (2026-03-29T09:00:00+02:00), a local 2026-03-29T09:00, or +8h / -1d", s)
}

func (c *onCallCmd) run() int {
	at, err := parseAt(*c.at, c.now(), c.localZone)
	if err != nil {
		fmt.Fprintln(c.stderr, "klaxon:", err)
		return 2
	}
	cl, err := client.New(*c.url)
	if err != nil {
		fmt.Fprintln(c.stderr, "klaxon:", err)
		return 2
	}
	if c.token != nil {
		cl.SetToken(*c.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	res, err := cl.OnCall(ctx, *c.schedule, at)
	if err != nil {
		fmt.Fprintln(c.stderr, "klaxon:", err)
		return 1
	}
	if *c.output == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return 0
	}
	printOnCall(c.stdout, res)
	return 0
}

// printOnCall shows times in the schedule's zone, where its hand-offs are
// defined.
func printOnCall(w io.Writer, res *oncall.OnCall) {
	loc, err := time.LoadLocation(res.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	const layout = "2006-01-02 15:04 MST"
	fmt.Fprintf(w, "Schedule %s (%s) at %s\n", res.Schedule, res.TimeZone, res.At.In(loc).Format(layout))
	table := func(list []oncall.Shift) {
		if len(list) == 0 {
			fmt.Fprintln(w, "  nobody is on call")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  USER\tFROM\tUNTIL\tBECAUSE OF")
		for _, s := range list {
			why := "rotation " + s.Rotation
			if s.OverrideID != 0 {
				why = fmt.Sprintf("override %d", s.OverrideID)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.User, s.Start.In(loc).Format(layout), s.End.In(loc).Format(layout), why)
		}
		tw.Flush()
	}
	table(res.OnCall)
	if res.NextChange != nil {
		fmt.Fprintf(w, "Next, from %s:\n", res.NextChange.In(loc).Format(layout))
		table(res.Next)
	} else {
		fmt.Fprintln(w, "No change in the weeks ahead.")
	}
}
