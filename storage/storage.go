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
	// writer, on SQLite, queues this process's writers (InTx, Exec) in Go.
	// SQLite has one writer at a time, and its busy handler makes the
	// others sleep 1, 2, 5, 10 ms ... between attempts, so a writer
	// arriving during a commit lost milliseconds after the lock was free;
	// the queue hands the turn over at once (see writerQueue).
	writer *writerQueue
	// wal, on SQLite, makes commits durable (see openSQLite).
	wal *walSyncer
	// stmts, on SQLite, keeps statements compiled (see stmtCache).
	stmts *stmtCache
	// ckpt, on SQLite, checkpoints the write-ahead log (see checkpointer).
	ckpt *checkpointer
	// barrier, on PostgreSQL, makes InTxDeferred's asynchronous commits
	// durable (see newBarrierSyncer).
	barrier *walSyncer
}

// writerWait bounds the wait for the writer turn; after it, a writer goes
// ahead and SQLite's own locking (busy_timeout) decides, as without the
// queue. Only a writer nested in another's transaction on the same
// goroutine, which SQLite cannot serve either, waits that long.
const writerWait = 5 * time.Second

// lockWriter waits for the writer turn on SQLite and returns its release.
func (db *DB) lockWriter(ctx context.Context) (unlock func()) {
	if db.writer == nil || !db.writer.lock(ctx, writerWait) {
		return func() {}
	}
	return db.writer.unlock
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
	// WAL lets readers run beside the single writer; synchronous=NORMAL
	// with the write-ahead log synced by InTx and Exec before they return
	// (walSyncer) makes a committed transaction survive power loss, not
	// only a process crash, as synchronous=FULL would, with one fsync for
	// all the transactions committed meanwhile; _txlock=immediate takes the
	// write lock at BEGIN so that two writers queue instead of failing on
	// lock upgrade; wal_autocheckpoint=0 leaves checkpoints to the
	// checkpointer, off the commit path; cache_spill=OFF keeps a large
	// transaction's dirty pages in memory until its commit instead of
	// writing them to the log early and again at the commit (a flusher's
	// clean-up of thousands of resolved alerts did, and held the writer
	// that ingest waits for meanwhile).
	dsn := "file:" + file + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=cache_spill(OFF)"
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", file, err)
	}
	// Connections are kept, with their compiled statements, instead of
	// being closed after each burst of concurrent readers.
	sqldb.SetMaxIdleConns(8)
	return &DB{DB: sqldb, dialect: SQLite, where: "sqlite:" + file, writer: &writerQueue{},
		wal: newWALSyncer(file), stmts: newStmtCache(sqldb), ckpt: newCheckpointer(sqldb)}, nil
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
	db := &DB{DB: sqldb, dialect: Postgres, where: Redact(dsn)}
	db.barrier = newBarrierSyncer(func() error {
		// txid_current gives the statement's transaction an id, so that
		// its commit is logged and, synchronous, waits for the log's flush.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := sqldb.ExecContext(ctx, `SELECT txid_current()`)
		return err
	})
	return db, nil
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

// Values returns the placeholders of a multi-row VALUES list, rows groups
// of cols: Values(2, 2) is "(?, ?), (?, ?)".
func Values(rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * (3*cols + 1))
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Tx is a transaction that knows its dialect, so a domain package can be
// handed a transaction opened by another and still write portable queries.
type Tx struct {
	// sqltx is the transaction on SQLite; pg the one on PostgreSQL.
	sqltx   *sql.Tx
	pg      *pgTx
	dialect Dialect
	db      *DB
	// done are called once the transaction's fate is known, see OnDone.
	done []func(committed bool)
	// committed are called after the commit, before it is durable.
	committed []func()
	// relaxed is set in InTxRelaxed's transactions on PostgreSQL, whose
	// commit does not wait for the disk.
	relaxed bool
}

// Relaxed reports whether the transaction's commit may return before it
// is durable (InTxRelaxed): its OnDone hooks then run once it committed,
// not once it is on disk.
func (tx *Tx) Relaxed() bool { return tx.relaxed }

// OnCommitted registers fn to run as soon as the transaction committed,
// before InTx waits for the commit to be durable (on SQLite, for the sync
// of the write-ahead log; PostgreSQL commits durably). It is for moving
// on with what the transaction made visible, such as putting ingested
// alerts into memory so that their group can be flushed while the disk
// syncs: whatever that leads to must itself wait for a later transaction
// to be durable before anything leaves the process, which, the log being
// written in order, makes this one durable too.
func (tx *Tx) OnCommitted(fn func()) {
	tx.committed = append(tx.committed, fn)
}

// OnDone registers fn to run once InTx knows the transaction's fate: with
// true after it committed and is durable (a relaxed one, see Relaxed: once
// it committed), with false if it rolled back or
// its commit failed or could not be made durable. Work that must not
// happen before the transaction's writes are safe, such as sending a
// notification the transaction recorded, goes there; and so does giving
// back what the transaction reserved in memory, when it did not commit.
func (tx *Tx) OnDone(fn func(committed bool)) {
	tx.done = append(tx.done, fn)
}

