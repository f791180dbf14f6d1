package email

import (
	"testing"

	"github.com/wneessen/go-mail/smtp"
)

func TestAuthPicksMechanismAsAlertmanager(t *testing.T) {
	for _, c := range []struct {
		password, secret string
		offered          []string
		want             string
	}{
		{"pw", "sec", []string{"PLAIN", "LOGIN", "CRAM-MD5"}, "CRAM-MD5"},
		{"pw", "", []string{"LOGIN", "CRAM-MD5", "PLAIN"}, "PLAIN"},
		{"pw", "sec", []string{"LOGIN"}, "LOGIN"},
		{"", "sec", []string{"PLAIN", "LOGIN"}, ""},
	} {
		a := &auth{username: "u", password: c.password, secret: c.secret, host: "mail.example"}
		got, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example", TLS: true, Auth: c.offered})
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("password %q secret %q offered %v: Start = %q, %v; want %q", c.password, c.secret, c.offered, got, err, c.want)
		}
	}
}
