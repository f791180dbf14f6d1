package storage

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnavailable(t *testing.T) {
	// Nothing listens on a port just released.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Open(ctx, Options{DatabaseURL: "postgres://klaxon@" + addr + "/klaxon?sslmode=disable"})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if !Unavailable(err) {
		t.Errorf("Unavailable(%v) = false, want true: nothing listens, which passes", err)
	}

	for _, err := range []error{
		fmt.Errorf("connect: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}),
		fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
	} {
		if !Unavailable(err) {
			t.Errorf("Unavailable(%v) = false, want true", err)
		}
	}
	for _, err := range []error{
		nil,
		fmt.Errorf("connect: %w", &pgconn.PgError{Code: "28P01", Message: "password authentication failed"}),
		fmt.Errorf("migrate: %w", &pgconn.PgError{Code: "42P07", Message: "relation already exists"}),
		fmt.Errorf("cannot parse URL"),
	} {
		if Unavailable(err) {
			t.Errorf("Unavailable(%v) = true, want false: configuration errors must stop the start", err)
		}
	}
}
