package incidents

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/klaxon-dev/klaxon/notifiers"
	"github.com/klaxon-dev/klaxon/storage"
)

// Errors of email ack tokens. Each is a reason to show the person, not a
// server fault.
var (
	ErrTokenInvalid = errors.New("this acknowledgement link is not valid")
	ErrTokenExpired = errors.New("this acknowledgement link has expired")
	ErrTokenUsed    = errors.New("this acknowledgement link was already used")
	ErrNoAckLinks   = errors.New("ack links are not configured (incidents.ack_link_secret)")
)

// AckToken is what an email ack link says, signed: which incident, for
// whom, until when, and a random id that makes it single-use.
type AckToken struct {
	ID       string    `json:"t"`
	Incident int64     `json:"i"`
	User     string    `json:"u,omitempty"`
	Expires  time.Time `json:"e"`
}

// NewAckToken signs a token acknowledging incident id for user, valid for
// the configured time. The token is URL-safe.
func (s *Service) NewAckToken(id int64, user string) (string, error) {
	w := s.work.Load()
	if w == nil || w.cfg.AckLinkSecret == "" {
		return "", ErrNoAckLinks
	}
	rnd := make([]byte, 12)
	_, _ = rand.Read(rnd)
	t := AckToken{ID: hex.EncodeToString(rnd), Incident: id, User: user,
		Expires: s.clock.Now().Add(time.Duration(w.cfg.AckLinkTTL)).UTC().Truncate(time.Second)}
	body, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + sign(w.cfg.AckLinkSecret, p), nil
}

func sign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckAckToken verifies a token's signature, expiry and that it was not
// used, without using it: the confirmation page a link opens calls it, so
// that link scanners fetching the page acknowledge nothing.
func (s *Service) CheckAckToken(ctx context.Context, token string) (*AckToken, error) {
	t, err := s.parseAckToken(token)
	if err != nil {
		return nil, err
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM incident_ack_tokens WHERE token_id = ?`, t.ID).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, ErrTokenUsed
	}
	if _, err := getIncident(ctx, s.db, t.Incident); err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Service) parseAckToken(token string) (*AckToken, error) {
	w := s.work.Load()
	if w == nil || w.cfg.AckLinkSecret == "" {
		return nil, ErrNoAckLinks
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(sign(w.cfg.AckLinkSecret, p))) {
		return nil, ErrTokenInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, ErrTokenInvalid
	}
	var t AckToken
	if err := json.Unmarshal(body, &t); err != nil || t.ID == "" || t.Incident == 0 {
		return nil, ErrTokenInvalid
	}
	if !s.clock.Now().Before(t.Expires) {
		return nil, ErrTokenExpired
	}
	return &t, nil
}

// AckWithToken acknowledges the token's incident and uses the token up,
// in one transaction: a token acks at most once, even if two requests
// race.
func (s *Service) AckWithToken(ctx context.Context, token string) (*Incident, error) {
	t, err := s.parseAckToken(token)
	if err != nil {
		return nil, err
	}
	by := Actor{Name: t.User, Via: "email"}
	return s.ack(ctx, t.Incident, by, func(tx *storage.Tx, now time.Time) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM incident_ack_tokens WHERE token_id = ?`, t.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrTokenUsed
		}
		_, err := tx.Exec(ctx, `INSERT INTO incident_ack_tokens (token_id, incident_id, used_at, expires_at) VALUES (?, ?, ?, ?)`,
			t.ID, t.Incident, storage.Millis(now), storage.Millis(t.Expires))
		if err != nil {
			return fmt.Errorf("use ack token: %w", err)
		}
		// Used tokens are kept only while they could still be replayed.
		_, err = tx.Exec(ctx, `DELETE FROM incident_ack_tokens WHERE expires_at < ?`, storage.Millis(now))
		return err
	})
}

// withAckURL gives m a fresh email ack link for user when ack links are
// configured and the incident can still be acknowledged. A link that
// cannot be made leaves m without one: the page matters more.
func (s *Service) withAckURL(m *notifiers.Message, user string) *notifiers.Message {
	if m.IncidentID == 0 || m.Ack != nil || m.Closed != nil || s.extURL == nil || s.extURL.Host == "" {
		return m
	}
	tok, err := s.NewAckToken(m.IncidentID, user)
	if err != nil {
		return m
	}
	m.AckURL = strings.TrimRight(s.extURL.String(), "/") + "/ack/" + tok
	return m
}
