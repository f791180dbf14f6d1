package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/term"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/storage"
	"github.com/klaxon-dev/klaxon/web"
)

// initialPasswordFile is where the first run writes the generated admin
// password, in the --storage.path directory.
const initialPasswordFile = "initial-admin-password"

// storeFlags are the storage flags of `klaxon serve`, for the commands
// that work on the database directly.
type storeFlags struct {
	storagePath, databaseURL *string
}

func addStoreFlags(cmd *kingpin.CmdClause) storeFlags {
	return storeFlags{
		storagePath: cmd.Flag("storage.path", "Directory of the embedded SQLite store, used without --database-url.").
			Default("data/").String(),
		databaseURL: cmd.Flag("database-url", "PostgreSQL URL (postgres://user:pass@host/db); replaces the embedded store.").
			Envar("KLAXON_DATABASE_URL").String(),
	}
}

func (f storeFlags) open(ctx context.Context) (*storage.DB, *auth.Service, error) {
	db, err := storage.Open(ctx, storage.Options{DatabaseURL: *f.databaseURL, Path: *f.storagePath})
	if err != nil {
		return nil, nil, err
	}
	return db, auth.New(auth.Options{DB: db}), nil
}

type usersCmd struct {
	store                       storeFlags
	add, passwd, list, remove   *kingpin.CmdClause
	addName, passwdName, rmName *string
	role                        *string
	stdin                       io.Reader
	stdout, stderr              io.Writer
	isTerminal                  func() bool
	readHidden                  func() (string, error)
}

func newUsersCmd(app *kingpin.Application) *usersCmd {
	c := &usersCmd{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		isTerminal: func() bool { return term.IsTerminal(int(os.Stdin.Fd())) },
		readHidden: func() (string, error) {
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			return string(b), err
		}}
	cmd := app.Command("users", "Manage the users who log in to Klaxon (works on the database directly; same storage flags as serve).")
	c.store = addStoreFlags(cmd)
	c.add = cmd.Command("add", "Add a user. The password is read from standard input (one line), or asked for without echo on a terminal.")
	c.addName = c.add.Arg("name", "User name.").Required().String()
	c.role = c.add.Flag("role", "Role: viewer (reads), responder (also acks, silences, edits incidents) or admin (also users, tokens, on-call, reload).").
		Required().Enum(string(auth.RoleViewer), string(auth.RoleResponder), string(auth.RoleAdmin))
	c.passwd = cmd.Command("passwd", "Set a user's password (read as for add) and end their sessions.")
	c.passwdName = c.passwd.Arg("name", "User name.").Required().String()
	c.list = cmd.Command("list", "List users and their roles.")
	c.remove = cmd.Command("remove", "Remove a user and end their sessions.")
	c.rmName = c.remove.Arg("name", "User name.").Required().String()
	return c
}

// run exits 0 on success, 1 when the store or the action failed, 2 on bad
// input (name, role, password).
func (c *usersCmd) run(cmd string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var password string
	if cmd == c.add.FullCommand() || cmd == c.passwd.FullCommand() {
		name := *c.addName
		if cmd == c.passwd.FullCommand() {
			name = *c.passwdName
		}
		if err := auth.CheckUserName(name); err != nil {
			return c.fail(err)
		}
		pw, err := c.readPassword()
		if err != nil {
			return c.fail(err)
		}
		if err := auth.CheckPassword(pw); err != nil {
			return c.fail(err)
		}
		password = pw
	}
	db, svc, err := c.store.open(ctx)
	if err != nil {
		return c.fail(err)
	}
	defer db.Close()
	switch cmd {
	case c.add.FullCommand():
		if _, err := svc.AddUser(ctx, *c.addName, auth.Role(*c.role), password); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "Added user %s (%s).\n", *c.addName, *c.role)
	case c.passwd.FullCommand():
		if err := svc.SetPassword(ctx, *c.passwdName, password); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "Password of %s changed; their sessions are ended.\n", *c.passwdName)
	case c.list.FullCommand():
		users, err := svc.Users(ctx)
		if err != nil {
			return c.fail(err)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tUPDATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Local().Format(time.DateTime), u.UpdatedAt.Local().Format(time.DateTime))
		}
		tw.Flush()
	case c.remove.FullCommand():
		if err := svc.RemoveUser(ctx, *c.rmName); err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "Removed user %s.\n", *c.rmName)
	}
	return 0
}