// Dialect reports the backend of the transaction.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// Exec runs q after rebinding its placeholders.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if tx.pg != nil {
		return tx.pg.exec(ctx, Rebind(tx.dialect, q), args)
	}
	if s := tx.prepared(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.sqltx.ExecContext(ctx, Rebind(tx.dialect, q), args...)
}

// ExecLater runs q, whose result the caller does not need, before the
// transaction's next statement or its commit. On PostgreSQL it is sent
// together with that one, saving a round trip to the server; an error
// then comes from there (or from the commit). On SQLite, which has no
// round trips, it runs at once. args must not change until the
// transaction ends.
func (tx *Tx) ExecLater(ctx context.Context, q string, args ...any) error {
	if tx.pg != nil {
		return tx.pg.later(Rebind(tx.dialect, q), args)
	}
	_, err := tx.Exec(ctx, q, args...)
	return err
}

// QueryRowLater runs q, which returns one row, as ExecLater does, and
// scans the row into dest once it ran: on PostgreSQL when the batch that
// carries it is sent (with the next statement that is read, or with the
// commit), so dest is not to be read before then; OnDone hooks see it. A
// row that cannot be scanned fails the transaction like a failing
// statement, except that a commit sent in the same batch stands: dest must
// be of types its columns always scan into. On SQLite it runs at once.
func (tx *Tx) QueryRowLater(ctx context.Context, dest []any, q string, args ...any) (*Later, error) {
	l := &Later{tx: tx}
	if tx.pg != nil {
		return l, tx.pg.laterRow(Rebind(tx.dialect, q), args, dest, &l.ran)
	}
	l.ran = true
	return l, tx.QueryRow(ctx, q, args...).Scan(dest...)
}

// Later is a statement queued by QueryRowLater.
type Later struct {
	tx  *Tx
	ran bool
}

// Wait returns once the statement ran and its row was scanned, sending
// it, with whatever else is queued, if no later statement did yet: for a
// caller that needs the row before the commit but expects a statement
// that is read to carry it there.
func (l *Later) Wait(ctx context.Context) error {
	pg := l.tx.pg
	if pg == nil {
		return nil // SQLite: QueryRowLater ran it and said how it went
	}
	if !l.ran {
		if _, _, err := pg.send(ctx, nil, false); err != nil {
			return err
		}
	}
	if pg.err != nil {
		return pg.err
	}
	if !l.ran {
		return sql.ErrTxDone
	}
	return nil
}

// Query runs q after rebinding its placeholders.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if tx.pg != nil {
		return tx.pg.query(ctx, Rebind(tx.dialect, q), args)
	}
	if s := tx.prepared(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.sqltx.QueryContext(ctx, Rebind(tx.dialect, q), args...)
}

// QueryRow runs q after rebinding its placeholders.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) Row {
	if tx.pg != nil {
		return tx.pg.queryRow(ctx, Rebind(tx.dialect, q), args)
	}
	if s := tx.prepared(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return tx.sqltx.QueryRowContext(ctx, Rebind(tx.dialect, q), args...)
}

// Rollback ends the transaction without committing it; InTx then reports
// that its commit failed.
func (tx *Tx) Rollback() error {
	if tx.pg != nil {
		return tx.pg.rollback(context.Background())
	}
	return tx.sqltx.Rollback()
}

// prepared returns q compiled on the transaction's connection, or nil when
// it runs unprepared (see stmtCache). The transaction closes it when done;
// the connection keeps the compiled statement.
func (tx *Tx) prepared(ctx context.Context, q string) *sql.Stmt {
	if tx.db == nil {
		return nil
	}
	s := tx.db.stmts.get(q)
	if s == nil {
		return nil
	}
	return tx.sqltx.StmtContext(ctx, s)
}

// InTx runs fn in a transaction and commits it if fn returns nil. Nothing
// fn wrote is visible to others, or acknowledged to a caller, before the
// commit returns; InTx returns once the commit is durable.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	wait, err := db.inTxDeferred(ctx, fn, false)
	if err != nil {
		return err
	}
	return wait()
}

// InTxDeferred is InTx in two steps: it returns once the transaction
// committed (or failed), with wait, which returns once the commit is
// durable (with an error if it could not be made so) and then runs the
// OnDone hooks. The caller may go on meanwhile with what must not wait
// for the disk, such as committing the next batch of alerts, and must call
// wait before telling anyone outside the process that the transaction
// happened.
//
// On PostgreSQL the transaction commits asynchronously (synchronous_commit
// off), and wait waits for a synchronous commit made after it (shared by
// concurrent callers), which flushes PostgreSQL's log through this commit:
// what the caller goes on with meanwhile, if it commits synchronously
// itself, makes this commit durable first.
func (db *DB) InTxDeferred(ctx context.Context, fn func(tx *Tx) error) (wait func() error, err error) {
	return db.inTxDeferred(ctx, fn, db.barrier != nil)
}

