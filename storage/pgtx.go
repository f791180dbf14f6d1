package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgTx is a PostgreSQL transaction on one connection of the pool that
// spends as few round trips as it can. Each statement sent on its own
// waits for the server's answer before the next leaves: a flush of one
// alert group is a dozen statements, and on a busy machine a round trip
// costs up to a millisecond. So BEGIN, and the statements whose results
// are not read (Tx.ExecLater), wait in a queue and go in one pipelined
// batch with the next statement whose result is read, or with COMMIT.
//
// The batch runs on the pgx connection under database/sql's Conn.Raw, so
// that pgx's statement cache and encoding apply as to every other query.
type pgTx struct {
	conn  *sql.Conn
	queue []pgStmt
	// sent is set once something reached the server: a rollback is due.
	sent bool
	done bool
	// err is the failure of a queued statement; the transaction is
	// aborted, and every later statement, and the commit, report it.
	err error
}

type pgStmt struct {
	q    string
	args []any
	// dest, if set, receives the statement's row (Tx.QueryRowLater),
	// and then ran is set.
	dest []any
	ran  *bool
}

// rollbackTimeout bounds a rollback sent after the caller's context ended.
const rollbackTimeout = 5 * time.Second

func beginPG(ctx context.Context, db *sql.DB) (*pgTx, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{conn: conn, queue: []pgStmt{{q: "begin"}}}, nil
}

// later queues q; its args must not change until the transaction ends.
func (t *pgTx) later(q string, args []any) error {
	if t.done {
		return sql.ErrTxDone
	}
	if t.err != nil {
		return t.err
	}
	t.queue = append(t.queue, pgStmt{q: q, args: slices.Clone(args)})
	return nil
}

// laterRow queues q, whose row is scanned into dest when it ran; then ran
// is set.
func (t *pgTx) laterRow(q string, args, dest []any, ran *bool) error {
	if err := t.later(q, args); err != nil {
		return err
	}
	t.queue[len(t.queue)-1].dest = dest
	t.queue[len(t.queue)-1].ran = ran
	return nil
}

// exec sends the queue and q, and returns q's outcome.
func (t *pgTx) exec(ctx context.Context, q string, args []any) (sql.Result, error) {
	tag, _, err := t.send(ctx, &pgStmt{q: q, args: args}, false)
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

// queryRow sends the queue and q, and returns q's first row.
func (t *pgTx) queryRow(ctx context.Context, q string, args []any) Row {
	_, row, err := t.send(ctx, &pgStmt{q: q, args: args}, true)
	if err != nil {
		return &pgRow{err: err}
	}
	return row
}

// query sends the queue, then runs q through database/sql on the same
// connection: rows are read as the caller goes.
func (t *pgTx) query(ctx context.Context, q string, args []any) (*sql.Rows, error) {
	if _, _, err := t.send(ctx, nil, false); err != nil {
		return nil, err
	}
	return t.conn.QueryContext(ctx, q, args...)
}

func (t *pgTx) commit(ctx context.Context) error {
	if t.done {
		return sql.ErrTxDone
	}
	if t.err != nil {
		return t.err
	}
	if !t.sent && len(t.queue) == 1 {
		// Nothing but BEGIN: there is nothing to commit.
		t.done = true
		return nil
	}
	tag, _, err := t.send(ctx, &pgStmt{q: "commit"}, false)
	t.done = true
	if err != nil {
		t.abort(ctx)
		return err
	}
	if tag.String() == "ROLLBACK" {
		// A statement failed and the caller went on: PostgreSQL answers
		// COMMIT of an aborted transaction by rolling it back.
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *pgTx) rollback(ctx context.Context) error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if !t.sent {
		t.queue = nil
		return nil
	}
	return t.abort(ctx)
}

// abort rolls back what reached the server; a connection that cannot is
// closed, not given back to the pool in the middle of a transaction.
func (t *pgTx) abort(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	var rerr error
	_ = t.conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if pc.IsClosed() {
			return driver.ErrBadConn
		}
		if _, rerr = pc.Exec(ctx, "rollback"); rerr != nil {
			return driver.ErrBadConn
		}
		return nil
	})
	return rerr
}

