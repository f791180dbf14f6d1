package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/klaxon-dev/klaxon/config"
)

type checkConfigCmd struct {
	cmd   *kingpin.CmdClause
	files *[]string
}

func newCheckConfigCmd(app *kingpin.Application) *checkConfigCmd {
	c := &checkConfigCmd{cmd: app.Command("check-config", "Validate configuration files; exit status 1 if any is invalid.")}
	c.files = c.cmd.Arg("file", "Configuration files to check.").Required().ExistingFiles()
	return c
}

func (c *checkConfigCmd) run() int {
	failed := false
	for _, f := range *c.files {
		fmt.Printf("Checking '%s'", f)
		cfg, err := config.LoadFile(f)
		if err != nil {
			fmt.Println("  FAILED:", err)
			failed = true
			continue
		}
		fmt.Println("  SUCCESS")
		fmt.Printf("Found:\n - global config\n - route\n - %d inhibit rules\n - %d receivers\n - %d templates\n",
			len(cfg.Alertmanager.InhibitRules), len(cfg.Alertmanager.Receivers), len(cfg.Alertmanager.Templates))
	}
	if failed {
		fmt.Fprintln(os.Stderr, "klaxon: configuration check failed")
		return 1
	}
	return 0
}
