package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// Limits tune login rate limiting. Failures are counted per client address
// and per user name, in the database so that every replica sees them. A
// key with Failures or more failures in a row is locked out for
// LockBase·2^(n−Failures), at most LockMax; a successful login clears the
// user name's and the address's count.
//
// A client address is locked sooner than a user name: one address
// guessing is stopped after a few tries, while the owner of the name,
// from another address, can still log in. A guess spread over many
// addresses still locks the name, later.
type Limits struct {
	// IPFailures locks a client address (any user name).
	IPFailures int
	// UserFailures locks a user name (any address).
	UserFailures int
	// LockBase is the first lock-out; each further failure doubles it.
	LockBase time.Duration
	// LockMax caps a lock-out.
	LockMax time.Duration
	// Forget drops a count after this long without failures.
	Forget time.Duration
}

// DefaultLimits: 5 failures from one address, or 20 on one name, lock out
// for 10 s, then 20 s, 40 s, … up to 15 minutes.
var DefaultLimits = Limits{IPFailures: 5, UserFailures: 20, LockBase: 10 * time.Second, LockMax: 15 * time.Minute, Forget: time.Hour}

// LockedError is the answer to a login attempt while locked out.
type LockedError struct {
	// RetryAfter is how long until the lock-out ends.
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.RetryAfter.Round(time.Second))
}

func ipKey(ip string) string     { return "ip:" + ip }
func userKey(name string) string { return "user:" + name }

// checkLocked returns a *LockedError if the name or the address is locked.
func (s *Service) checkLocked(ctx context.Context, name, clientIP string) error {
	var until sql.NullInt64
	err := s.db.QueryRow(ctx, `SELECT MAX(locked_until) FROM auth_login_failures WHERE key IN (?, ?)`,
		userKey(name), ipKey(clientIP)).Scan(&until)
	if err != nil {
		return fmt.Errorf("read login failures: %w", err)
	}
	now := storage.Millis(s.now())
	if until.Valid && until.Int64 > now {
		wait := time.Duration(until.Int64-now) * time.Millisecond
		return &LockedError{RetryAfter: wait}
	}
	return nil
}

// recordFailure counts a failure against both keys; if that locks one
// out, the *LockedError is returned so the caller can say so at once.
func (s *Service) recordFailure(ctx context.Context, name, clientIP string) error {
	var locked time.Duration
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		for _, k := range []struct {
			key       string
			threshold int
		}{{ipKey(clientIP), s.limits.IPFailures}, {userKey(name), s.limits.UserFailures}} {
			d, err := s.countFailure(ctx, tx, k.key, k.threshold)
			if err != nil {
				return err
			}
			locked = max(locked, d)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	if locked > 0 {
		s.logger.Warn("Login locked out after repeated failures", "user", name, "client", clientIP, "for", locked)
		return &LockedError{RetryAfter: locked}
	}
	return nil
}

func (s *Service) countFailure(ctx context.Context, tx *storage.Tx, key string, threshold int) (time.Duration, error) {
	now := s.now()
	var failures int
	var last int64
	err := tx.QueryRow(ctx, `SELECT failures, last_failure FROM auth_login_failures WHERE key = ?`, key).Scan(&failures, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if storage.Millis(now)-last > s.limits.Forget.Milliseconds() {
		failures = 0
	}
	failures++
	var lock time.Duration
	if threshold > 0 && failures >= threshold {
		exp := float64(failures - threshold)
		lock = time.Duration(math.Min(float64(s.limits.LockBase)*math.Pow(2, exp), float64(s.limits.LockMax)))
	}
	var until int64
	if lock > 0 {
		until = storage.Millis(now.Add(lock))
	}
	_, err = tx.Exec(ctx, `INSERT INTO auth_login_failures (key, failures, last_failure, locked_until) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure, locked_until = excluded.locked_until`,
		key, failures, storage.Millis(now), until)
	return lock, err
}

func (s *Service) clearFailures(ctx context.Context, name, clientIP string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM auth_login_failures WHERE key IN (?, ?)`, userKey(name), ipKey(clientIP)); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}
