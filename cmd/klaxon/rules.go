package main

import (
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/klaxon-dev/klaxon/rules"
	"github.com/klaxon-dev/klaxon/rules/unittest"
)

// rulesCmd is `klaxon rules check|test`: the tools rule authors run
// before they merge.
type rulesCmd struct {
	check     *kingpin.CmdClause
	paths     *[]string
	lintFatal *bool

	test  *kingpin.CmdClause
	tests *[]string
	run   *[]string
	junit *string
}

func newRulesCmd(app *kingpin.Application) *rulesCmd {
	parent := app.Command("rules", "Check and unit-test Prometheus rule files and PrometheusRule manifests.")
	c := &rulesCmd{}
	c.check = parent.Command("check", "Check rule files (files, globs or directories): syntax, PromQL, templates, duplicates and lint. Exit status 1 on errors.")
	c.paths = c.check.Arg("path", "Rule files, globs or directories.").Required().Strings()
	c.lintFatal = c.check.Flag("lint-fatal", "Make lint findings fatal (exit status 3).").Bool()

	c.test = parent.Command("test", "Run promtool-style rule unit tests through Klaxon's evaluator. Exit status 1 on failures.")
	c.tests = c.test.Arg("test-rule-file", "Unit test files (promtool test rules format).").Required().ExistingFiles()
	c.run = c.test.Flag("run", "Only run test groups whose name matches the regular expression; repeatable.").Strings()
	c.junit = c.test.Flag("junit", "Write a JUnit XML report to this file.").String()
	return c
}

func (c *rulesCmd) runCmd(cmd string) int {
	if cmd == c.test.FullCommand() {
		return unittest.Main(os.Stdout, os.Stderr, unittest.Options{Files: *c.tests, Run: *c.run, JUnit: *c.junit})
	}
	res := rules.Check(*c.paths)
	res.Write(os.Stdout, os.Stderr)
	switch {
	case res.Errors > 0:
		return 1
	case res.Lints > 0 && *c.lintFatal:
		return 3
	}
	return 0
}