// release gives the connection back to the pool.
func (t *pgTx) release() { t.conn.Close() }

// send sends the queue, and last if not nil, as one batch; with row, it
// returns last's first row. A queued statement's failure aborts the
// transaction and is reported by every later call.
func (t *pgTx) send(ctx context.Context, last *pgStmt, row bool) (pgconn.CommandTag, *pgRow, error) {
	var tag pgconn.CommandTag
	if t.done {
		return tag, nil, sql.ErrTxDone
	}
	if t.err != nil {
		return tag, nil, t.err
	}
	stmts := t.queue
	if last != nil {
		stmts = append(stmts, *last)
	}
	if len(stmts) == 0 {
		return tag, nil, nil
	}
	t.queue = nil
	t.sent = true
	var (
		out      *pgRow
		queueErr error
	)
	err := t.conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		for _, s := range stmts {
			b.Queue(s.q, s.args...)
		}
		br := pc.SendBatch(ctx, b)
		for i, s := range stmts {
			own := last != nil && i == len(stmts)-1
			if own && row {
				out = firstRow(br)
				break
			}
			if s.dest != nil {
				r := firstRow(br)
				if r.err != nil {
					queueErr = fmt.Errorf("%s: %w", summary(s.q), r.err)
					br.Close()
					return queueErr
				}
				if err := r.Scan(s.dest...); err != nil && queueErr == nil {
					// The statement ran: the batch goes on (it may carry
					// the commit), and the transaction reports the error.
					queueErr = fmt.Errorf("%s: %w", summary(s.q), err)
				}
				*s.ran = true
				continue
			}
			ct, err := br.Exec()
			if err != nil {
				if !own {
					queueErr = fmt.Errorf("%s: %w", summary(s.q), err)
					err = queueErr
				}
				br.Close()
				return err
			}
			if own {
				tag = ct
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		if pc.IsClosed() {
			return driver.ErrBadConn
		}
		return nil
	})
	if queueErr != nil {
		t.err = queueErr
		return tag, nil, queueErr
	}
	if err != nil {
		return tag, nil, err
	}
	return tag, out, nil
}

// firstRow reads the next result of br as a row, copied, so that it can be
// scanned after the batch is closed.
func firstRow(br pgx.BatchResults) *pgRow {
	rows, err := br.Query()
	if err != nil {
		return &pgRow{err: err}
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return &pgRow{err: err}
		}
		return &pgRow{err: sql.ErrNoRows}
	}
	r := &pgRow{fields: slices.Clone(rows.FieldDescriptions())}
	for _, v := range rows.RawValues() {
		r.values = append(r.values, slices.Clone(v))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return &pgRow{err: err}
	}
	r.typeMap = rows.Conn().TypeMap()
	return r
}

// summary names a statement in an error: its first words.
func summary(q string) string {
	f := strings.Fields(q)
	return strings.Join(f[:min(len(f), 4)], " ")
}

// Row is one row of a query's result, to be scanned: *sql.Row, or a row
// read in a PostgreSQL transaction's batch.
type Row interface {
	Scan(dest ...any) error
	Err() error
}

// pgRow is a row read in a batch. A nil value is SQL NULL.
type pgRow struct {
	err     error
	fields  []pgconn.FieldDescription
	values  [][]byte
	typeMap interface {
		Scan(oid uint32, formatCode int16, src []byte, dst any) error
	}
}

// Scan decodes the row into dest as pgx does.
func (r *pgRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.values) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(r.values))
	}
	for i, d := range dest {
		if d == nil {
			continue
		}
		if err := r.typeMap.Scan(r.fields[i].DataTypeOID, r.fields[i].Format, r.values[i], d); err != nil {
			return fmt.Errorf("scan column %d (%s): %w", i, r.fields[i].Name, err)
		}
	}
	return nil
}

// Err reports the query's error, as sql.Row's Err.
func (r *pgRow) Err() error {
	if errors.Is(r.err, sql.ErrNoRows) {
		return nil
	}
	return r.err
}
