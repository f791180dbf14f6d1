package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// Session is a browser login. ID is the cookie value; it is known only
// when the session is created and stored hashed.
type Session struct {
	ID        string
	User      string
	Role      Role
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Principal is the session's principal.
func (se *Session) Principal() *Principal {
	return &Principal{Name: se.User, Role: se.Role, Scopes: RoleScopes(se.Role), Method: MethodSession, CSRFToken: se.CSRFToken}
}

// Login checks a user's password, subject to rate limiting by user name
// and client address, and opens a session. A locked-out client gets a
// *LockedError without the password being looked at.
func (s *Service) Login(ctx context.Context, name, password, clientIP string) (*Session, error) {
	u, err := s.PasswordUser(ctx, name, password, clientIP)
	if err != nil {
		return nil, err
	}
	return s.newSession(ctx, u)
}

// PasswordPrincipal checks a user's password as Login does, without
// opening a session: Basic authentication.
func (s *Service) PasswordPrincipal(ctx context.Context, name, password, clientIP string) (*Principal, error) {
	u, err := s.PasswordUser(ctx, name, password, clientIP)
	if err != nil {
		return nil, err
	}
	return &Principal{Name: u.Name, Role: u.Role, Scopes: RoleScopes(u.Role), Method: MethodBasic}, nil
}

// PasswordUser checks a user's password under the rate limits: locked
// out → *LockedError; a wrong name or password counts a failure against
// both the name and the client address; a right one clears them.
func (s *Service) PasswordUser(ctx context.Context, name, password, clientIP string) (*User, error) {
	if err := s.checkLocked(ctx, name, clientIP); err != nil {
		return nil, err
	}
	u, err := s.checkPassword(ctx, name, password)
	if errors.Is(err, ErrBadCredentials) {
		if lerr := s.recordFailure(ctx, name, clientIP); lerr != nil {
			return nil, lerr
		}
		s.logger.Warn("Failed login", "user", name, "client", clientIP)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if err := s.clearFailures(ctx, name, clientIP); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) newSession(ctx context.Context, u *User) (*Session, error) {
	now := s.now()
	se := &Session{ID: randomString(32), User: u.Name, Role: u.Role, CSRFToken: randomString(32),
		CreatedAt: now, ExpiresAt: now.Add(s.maxAge)}
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		// Sweep ended sessions here, where a row is added anyway.
		if _, err := tx.Exec(ctx, `DELETE FROM auth_sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
			storage.Millis(now), storage.Millis(now.Add(-s.idle))); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_sessions (id_hash, user_name, csrf_token, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, hashSecret(se.ID), u.Name, se.CSRFToken, storage.Millis(now), storage.Millis(now), storage.Millis(se.ExpiresAt))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	s.logger.Info("User logged in", "user", u.Name)
	return se, nil
}

// SessionPrincipal returns the principal of the session whose cookie value
// is id, with the user's current role. An unknown, idle or expired session
// is ErrBadCredentials.
func (s *Service) SessionPrincipal(ctx context.Context, id string) (*Principal, error) {
	if id == "" {
		return nil, ErrBadCredentials
	}
	h := hashSecret(id)
	var (
		p                           Principal
		role                        string
		lastSeen, expires, createdM int64
	)
	err := s.db.QueryRow(ctx, `SELECT u.name, u.role, se.csrf_token, se.created_at, se.last_seen_at, se.expires_at
		FROM auth_sessions se JOIN auth_users u ON u.name = se.user_name WHERE se.id_hash = ?`, h).
		Scan(&p.Name, &role, &p.CSRFToken, &createdM, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	now := s.now()
	nowM := storage.Millis(now)
	if nowM >= expires || nowM-lastSeen >= s.idle.Milliseconds() {
		_, _ = s.db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, h)
		return nil, ErrBadCredentials
	}
	if nowM-lastSeen >= touchEvery.Milliseconds() {
		if _, err := s.db.Exec(ctx, `UPDATE auth_sessions SET last_seen_at = ? WHERE id_hash = ?`, nowM, h); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	p.Role = Role(role)
	p.Scopes = RoleScopes(p.Role)
	p.Method = MethodSession
	return &p, nil
}

// Logout ends the session whose cookie value is id, on every replica.
func (s *Service) Logout(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if _, err := s.db.Exec(ctx, `DELETE FROM auth_sessions WHERE id_hash = ?`, hashSecret(id)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
