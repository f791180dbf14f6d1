package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/klaxon-dev/klaxon/storage"
)

// TokenPrefix starts every API token secret, so that a token is told from
// a password (Basic authentication carries either) and found by secret
// scanners.
const TokenPrefix = "klx_"

// Token is an API token as listed: everything but the secret, which is
// shown once when the token is created and stored only as a SHA-256 hash.
type Token struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Scopes     []Scope   `json:"scopes"`
	CreatedBy  string    `json:"createdBy"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

// Active reports whether the token is neither revoked nor expired at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$`)

// CreateToken makes a token and returns it with its secret. A zero
// expiresAt never expires. The name must not be used by another token
// that is not revoked.
func (s *Service) CreateToken(ctx context.Context, name string, scopes []Scope, createdBy string, expiresAt time.Time) (*Token, string, error) {
	if !tokenNameRE.MatchString(name) {
		return nil, "", fmt.Errorf("%w: token name %q: want 1 to 64 letters, digits or . _ @ : -, starting with a letter or digit", ErrInvalid, name)
	}
	if len(scopes) == 0 {
		return nil, "", fmt.Errorf("%w: scopes: want at least one of ingest, read, respond, admin", ErrInvalid)
	}
	for _, sc := range scopes {
		if !containsScope(AllScopes, sc) {
			return nil, "", fmt.Errorf("%w: scope %q: want ingest, read, respond or admin", ErrInvalid, sc)
		}
	}
	now := s.now()
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		return nil, "", fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, expiresAt.Format(time.RFC3339))
	}
	secret := TokenPrefix + randomString(32)
	t := &Token{Name: name, Scopes: scopes, CreatedBy: createdBy, CreatedAt: storage.Time(storage.Millis(now)),
		ExpiresAt: storage.Time(storage.Millis(expiresAt))}
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM api_tokens WHERE name = ? AND revoked_at = 0`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("token %q: %w", name, ErrExists)
		}
		q := `INSERT INTO api_tokens (name, secret_hash, scopes, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`
		return tx.QueryRow(ctx, q, name, hashSecret(secret), joinScopes(scopes), createdBy, storage.Millis(now), storage.Millis(expiresAt)).Scan(&t.ID)
	})
	if err != nil {
		if errors.Is(err, ErrExists) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("create token %q: %w", name, err)
	}
	s.logger.Info("API token created", "token", name, "id", t.ID, "scopes", joinScopes(scopes), "by", createdBy)
	return t, secret, nil
}

// Tokens lists every token, revoked and expired ones included, by id.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, scopes, created_by, created_at, last_used_at, expires_at, revoked_at FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var (
			t                           Token
			scopes                      string
			created, used, exp, revoked int64
		)
		if err := rows.Scan(&t.ID, &t.Name, &scopes, &t.CreatedBy, &created, &used, &exp, &revoked); err != nil {
			return nil, err
		}
		t.Scopes = splitScopes(scopes)
		t.CreatedAt, t.LastUsedAt, t.ExpiresAt, t.RevokedAt = storage.Time(created), storage.Time(used), storage.Time(exp), storage.Time(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token by id. Revoking a revoked token is
// ErrNotFound, so that a typo is not reported as success.
func (s *Service) RevokeToken(ctx context.Context, id int64) error {
	res, err := s.db.Exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, storage.Millis(s.now()), id)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	s.logger.Info("API token revoked", "id", id)
	return nil
}

// RevokeTokenNamed revokes the token of that name that is not revoked yet.
func (s *Service) RevokeTokenNamed(ctx context.Context, name string) error {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id FROM api_tokens WHERE name = ? AND revoked_at = 0`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("token %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("find token %q: %w", name, err)
	}
	return s.RevokeToken(ctx, id)
}

// TokenPrincipal returns the principal of the token with this secret, for
// method m (MethodToken or MethodBasic). Unknown, revoked and expired
// tokens are ErrBadCredentials.
func (s *Service) TokenPrincipal(ctx context.Context, secret string, m Method) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, ErrBadCredentials
	}
	var (
		id                     int64
		name, scopes           string
		used, expires, revoked int64
	)
	err := s.db.QueryRow(ctx, `SELECT id, name, scopes, last_used_at, expires_at, revoked_at FROM api_tokens WHERE secret_hash = ?`,
		hashSecret(secret)).Scan(&id, &name, &scopes, &used, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	now := storage.Millis(s.now())
	if revoked != 0 || (expires != 0 && now >= expires) {
		return nil, ErrBadCredentials
	}
	if now-used >= touchEvery.Milliseconds() {
		if _, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, id); err != nil {
			return nil, fmt.Errorf("touch token: %w", err)
		}
	}
	return &Principal{Name: name, Scopes: splitScopes(scopes), Method: m}, nil
}

func joinScopes(list []Scope) string {
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func splitScopes(s string) []Scope {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, Scope(p))
		}
	}
	return out
}
