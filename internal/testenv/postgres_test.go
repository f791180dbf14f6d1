package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresStopStart checks the private server a test can take away:
// it serves the klaxon database, refuses connections while stopped, and
// serves the same data again once started.
func TestPostgresStopStart(t *testing.T) {
	pg := StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, pg.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE kept (x INT)`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if err := exec(`SELECT 1`); err == nil {
		t.Fatal("a stopped server accepted a connection")
	}
	pg.Start()
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM kept`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the restart: %d rows, %v; want the row written before", n, err)
	}
}
