package auth

import (
	"context"
	"errors"
	"fmt"
)

// InitialAdmin is the user Bootstrap creates.
const InitialAdmin = "admin"

// Bootstrap makes a fresh installation usable and closed at once: when no
// user exists, it creates the user "admin" with a generated password and
// returns that password, for the caller to show once. With users present
// it returns "". Replicas starting together on an empty database create
// one admin: the others find the name taken and return "".
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_users`).Scan(&n); err != nil {
		return "", fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	// 18 random bytes: 24 characters, 144 bits.
	password := randomString(18)
	if _, err := s.AddUser(ctx, InitialAdmin, RoleAdmin, password); err != nil {
		if errors.Is(err, ErrExists) {
			return "", nil
		}
		return "", fmt.Errorf("create the initial admin: %w", err)
	}
	return password, nil
}
