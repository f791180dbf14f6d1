package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const authBase = "route: {receiver: r}\nreceivers: [{name: r}]\n"

func TestAuthDefaults(t *testing.T) {
	cfg, err := Load([]byte(authBase), ".")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Auth
	if a.Ingest != "open" || a.Metrics != "open" || a.CookieSecure != "auto" || a.ProxyHeader != "" ||
		time.Duration(a.SessionIdleTimeout) != 12*time.Hour || time.Duration(a.SessionMaxAge) != 7*24*time.Hour {
		t.Fatalf("defaults: %+v", a)
	}
}

func TestAuthKeys(t *testing.T) {
	cfg, err := Load([]byte(authBase+`auth:
  ingest: token
  metrics: token
  session_idle_timeout: 1h
  trusted_proxies: [10.0.0.0/8, 192.0.2.7]
  proxy_header: x-forwarded-user
  proxy_default_role: viewer
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Auth
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if a.Ingest != "token" || a.Metrics != "token" || time.Duration(a.SessionIdleTimeout) != time.Hour ||
		a.ProxyHeader != "X-Forwarded-User" || len(a.Proxies) != 2 || a.Proxies[0] != want[0] || a.Proxies[1] != want[1] {
		t.Fatalf("auth: %+v", a)
	}
	for text, wantErr := range map[string]string{
		"auth: {ingest: closed}":              `auth.ingest: "closed": want open or token`,
		"auth: {trusted_proxies: [nonsense]}": "auth.trusted_proxies[0]",
		"auth: {proxy_header: X-User}":        "needs auth.trusted_proxies",
		"auth: {proxy_default_role: root}":    "auth.proxy_default_role",
		"auth: {cookie_secure: sometimes}":    "auth.cookie_secure",
		"auth: {unknown_key: 1}":              "unknown_key",
	} {
		if _, err := Load([]byte(authBase+text+"\n"), "."); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v, want an error naming %q", text, err, wantErr)
		}
	}
}
