package auth_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/klaxon-dev/klaxon/auth"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

// clock is a settable clock for expiry and lock-out tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, db *storage.DB) (*auth.Service, *clock) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return auth.New(auth.Options{DB: db, Now: clk.Now, BcryptCost: bcrypt.MinCost,
		SessionIdle: time.Hour, SessionMaxAge: 24 * time.Hour}), clk
}

func TestUsers(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s, _ := newService(t, db)
		if _, err := s.AddUser(ctx, "alice", auth.RoleResponder, "correct horse"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddUser(ctx, "alice", auth.RoleViewer, "another one"); !errors.Is(err, auth.ErrExists) {
			t.Fatalf("second alice: %v, want ErrExists", err)
		}
		for _, bad := range []struct{ name, role, pw string }{
			{"", "viewer", "long enough"}, {"bad name", "viewer", "long enough"},
			{"bob", "root", "long enough"}, {"bob", "viewer", "short"},
		} {
			if _, err := s.AddUser(ctx, bad.name, auth.Role(bad.role), bad.pw); !errors.Is(err, auth.ErrInvalid) {
				t.Errorf("AddUser(%q, %q): %v, want ErrInvalid", bad.name, bad.role, err)
			}
		}
		users, err := s.Users(ctx)
		if err != nil || len(users) != 1 || users[0].Name != "alice" || users[0].Role != auth.RoleResponder {
			t.Fatalf("Users: %+v %v", users, err)
		}
		se, err := s.Login(ctx, "alice", "correct horse", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.SessionPrincipal(ctx, se.ID)
		if err != nil || p.Name != "alice" || p.Role != auth.RoleResponder || !p.Can(auth.ScopeRespond) || p.Can(auth.ScopeAdmin) || p.CSRFToken == "" {
			t.Fatalf("session principal: %+v %v", p, err)
		}
		// A role change applies to open sessions at once.
		if err := s.SetRole(ctx, "alice", auth.RoleViewer); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.SessionPrincipal(ctx, se.ID); p == nil || p.Can(auth.ScopeRespond) {
			t.Fatalf("after demotion: %+v", p)
		}
		// A new password ends the sessions and replaces the old one.
		if err := s.SetPassword(ctx, "alice", "battery staple"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionPrincipal(ctx, se.ID); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("session after password change: %v", err)
		}
		if _, err := s.Login(ctx, "alice", "correct horse", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("old password: %v", err)
		}
		if _, err := s.PasswordPrincipal(ctx, "alice", "battery staple", "10.0.0.1"); err != nil {
			t.Fatalf("new password: %v", err)
		}
		if err := s.RemoveUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		// The last admin stays one.
		if _, err := s.AddUser(ctx, "root", auth.RoleAdmin, "long enough"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveUser(ctx, "root"); !errors.Is(err, auth.ErrLastAdmin) {
			t.Fatalf("removing the last admin: %v", err)
		}
		if err := s.SetRole(ctx, "root", auth.RoleViewer); !errors.Is(err, auth.ErrLastAdmin) {
			t.Fatalf("demoting the last admin: %v", err)
		}
		if _, err := s.AddUser(ctx, "root2", auth.RoleAdmin, "long enough"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRole(ctx, "root", auth.RoleViewer); err != nil {
			t.Fatalf("demoting an admin with another one left: %v", err)
		}
		if err := s.RemoveUser(ctx, "alice"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("remove twice: %v", err)
		}
		if err := s.SetPassword(ctx, "nobody", "long enough"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("passwd of nobody: %v", err)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s, clk := newService(t, db)
		if _, err := s.AddUser(ctx, "alice", auth.RoleViewer, "correct horse"); err != nil {
			t.Fatal(err)
		}
		login := func() string {
			se, err := s.Login(ctx, "alice", "correct horse", "10.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			return se.ID
		}
		// Idle: used every 50 minutes it lives on; 61 idle minutes end it.
		id := login()
		for range 3 {
			clk.Add(50 * time.Minute)
			if _, err := s.SessionPrincipal(ctx, id); err != nil {
				t.Fatalf("active session: %v", err)
			}
		}
		clk.Add(61 * time.Minute)
		if _, err := s.SessionPrincipal(ctx, id); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("idle session: %v", err)
		}
		// Absolute: however busy, it ends 24h after the login.
		id = login()
		for range 24 {
			clk.Add(59 * time.Minute)
			_, _ = s.SessionPrincipal(ctx, id)
		}
		clk.Add(time.Hour)
		if _, err := s.SessionPrincipal(ctx, id); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("session past its max age: %v", err)
		}
		// Logout ends it on the server.
		id = login()
		if err := s.Logout(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionPrincipal(ctx, id); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("session after logout: %v", err)
		}
		// The stored id is a hash: the cookie value is nowhere in the table.
		id = login()
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM auth_sessions WHERE id_hash = ?`, id).Scan(&n); err != nil || n != 0 {
			t.Fatalf("session id stored in the clear (%d rows, %v)", n, err)
		}
	})
}

func TestTokens(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s, clk := newService(t, db)
		tok, secret, err := s.CreateToken(ctx, "prometheus", []auth.Scope{auth.ScopeIngest}, "admin", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) < 40 || secret[:4] != auth.TokenPrefix {
			t.Fatalf("secret %q", secret)
		}
		if _, _, err := s.CreateToken(ctx, "prometheus", []auth.Scope{auth.ScopeRead}, "admin", time.Time{}); !errors.Is(err, auth.ErrExists) {
			t.Fatalf("duplicate name: %v", err)
		}
		if _, _, err := s.CreateToken(ctx, "old", []auth.Scope{auth.ScopeRead}, "admin", clk.Now().Add(-time.Second)); !errors.Is(err, auth.ErrInvalid) {
			t.Fatalf("expiry in the past: %v", err)
		}
		p, err := s.TokenPrincipal(ctx, secret, auth.MethodToken)
		if err != nil || p.Name != "prometheus" || !p.Can(auth.ScopeIngest) || p.Can(auth.ScopeRead) || p.Role != "" {
			t.Fatalf("principal %+v %v", p, err)
		}
		var stored int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM api_tokens WHERE secret_hash = ?`, secret).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("secret stored in the clear")
		}
		if _, err := s.TokenPrincipal(ctx, secret+"x", auth.MethodToken); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong secret: %v", err)
		}
		list, err := s.Tokens(ctx)
		if err != nil || len(list) != 1 || list[0].LastUsedAt.IsZero() || list[0].CreatedBy != "admin" {
			t.Fatalf("Tokens: %+v %v", list, err)
		}

		// Expiry.
		_, short, err := s.CreateToken(ctx, "short", []auth.Scope{auth.ScopeRead, auth.ScopeRespond}, "admin", clk.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.TokenPrincipal(ctx, short, auth.MethodBasic); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)
		if _, err := s.TokenPrincipal(ctx, short, auth.MethodToken); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("expired token: %v", err)
		}

		// Revocation, by id and by name; the name is free again after.
		if err := s.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TokenPrincipal(ctx, secret, auth.MethodToken); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("revoked token: %v", err)
		}
		if err := s.RevokeToken(ctx, tok.ID); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("revoke twice: %v", err)
		}
		if _, _, err := s.CreateToken(ctx, "prometheus", []auth.Scope{auth.ScopeIngest}, "admin", time.Time{}); err != nil {
			t.Fatalf("name after revocation: %v", err)
		}
		if err := s.RevokeTokenNamed(ctx, "prometheus"); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeTokenNamed(ctx, "prometheus"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("revoke by name twice: %v", err)
		}
	})
}

