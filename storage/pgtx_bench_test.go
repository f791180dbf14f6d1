package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// BenchmarkTxStatements measures a transaction of ten small writes, sent
// one by one (Exec) or queued (ExecLater), and, as a floor, a transaction
// of one write: on PostgreSQL each statement sent on its own is a round
// trip to the server.
func BenchmarkTxStatements(b *testing.B) {
	for _, backend := range storagetest.Backends {
		db := storagetest.Open(b, backend)
		ctx := context.Background()
		const upsert = `INSERT INTO alerts (fingerprint, labels, annotations, starts_at, ends_at, generator_url, updated_at, timeout)
			VALUES (?, '{}', '{}', 0, 0, '', ?, FALSE)
			ON CONFLICT (fingerprint) DO UPDATE SET updated_at = excluded.updated_at`
		for _, c := range []struct {
			name  string
			n     int
			later bool
		}{{"one", 1, false}, {"exec", 10, false}, {"later", 10, true}} {
			b.Run(backend+"/"+c.name, func(b *testing.B) {
				for i := range b.N {
					err := db.InTx(ctx, func(tx *storage.Tx) error {
						for k := range c.n {
							fp := fmt.Sprintf("bench-%d", k)
							if c.later {
								if err := tx.ExecLater(ctx, upsert, fp, i); err != nil {
									return err
								}
							} else if _, err := tx.Exec(ctx, upsert, fp, i); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
