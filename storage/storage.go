// Package storage holds the database plumbing shared by Klaxon's domain
// packages: opening the embedded SQLite store or PostgreSQL, applying the
// embedded migrations, and running transactions. Each domain package owns its
// own tables and queries; this package knows none of them.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/klaxon-dev/klaxon/migrations"
)

// Dialect names the SQL flavour of a store. Queries are written once with
// '?' placeholders; Rebind adapts them to the dialect.
type Dialect string

// The two supported backends.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options selects and tunes the backend.
type Options struct {
	// DatabaseURL selects PostgreSQL when set (postgres:// or postgresql://).
	DatabaseURL string
	// Path is the directory of the embedded SQLite store, used when
	// DatabaseURL is empty. The database file is Path/klaxon.db.
	Path string
	// Logger receives migration progress; nil discards it.
	Logger *slog.Logger
}

// DB is an open, migrated store.
type DB struct {
	*sql.DB
	dialect Dialect
	// where is a secret-free description for logs and status pages.
	where string
}

// Open connects to the store chosen by opts and applies pending migrations.
// On PostgreSQL the migrations run under an advisory lock so that several
// replicas starting together migrate once.
func Open(ctx context.Context, opts Options) (*DB, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		db  *DB
		err error
	)
	if opts.DatabaseURL != "" {
		db, err = openPostgres(ctx, opts.DatabaseURL)
	} else {
		db, err = openSQLite(ctx, opts.Path)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, logger); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, dir string) (*DB, error) {
	if dir == "" {
		dir = "data"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create storage directory: %w", err)
	}
	file := filepath.Join(dir, "klaxon.db")
	// WAL lets readers run beside the single writer; synchronous=FULL makes a
	// committed transaction survive power loss, not only a process crash;
	// _txlock=immediate takes the write lock at BEGIN so that two writers
	// queue on busy_timeout instead of failing on lock upgrade.
	dsn := "file:" + file + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	return &DB{DB: sqldb, dialect: SQLite, where: "sqlite:" + file}, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	sqldb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", Redact(dsn), err)
	}
	sqldb.SetMaxOpenConns(20)
	sqldb.SetMaxIdleConns(10)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("connect to postgres %s: %w", Redact(dsn), err)
	}
	return &DB{DB: sqldb, dialect: Postgres, where: Redact(dsn)}, nil
}

// The driver name is registered by the pgx stdlib import.
var _ = stdlib.GetDefaultDriver

// migrationLockID is the advisory lock key held while migrating; any fixed
// number unlikely to clash with an application's own locks will do.
const migrationLockID = 0x6b6c61786f6e // "klaxon"

func (db *DB) migrate(ctx context.Context, logger *slog.Logger) error {
	sub, err := fs.Sub(migrations.FS, string(db.dialect))
	if err != nil {
		return fmt.Errorf("migrations for %s: %w", db.dialect, err)
	}
	dialect := goose.DialectSQLite3
	var popts []goose.ProviderOption
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	popts = append(popts, goose.WithTableName("klaxon_schema_version"), goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(dialect, db.DB, sub, popts...)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations on %s: %w", db.where, err)
	}
	for _, r := range results {
		logger.Info("Applied migration", "version", r.Source.Version, "file", filepath.Base(r.Source.Path), "duration", r.Duration)
	}
	return nil
}

// Dialect reports which backend this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// String describes the store without credentials.
func (db *DB) String() string { return db.where }

// Rebind rewrites '?' placeholders into PostgreSQL's $n form. Queries must
// not contain '?' inside string literals.
func (db *DB) Rebind(q string) string { return Rebind(db.dialect, q) }

// Rebind rewrites '?' placeholders for dialect d.
func Rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Tx is a transaction that knows its dialect, so a domain package can be
// handed a transaction opened by another and still write portable queries.
type Tx struct {
	*sql.Tx
	dialect Dialect
}

// Dialect reports the backend of the transaction.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// Exec runs q after rebinding its placeholders.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, Rebind(tx.dialect, q), args...)
}

// Query runs q after rebinding its placeholders.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, Rebind(tx.dialect, q), args...)
}

// QueryRow runs q after rebinding its placeholders.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, Rebind(tx.dialect, q), args...)
}

// InTx runs fn in a transaction and commits it if fn returns nil. Nothing
// fn wrote is visible to others, or acknowledged to a caller, before the
// commit returns.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: sqltx, dialect: db.dialect}
	if err := fn(tx); err != nil {
		if rerr := sqltx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Exec runs q outside a transaction after rebinding its placeholders.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.DB.ExecContext(ctx, db.Rebind(q), args...)
}

// Query runs q outside a transaction after rebinding its placeholders.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.DB.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRow runs q outside a transaction after rebinding its placeholders.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.DB.QueryRowContext(ctx, db.Rebind(q), args...)
}

// Redact removes the password from a database URL for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if err != nil {
			return "postgres://<unparseable>"
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Millis converts t to the integer milliseconds stored in the database; the
// zero time is stored as 0 so that "unset" survives a round trip.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time converts stored milliseconds back; 0 means the zero time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Querier is what DB and Tx have in common, for reads that run either
// inside a caller's transaction or on their own.
type Querier interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}
