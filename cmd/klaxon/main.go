// Command klaxon is Klaxon's one binary: the server and its command-line
// tools.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/klaxon-dev/klaxon/config"
)

// defaultVersion names builds made without release -ldflags.
const defaultVersion = "0.1.0-dev"

func main() {
	if version.Version == "" {
		version.Version = defaultVersion
	}
	app := kingpin.New("klaxon", "Alerting and incident routing for Prometheus: rules, routing, notifications, incidents and on-call in one service.")
	app.Version(version.Print("klaxon"))
	app.HelpFlag.Short('h')

	serve := newServeCmd(app)
	check := newCheckConfigCmd(app)
	inc := newIncidentsCmd(app)
	oc := newOnCallCmd(app)
	rulesTools := newRulesCmd(app)
	users := newUsersCmd(app)
	tokens := newTokensCmd(app)

	cmd, err := app.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "klaxon: %s\n", err)
		os.Exit(2)
	}
	// Matchers and label names are parsed as a default Alertmanager does,
	// before any configuration is read or alert validated.
	config.InitMatchers(nil)
	var code int
	switch cmd {
	case serve.cmd.FullCommand():
		code = serve.run()
	case check.cmd.FullCommand():
		code = check.run()
	case oc.cmd.FullCommand():
		code = oc.run()
	case rulesTools.check.FullCommand(), rulesTools.test.FullCommand():
		code = rulesTools.runCmd(cmd)
	case users.add.FullCommand(), users.passwd.FullCommand(), users.list.FullCommand(), users.remove.FullCommand():
		code = users.run(cmd)
	case tokens.create.FullCommand(), tokens.list.FullCommand(), tokens.revoke.FullCommand():
		code = tokens.run(cmd)
	default:
		code = inc.run(cmd)
	}
	os.Exit(code)
}
