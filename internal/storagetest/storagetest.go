// Package storagetest gives tests a migrated, private store on each backend,
// so that one contract suite runs against SQLite and PostgreSQL alike.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/klaxon-dev/klaxon/internal/testenv"
	"github.com/klaxon-dev/klaxon/storage"
)

// Backends are the names ForEach runs under.
var Backends = []string{"sqlite", "postgres"}

// ForEach runs fn as a subtest once per backend, each with a fresh store.
func ForEach(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b, func(t *testing.T) { fn(t, Open(t, b)) })
	}
}

// Open returns a fresh, migrated store on backend, closed when t ends. On
// PostgreSQL each call gets its own schema in the test database, so tests
// and packages can run in parallel.
func Open(t testing.TB, backend string) *storage.DB {
	t.Helper()
	ctx := context.Background()
	opts := storage.Options{Path: t.TempDir()}
	if backend == "postgres" {
		opts = storage.Options{DatabaseURL: PrivateSchemaURL(t, testenv.PostgresURL(t))}
	}
	db, err := storage.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open %s store: %v", backend, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PrivateSchemaURL creates a new schema in the database at base and
// returns base with search_path set to it; the schema is dropped when t
// ends.
func PrivateSchemaURL(t testing.TB, base string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("test PostgreSQL URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
