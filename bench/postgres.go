package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// PostgresEnv name the environment variables of an existing PostgreSQL
// server to use instead of starting one, in order of preference.
var PostgresEnv = []string{"KLAXON_BENCH_POSTGRES_URL", "KLAXON_TEST_POSTGRES_URL"}

// postgres is a PostgreSQL server the benchmark creates its databases on.
type postgres struct {
	base    string // admin URL
	version string
	created []string
	stop    func()
}

// openPostgres uses the server of PostgresEnv if one is set, and otherwise
// starts a throw-away one in a temporary directory as the postgres user
// (installing Debian's postgresql package if needed).
func openPostgres(ctx context.Context, logf func(string, ...any)) (*postgres, error) {
	for _, env := range PostgresEnv {
		if u := os.Getenv(env); u != "" {
			logf("PostgreSQL: using %s", env)
			pg := &postgres{base: u, stop: func() {}}
			return pg, pg.readVersion(ctx)
		}
	}
	if err := needPackage(ctx, filepath.Join(pgBin, "initdb"), "postgresql", logf); err != nil {
		return nil, err
	}
	pw, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(pw.Uid)
	gid, _ := strconv.Atoi(pw.Gid)
	dir, err := os.MkdirTemp("", "klaxon-bench-pg.")
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	asPostgres := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := asPostgres(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("PostgreSQL initdb: %w", err)
	}
	var port int
	for range 5 {
		if port, err = FreePort(); err != nil {
			break
		}
		err = asPostgres(filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "postgres.log"),
			"-w", "-t", "60", "-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, dir),
			"start")
		if err == nil {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("PostgreSQL start: %w", err)
	}
	pg := &postgres{
		base: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		stop: func() {
			cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"),
				"-D", data, "-m", "immediate", "-w", "stop")
			cmd.Dir = dir
			_ = cmd.Run()
			os.RemoveAll(dir)
		},
	}
	logf("PostgreSQL: started on 127.0.0.1:%d (data in %s)", port, dir)
	if err := pg.readVersion(ctx); err != nil {
		pg.stop()
		return nil, err
	}
	return pg, nil
}

func (pg *postgres) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.base)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (pg *postgres) readVersion(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.base)
	if err != nil {
		return fmt.Errorf("PostgreSQL: connect: %w", err)
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, "SHOW server_version").Scan(&pg.version)
}

// newDatabase creates an empty database and returns its URL.
func (pg *postgres) newDatabase(ctx context.Context) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "klaxon_bench_" + hex.EncodeToString(b)
	if err := pg.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	pg.created = append(pg.created, name)
	u, err := url.Parse(pg.base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// close drops the databases it created and stops the server it started.
func (pg *postgres) close() {
	for _, name := range pg.created {
		_ = pg.exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	pg.stop()
}

// needPackage installs Debian package pkg with apt-get unless bin exists.
func needPackage(ctx context.Context, bin, pkg string, logf func(string, ...any)) error {
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s is missing: install Debian package %s (apt-get install %s) or run as root", bin, pkg, pkg)
	}
	logf("installing Debian package %s", pkg)
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"update", "-q"},
		{"install", "-y", "-q", "--no-install-recommends", pkg},
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	if pkg == "postgresql" {
		// The package may have started its default cluster; we don't use it.
		_ = exec.Command("pg_ctlcluster", "15", "main", "stop").Run()
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("installed %s but %s is still missing", pkg, bin)
	}
	return nil
}