// InTxDeferredStrict is InTxDeferred for a transaction that others must not
// see before it is durable: one that records a notification, which another
// transaction may claim and send as soon as it sees the row. On PostgreSQL
// it commits synchronously (an asynchronous commit is visible before it is
// on disk); on SQLite it is InTxDeferred, since a transaction that sees
// this one's commit waits for a sync that makes it durable before its own
// commit returns.
func (db *DB) InTxDeferredStrict(ctx context.Context, fn func(tx *Tx) error) (wait func() error, err error) {
	return db.inTxDeferred(ctx, fn, false)
}

func (db *DB) inTxDeferred(ctx context.Context, fn func(tx *Tx) error, async bool) (wait func() error, err error) {
	unlock := db.lockWriter(ctx)
	if async {
		fn = withAsyncCommit(ctx, fn)
	}
	tx, err := db.inTx(ctx, fn)
	// The next writer goes ahead while this one waits for the disk.
	unlock()
	if err != nil {
		if tx != nil {
			for _, f := range tx.done {
				f(false)
			}
		}
		return nil, err
	}
	db.ckpt.committed()
	for _, f := range tx.committed {
		f()
	}
	return func() error {
		err := db.durable()
		if async && err == nil {
			if err = db.barrier.sync(); err != nil {
				err = fmt.Errorf("commit: %w", err)
			}
		}
		for _, f := range tx.done {
			f(err == nil)
		}
		return err
	}, nil
}

func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) (*Tx, error) {
	if db.dialect == Postgres {
		return db.inTxPG(ctx, fn)
	}
	sqltx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{sqltx: sqltx, dialect: db.dialect, db: db}
	if err := fn(tx); err != nil {
		if rerr := sqltx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return tx, errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return tx, err
	}
	if err := sqltx.Commit(); err != nil {
		return tx, fmt.Errorf("commit: %w", err)
	}
	return tx, nil
}

func (db *DB) inTxPG(ctx context.Context, fn func(tx *Tx) error) (*Tx, error) {
	pg, err := beginPG(ctx, db.DB)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	defer pg.release()
	tx := &Tx{pg: pg, dialect: db.dialect, db: db}
	if err := fn(tx); err != nil {
		if rerr := pg.rollback(ctx); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return tx, errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return tx, err
	}
	if err := pg.commit(ctx); err != nil {
		return tx, fmt.Errorf("commit: %w", err)
	}
	return tx, nil
}

// durable returns once what this process committed so far is on disk.
func (db *DB) durable() error {
	if db.wal == nil {
		return nil // PostgreSQL commits durably itself
	}
	if err := db.wal.sync(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// InTxRelaxed is InTx for writes that may be lost to a power failure or
// an operating system crash, though not to a crash of the process: their
// commit does not wait for the disk. It is for state that the system
// rebuilds by itself if lost, such as a lease on an outbox row (lost, the
// row is claimed again and sent once more, as after a crash mid-send),
// where waiting for the disk would only delay the work.
//
// PostgreSQL runs it with synchronous_commit off. On SQLite it is InTx:
// the wait for the disk there is shared with concurrent commits, and it
// also makes durable what the transaction read (a flush's outbox row is
// on disk before its claim lets it be sent).
func (db *DB) InTxRelaxed(ctx context.Context, fn func(tx *Tx) error) error {
	if db.dialect != Postgres {
		return db.InTx(ctx, fn)
	}
	return db.InTx(ctx, withAsyncCommit(ctx, func(tx *Tx) error {
		tx.relaxed = true
		return fn(tx)
	}))
}

// withAsyncCommit has fn's PostgreSQL transaction commit without waiting
// for the flush of the database's log.
func withAsyncCommit(ctx context.Context, fn func(tx *Tx) error) func(tx *Tx) error {
	return func(tx *Tx) error {
		if err := tx.ExecLater(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		return fn(tx)
	}
}

// Exec runs q outside a transaction after rebinding its placeholders.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	unlock := db.lockWriter(ctx)
	var (
		res sql.Result
		err error
	)
	if s := db.stmts.get(q); s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = db.DB.ExecContext(ctx, db.Rebind(q), args...)
	}
	unlock()
	if err != nil {
		return nil, err
	}
	db.ckpt.committed()
	return res, db.durable()
}

// Query runs q outside a transaction after rebinding its placeholders.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := db.stmts.get(q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.DB.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRow runs q outside a transaction after rebinding its placeholders.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) Row {
	if s := db.stmts.get(q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.DB.QueryRowContext(ctx, db.Rebind(q), args...)
}

// Close closes the compiled statements and the database.
func (db *DB) Close() error {
	db.ckpt.close()
	db.stmts.close()
	return db.DB.Close()
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
	QueryRow(ctx context.Context, q string, args ...any) Row
}
