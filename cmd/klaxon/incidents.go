package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/web/client"
)

type incidentsCmd struct {
	url, output, by, token              *string
	status, severity, service, assignee *string
	list, ack, unack, resolve           *kingpin.CmdClause
	ackID, unackID, resolveID           *int64
}

func newIncidentsCmd(app *kingpin.Application) *incidentsCmd {
	c := &incidentsCmd{}
	cmd := app.Command("incidents", "List, acknowledge, un-acknowledge and resolve incidents on a running Klaxon.")
	c.url = cmd.Flag("klaxon.url", "Klaxon's URL, including any --web.route-prefix.").
		Envar("KLAXON_URL").Default("http://localhost:9093").String()
	c.token = cmd.Flag("token", "API token with the read scope (respond to act); see klaxon tokens create.").Envar("KLAXON_TOKEN").String()
	c.output = cmd.Flag("output", "Output format: table or json.").Short('o').Default("table").Enum("table", "json")
	c.by = cmd.Flag("by", "Who acts; defaults to the current user.").String()
	c.list = cmd.Command("list", "List incidents, newest first.").Default()
	c.status = c.list.Flag("status", "Only incidents in this state.").Enum("triggered", "acknowledged", "resolved")
	c.severity = c.list.Flag("severity", "Only incidents of this severity.").String()
	c.service = c.list.Flag("service", "Only incidents of this service.").String()
	c.assignee = c.list.Flag("assignee", "Only incidents assigned to this person.").String()
	c.ack = cmd.Command("ack", "Acknowledge an incident: stop repeat notifications until something changes.")
	c.ackID = c.ack.Arg("id", "Incident id.").Required().Int64()
	c.unack = cmd.Command("unack", "Take an acknowledgement back: the incident is triggered again and its escalation resumes.")
	c.unackID = c.unack.Arg("id", "Incident id.").Required().Int64()
	c.resolve = cmd.Command("resolve", "Resolve an incident by hand.")
	c.resolveID = c.resolve.Arg("id", "Incident id.").Required().Int64()
	return c
}

func (c *incidentsCmd) run(cmd string) int {
	cl, err := client.New(*c.url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "klaxon:", err)
		return 2
	}
	cl.SetToken(*c.token)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	by := *c.by
	if by == "" {
		if u, err := user.Current(); err == nil {
			by = u.Username
		}
	}
	var out any
	switch cmd {
	case c.list.FullCommand():
		out, err = cl.ListIncidents(ctx, client.IncidentFilter{
			Status: *c.status, Severity: *c.severity, Service: *c.service, Assignee: *c.assignee})
	case c.ack.FullCommand():
		out, err = cl.Ack(ctx, *c.ackID, by, "cli")
	case c.unack.FullCommand():
		out, err = cl.Unack(ctx, *c.unackID, by, "cli")
	case c.resolve.FullCommand():
		out, err = cl.Resolve(ctx, *c.resolveID, by, "cli")
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "klaxon:", err)
		return 1
	}
	if *c.output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return 0
	}
	switch v := out.(type) {
	case []*incidents.Incident:
		printIncidents(v)
	case *incidents.Incident:
		printIncidents([]*incidents.Incident{v})
	}
	return 0
}

func printIncidents(list []*incidents.Incident) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tSEVERITY\tSERVICE\tASSIGNEE\tOPENED\tALERTS\tTITLE")
	for _, inc := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", strconv.FormatInt(inc.ID, 10), inc.Status, inc.Severity,
			inc.Service, inc.Assignee, inc.OpenedAt.Local().Format(time.DateTime), len(inc.Alerts), inc.Title)
	}
	w.Flush()
}