func TestParseScopes(t *testing.T) {
	got, err := auth.ParseScopes("read, respond,read")
	if err != nil || !slices.Equal(got, []auth.Scope{auth.ScopeRead, auth.ScopeRespond}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", ",", "write"} {
		if _, err := auth.ParseScopes(bad); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("ParseScopes(%q): %v", bad, err)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s, clk := newService(t, db)
		if _, err := s.AddUser(ctx, "alice", auth.RoleViewer, "correct horse"); err != nil {
			t.Fatal(err)
		}
		const attacker, owner = "192.0.2.66", "198.51.100.7"
		// Four failures are only failures; the fifth locks the address out.
		for i := 1; i <= 4; i++ {
			if _, err := s.Login(ctx, "alice", "guess", attacker); !errors.Is(err, auth.ErrBadCredentials) {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		_, err := s.Login(ctx, "alice", "guess", attacker)
		var locked *auth.LockedError
		if !errors.As(err, &locked) || locked.RetryAfter != auth.DefaultLimits.LockBase {
			t.Fatalf("fifth failure: %v, want locked for %v", err, auth.DefaultLimits.LockBase)
		}
		// Locked out, even the right password is not looked at.
		if _, err := s.Login(ctx, "alice", "correct horse", attacker); !errors.As(err, &locked) {
			t.Fatalf("right password while locked: %v", err)
		}
		// The owner, from elsewhere, logs in.
		if _, err := s.Login(ctx, "alice", "correct horse", owner); err != nil {
			t.Fatalf("owner from another address: %v", err)
		}
		// After the lock-out one more failure locks for twice as long.
		clk.Add(auth.DefaultLimits.LockBase)
		if _, err := s.Login(ctx, "alice", "guess", attacker); !errors.As(err, &locked) || locked.RetryAfter != 2*auth.DefaultLimits.LockBase {
			t.Fatalf("sixth failure: %v", err)
		}
		// A guess spread over many addresses locks the name for everyone.
		for i := range auth.DefaultLimits.UserFailures {
			_, _ = s.Login(ctx, "alice", "guess", "203.0.113."+string(rune('a'+i)))
		}
		if _, err := s.Login(ctx, "alice", "correct horse", owner); !errors.As(err, &locked) {
			t.Fatalf("name under a distributed guess: %v", err)
		}
		// Unknown names count too, and say nothing about existing.
		for range 5 {
			_, err = s.Login(ctx, "nobody", "guess", "192.0.2.1")
		}
		if !errors.As(err, &locked) {
			t.Fatalf("unknown name: %v", err)
		}
	})
}

func TestBootstrap(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s, _ := newService(t, db)
		pw, err := s.Bootstrap(ctx)
		if err != nil || len(pw) < 20 {
			t.Fatalf("Bootstrap: %q %v", pw, err)
		}
		p, err := s.PasswordPrincipal(ctx, auth.InitialAdmin, pw, "127.0.0.1")
		if err != nil || p.Role != auth.RoleAdmin {
			t.Fatalf("initial admin: %+v %v", p, err)
		}
		if again, err := s.Bootstrap(ctx); err != nil || again != "" {
			t.Fatalf("second Bootstrap: %q %v, want nothing", again, err)
		}
	})
}
