package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-dev/klaxon/storage"
)

// Errors of the store. Messages wrapping them name the object.
var (
	// ErrNotFound: no such user or token.
	ErrNotFound = errors.New("not found")
	// ErrExists: the name is taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid: bad input (name, role, scope, password, expiry).
	ErrInvalid = errors.New("invalid")
	// ErrLastAdmin: the change would leave no admin.
	ErrLastAdmin = errors.New("the last admin cannot be removed or demoted; make another admin first")
	// ErrBadCredentials: wrong user name, password, session or token. It
	// never says which, so that it cannot be used to find user names.
	ErrBadCredentials = errors.New("invalid credentials")
)

// Defaults of Options.
const (
	DefaultSessionIdle   = 12 * time.Hour
	DefaultSessionMaxAge = 7 * 24 * time.Hour
	// touchEvery bounds how often a session's last_seen_at or a token's
	// last_used_at is written: often enough for the idle timeout and the
	// token list, rarely enough not to turn every request into a write.
	touchEvery = time.Minute
)

// Options configure a Service.
type Options struct {
	DB *storage.DB
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives who logged in, failed or was locked out; never a
	// secret.
	Logger *slog.Logger
	// BcryptCost is the cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it.
	BcryptCost int
	// SessionIdle ends a session unused for this long; SessionMaxAge ends
	// every session this long after its login.
	SessionIdle, SessionMaxAge time.Duration
	// Limits tunes login rate limiting; the zero value means
	// DefaultLimits.
	Limits Limits
}

// Service is the store of users, sessions, API tokens and login failures.
// Everything lives in the database, so that sessions survive restarts and
// work across replicas.
type Service struct {
	db     *storage.DB
	now    func() time.Time
	logger *slog.Logger
	cost   int
	idle   time.Duration
	maxAge time.Duration
	limits Limits
}

// New returns a Service on opts.DB.
func New(opts Options) *Service {
	s := &Service{db: opts.DB, now: opts.Now, logger: opts.Logger, cost: opts.BcryptCost,
		idle: opts.SessionIdle, maxAge: opts.SessionMaxAge, limits: opts.Limits}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.cost == 0 {
		s.cost = bcrypt.DefaultCost
	}
	if s.idle <= 0 {
		s.idle = DefaultSessionIdle
	}
	if s.maxAge <= 0 {
		s.maxAge = DefaultSessionMaxAge
	}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits
	}
	return s
}

// SessionMaxAge is how long a session lasts at most, for the cookie's
// Max-Age.
func (s *Service) SessionMaxAge() time.Duration { return s.maxAge }

// Now is the service's clock, which token expiries are measured by.
func (s *Service) Now() time.Time { return s.now() }

// randomString returns n random bytes, URL-safe base64 encoded.
func randomString(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (it panics
	// rather than return weak bytes).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is how session ids and token secrets are stored: they are
// long random strings, so a fast hash is enough to make a stolen table
// useless.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
