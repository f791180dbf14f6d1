package rules

import (
	"context"
	"testing"
	"time"
)

// waitUntil polls cond until it holds, failing the test after limit.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting until %s", limit, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
