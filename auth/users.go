package auth

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-dev/klaxon/storage"
)

// User is a local user. The password hash never leaves this package.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// maxPasswordBytes is bcrypt's limit; longer passwords would be cut
// silently, so they are refused.
const maxPasswordBytes = 72

var userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleViewer, RoleResponder, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("%w: role %q: want viewer, responder or admin", ErrInvalid, s)
}

// CheckUserName checks a user name: letters, digits and . _ @ -, at most 64
// characters, starting with a letter or digit.
func CheckUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("%w: user name %q: want 1 to 64 letters, digits or . _ @ -, starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// CheckPassword checks a new password's length.
func CheckPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return fmt.Errorf("%w: password: want at least %d characters", ErrInvalid, MinPasswordLength)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("%w: password: want at most %d bytes", ErrInvalid, maxPasswordBytes)
	}
	return nil
}

// AddUser creates a user with a password.
func (s *Service) AddUser(ctx context.Context, name string, role Role, password string) (*User, error) {
	if err := CheckUserName(name); err != nil {
		return nil, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	now := s.now()
	u := &User{Name: name, Role: role, CreatedAt: storage.Time(storage.Millis(now)), UpdatedAt: storage.Time(storage.Millis(now))}
	err = s.db.InTx(ctx, func(tx *storage.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM auth_users WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("user %q: %w", name, ErrExists)
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			name, string(role), string(hash), storage.Millis(now), storage.Millis(now))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrExists) {
			return nil, err
		}
		return nil, fmt.Errorf("add user %q: %w", name, err)
	}
	s.logger.Info("User added", "user", name, "role", role)
	return u, nil
}

// SetPassword replaces a user's password and ends every session of the
// user, so that a password changed after a leak locks the leaker out.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE auth_users SET password_hash = ?, updated_at = ? WHERE name = ?`,
			string(hash), storage.Millis(s.now()), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		_, err = tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_name = ?`, name)
		return err
	})
	if err != nil {
		return err
	}
	s.logger.Info("User password changed; their sessions ended", "user", name)
	return nil
}

// SetRole changes a user's role; it applies to their open sessions at once.
func (s *Service) SetRole(ctx context.Context, name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *storage.Tx) error {
		if role != RoleAdmin {
			if err := keepAnAdmin(ctx, tx, name); err != nil {
				return err
			}
		}
		res, err := tx.Exec(ctx, `UPDATE auth_users SET role = ?, updated_at = ? WHERE name = ?`, string(role), storage.Millis(s.now()), name)
		if err != nil {
			return fmt.Errorf("set role of %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		return nil
	})
}

// keepAnAdmin refuses to take away the admin role of name if no other
// admin would be left, so that nobody locks everyone out through the API.
// (klaxon users add on the database can always make a new admin.)
func keepAnAdmin(ctx context.Context, tx *storage.Tx, name string) error {
	var isAdmin, others int
	err := tx.QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN name = ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN name <> ? THEN 1 ELSE 0 END), 0)
		FROM auth_users WHERE role = ?`, name, name, string(RoleAdmin)).Scan(&isAdmin, &others)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if isAdmin > 0 && others == 0 {
		return fmt.Errorf("user %q: %w", name, ErrLastAdmin)
	}
	return nil
}

// RemoveUser deletes a user and their sessions.
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		if err := keepAnAdmin(ctx, tx, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE user_name = ?`, name); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM auth_users WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.logger.Info("User removed", "user", name)
	return nil
}

// Users lists the users by name.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT name, role, created_at, updated_at FROM auth_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var (
			u            User
			role         string
			created, upd int64
		)
		if err := rows.Scan(&u.Name, &role, &created, &upd); err != nil {
			return nil, err
		}
		u.Role, u.CreatedAt, u.UpdatedAt = Role(role), storage.Time(created), storage.Time(upd)
		out = append(out, u)
	}
	return out, rows.Err()
}

// User returns one user.
func (s *Service) User(ctx context.Context, name string) (*User, error) {
	var (
		u            User
		role         string
		created, upd int64
	)
	err := s.db.QueryRow(ctx, `SELECT name, role, created_at, updated_at FROM auth_users WHERE name = ?`, name).
		Scan(&u.Name, &role, &created, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %q: %w", name, err)
	}
	u.Role, u.CreatedAt, u.UpdatedAt = Role(role), storage.Time(created), storage.Time(upd)
	return &u, nil
}

// UserPrincipal is the principal of an existing user for method m (the
// trusted-proxy path, where the proxy vouched for the name).
func (s *Service) UserPrincipal(ctx context.Context, name string, m Method) (*Principal, error) {
	u, err := s.User(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Principal{Name: u.Name, Role: u.Role, Scopes: RoleScopes(u.Role), Method: m}, nil
}

// dummyHash is compared against when the user does not exist, so that a
// wrong name takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("klaxon-no-such-user"), bcrypt.DefaultCost)
	return h
})

// checkPassword verifies a user's password and returns the user. Any
// mismatch is ErrBadCredentials. It does not rate-limit: callers go
// through Login or PasswordPrincipal.
func (s *Service) checkPassword(ctx context.Context, name, password string) (*User, error) {
	var (
		u            User
		role, hash   string
		created, upd int64
	)
	err := s.db.QueryRow(ctx, `SELECT name, role, password_hash, created_at, updated_at FROM auth_users WHERE name = ?`, name).
		Scan(&u.Name, &role, &hash, &created, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	if len(password) > maxPasswordBytes || bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return nil, ErrBadCredentials
	}
	u.Role, u.CreatedAt, u.UpdatedAt = Role(role), storage.Time(created), storage.Time(upd)
	return &u, nil
}

// constantTimeEqual compares two strings without leaking where they
// differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// ParseScopes reads a comma-separated list of scopes.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sc := Scope(part)
		switch sc {
		case ScopeIngest, ScopeRead, ScopeRespond, ScopeAdmin:
		default:
			return nil, fmt.Errorf("%w: scope %q: want ingest, read, respond or admin", ErrInvalid, part)
		}
		if !containsScope(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: scopes: want at least one of ingest, read, respond, admin", ErrInvalid)
	}
	return out, nil
}

func containsScope(list []Scope, s Scope) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
