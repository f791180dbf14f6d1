package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/klaxon-dev/klaxon/auth"
)

type tokensCmd struct {
	store                  storeFlags
	create, list, revoke   *kingpin.CmdClause
	name, scopes, expires  *string
	createdBy, revokeWhich *string
	stdout, stderr         io.Writer
}

func newTokensCmd(app *kingpin.Application) *tokensCmd {
	c := &tokensCmd{stdout: os.Stdout, stderr: os.Stderr}
	cmd := app.Command("tokens", "Manage API tokens for Prometheus, scripts and the CLI (works on the database directly; same storage flags as serve).")
	c.store = addStoreFlags(cmd)
	c.create = cmd.Command("create", "Create a token and print its secret, once: only its hash is stored.")
	c.name = c.create.Arg("name", "Token name, e.g. prometheus or ci.").Required().String()
	c.scopes = c.create.Flag("scope", "Comma-separated scopes: ingest (post alerts), read, respond (ack, silence, edit incidents), admin (everything).").
		Required().String()
	c.expires = c.create.Flag("expires", "Lifetime, e.g. 90d or 12h; default never.").String()
	c.createdBy = c.create.Flag("created-by", "Who creates it; defaults to the current system user.").String()
	c.list = cmd.Command("list", "List tokens (never their secrets).")
	c.revoke = cmd.Command("revoke", "Revoke a token by name or id; it stops working at once on every replica.")
	c.revokeWhich = c.revoke.Arg("token", "Token name or id.").Required().String()
	return c
}

func (c *tokensCmd) run(cmd string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		scopes  []auth.Scope
		expires time.Time
	)
	if cmd == c.create.FullCommand() {
		var err error
		if scopes, err = auth.ParseScopes(*c.scopes); err != nil {
			return c.fail(err)
		}
		if *c.expires != "" {
			d, err := model.ParseDuration(*c.expires)
			if err != nil || d <= 0 {
				return c.fail(fmt.Errorf("%w: --expires %q: want a duration such as 90d or 12h", auth.ErrInvalid, *c.expires))
			}
			expires = time.Now().Add(time.Duration(d))
		}
	}
	db, svc, err := c.store.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer db.Close()
	switch cmd {
	case c.create.FullCommand():
		by := *c.createdBy
		if by == "" {
			if u, err := user.Current(); err == nil {
				by = u.Username
			}
		}
		tok, secret, err := svc.CreateToken(ctx, *c.name, scopes, by, expires)
		if err != nil {
			return c.fail(err)
		}
		// The secret alone on stdout, so that scripts can capture it; the
		// rest on stderr.
		fmt.Fprintln(c.stdout, secret)
		fmt.Fprintf(c.stderr, "Created token %d %q with scopes %s. Store the secret now: it is not shown again.\n",
			tok.ID, tok.Name, *c.scopes)
	case c.list.FullCommand():
		list, err := svc.Tokens(ctx)
		if err != nil {
			return c.fail(err)
		}
		printTokens(c.stdout, list, time.Now())
	case c.revoke.FullCommand():
		which := *c.revokeWhich
		if id, perr := strconv.ParseInt(which, 10, 64); perr == nil {
			err = svc.RevokeToken(ctx, id)
		} else {
			err = svc.RevokeTokenNamed(ctx, which)
		}
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "Revoked token %s.\n", which)
	}
	return 0
}

func (c *tokensCmd) fail(err error) int {
	fmt.Fprintln(c.stderr, "klaxon:", err)
	return exitCode(err)
}

func printTokens(w io.Writer, list []auth.Token, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tSTATE\tCREATED BY\tCREATED\tLAST USED\tEXPIRES")
	for _, t := range list {
		state := "active"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked"
		case !t.Active(now):
			state = "expired"
		}
		scopes := make([]string, len(t.Scopes))
		for i, s := range t.Scopes {
			scopes[i] = string(s)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(scopes, ","), state, t.CreatedBy,
			fmtTime(t.CreatedAt), fmtTime(t.LastUsedAt), fmtTime(t.ExpiresAt))
	}
	tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