// readPassword reads the new password: without echo, twice, on a
// terminal; else the first line of standard input.
func (c *usersCmd) readPassword() (string, error) {
	if c.isTerminal() {
		fmt.Fprint(c.stderr, "Password: ")
		pw, err := c.readHidden()
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(c.stderr, "Password again: ")
		again, err := c.readHidden()
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", fmt.Errorf("%w: the passwords differ", auth.ErrInvalid)
		}
		return pw, nil
	}
	line, err := bufio.NewReader(io.LimitReader(c.stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: no password on standard input (e.g. echo \"$PASSWORD\" | klaxon users add NAME --role viewer)", auth.ErrInvalid)
	}
	return line, nil
}

func (c *usersCmd) fail(err error) int {
	fmt.Fprintln(c.stderr, "klaxon:", err)
	return exitCode(err)
}

// exitCode is 2 for bad input, 3 for a missing or taken name (or the last
// admin), 1 for the rest (store unreachable and the like).
func exitCode(err error) int {
	switch {
	case errors.Is(err, auth.ErrInvalid):
		return 2
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, auth.ErrExists), errors.Is(err, auth.ErrLastAdmin):
		return 3
	}
	return 1
}

// bootstrapAdmin runs the first-run story: on a store without users it
// creates "admin" with a generated password, logs the password once and
// writes it to <storage.path>/initial-admin-password (mode 0600).
func bootstrapAdmin(ctx context.Context, svc *auth.Service, storagePath string, logger *slog.Logger) error {
	pw, err := svc.Bootstrap(ctx)
	if err != nil || pw == "" {
		return err
	}
	file := filepath.Join(storagePath, initialPasswordFile)
	werr := os.MkdirAll(storagePath, 0o750)
	if werr == nil {
		werr = os.WriteFile(file, []byte(pw+"\n"), 0o600)
	}
	if werr != nil {
		logger.Warn("Could not write the initial admin password file; it is only in this log", "file", file, "err", werr)
		file = ""
	}
	logger.Warn("No users existed: created user \"admin\". Log in with this password and change it (klaxon users passwd admin); it is shown only once",
		"user", auth.InitialAdmin, "password", pw, "file", file)
	return nil
}

// webAccess turns the auth configuration into the web server's.
func webAccess(a config.Auth, svc *auth.Service, ext *url.URL) web.Access {
	return web.Access{
		Auth: svc, IngestOpen: a.Ingest == "open", MetricsOpen: a.Metrics == "open",
		CookieSecure: a.CookieSecure, ExternalHTTPS: ext != nil && ext.Scheme == "https",
		TrustedProxies: a.Proxies, ProxyHeader: a.ProxyHeader, ProxyDefaultRole: auth.Role(a.ProxyDefaultRole),
	}
}

// warnAuthChange says that a reloaded auth section waits for a restart:
// access control is set up once, at start, so that a reload can never
// open a door by accident.
func warnAuthChange(logger *slog.Logger, old, cfg *config.Config) {
	if old != nil && !reflect.DeepEqual(old.Auth, cfg.Auth) {
		logger.Warn("The auth section changed; it takes effect at the next start")
	}
}

// authService builds the store of users, sessions and tokens from the
// auth configuration.
func authService(db *storage.DB, a config.Auth, now func() time.Time, logger *slog.Logger) *auth.Service {
	return auth.New(auth.Options{DB: db, Now: now, Logger: logger,
		SessionIdle: time.Duration(a.SessionIdleTimeout), SessionMaxAge: time.Duration(a.SessionMaxAge)})
}
