package email

import (
	"errors"
	"slices"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// auth picks the mechanism once the server has said which it offers, as
// Alertmanager does: CRAM-MD5 when an auth_secret is set, else PLAIN, else
// LOGIN, each only if the server offers it.
type auth struct {
	identity, username, password, secret, host string
	chosen                                     smtp.Auth
}

// Start implements smtp.Auth.
func (a *auth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	offers := func(mech string) bool {
		return slices.ContainsFunc(server.Auth, func(s string) bool { return strings.EqualFold(s, mech) })
	}
	switch {
	case a.secret != "" && offers("CRAM-MD5"):
		a.chosen = smtp.CRAMMD5Auth(a.username, a.secret)
	case a.password != "" && offers("PLAIN"):
		a.chosen = smtp.PlainAuth(a.identity, a.username, a.password, a.host, false)
	case a.password != "" && offers("LOGIN"):
		a.chosen = smtp.LoginAuth(a.username, a.password, a.host, false)
	default:
		return "", nil, errors.New("the server offers no authentication mechanism Klaxon can use with the configured credentials (CRAM-MD5 needs auth_secret; PLAIN and LOGIN need auth_password)")
	}
	return a.chosen.Start(server)
}

// Next implements smtp.Auth.
func (a *auth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.chosen.Next(fromServer, more)
}
