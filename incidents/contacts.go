package incidents

import (
	"cmp"
	"context"
	"errors"
	"net/url"
	"strings"

	amconfig "github.com/prometheus/alertmanager/config"
	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	amemail "github.com/prometheus/alertmanager/notify/email"
	amslack "github.com/prometheus/alertmanager/notify/slack"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
	"github.com/klaxon-dev/klaxon/notifiers"
)

// WithContactReceivers returns cfg with one more receiver per contact
// method of each user of the file, named by ContactReceiver, so that the
// outbox delivers pages to people like any other notification: durably,
// with retries. Email uses the global SMTP settings, Slack a direct
// message through the first slack_config that has a bot token. A contact
// that cannot be delivered this way is left out, and paging it is put on
// the incident's timeline as failed. Users created through the API are
// paged through ContactResolver instead.
func WithContactReceivers(cfg *config.Config) *config.Config {
	if len(cfg.OnCall.Users) == 0 {
		return cfg
	}
	am := *cfg.Alertmanager
	am.Receivers = append([]amconfig.Receiver(nil), cfg.Alertmanager.Receivers...)
	for _, u := range cfg.OnCall.Users {
		for _, c := range u.Contacts {
			if rc := contactReceiver(cfg, u.Name, c); rc != nil {
				am.Receivers = append(am.Receivers, *rc)
			}
		}
	}
	c := *cfg
	c.Alertmanager = &am
	return &c
}

// ContactResolver returns the outbox's resolver (notifiers.OutboxOptions
// Resolve) of the receivers named by ContactReceiver, for users the file
// does not define: it reads the user when a page is queued or sent, so a
// user created or changed through the API is paged at once, on every
// replica, and a contact method removed since is not.
func ContactResolver(oc OnCall) notifiers.ResolveFunc {
	return func(ctx context.Context, cfg *config.Config, name string) (*amconfig.Receiver, error) {
		rest, ok := strings.CutPrefix(name, contactPrefix)
		if !ok {
			return nil, nil
		}
		// User names have no ':' (oncall.ValidateUser).
		user, _, _ := strings.Cut(rest, ":")
		u, err := oc.User(ctx, user)
		if errors.Is(err, oncall.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, c := range u.Contacts {
			if ContactReceiver(u.Name, c) == name {
				return contactReceiver(cfg, u.Name, c), nil
			}
		}
		return nil, nil
	}
}

// contactReceiver is the receiver that delivers to one contact method of
// a user, or nil if cfg gives no way to (see WithContactReceivers).
func contactReceiver(cfg *config.Config, user string, c oncall.ContactMethod) *amconfig.Receiver {
	rc := &amconfig.Receiver{Name: ContactReceiver(user, c)}
	switch c.Type {
	case oncall.Email:
		ec := emailTo(cfg.Alertmanager.Global, c.To)
		if ec == nil {
			return nil
		}
		rc.EmailConfigs = append(rc.EmailConfigs, ec)
	case oncall.Slack:
		slackTmpl := slackWithToken(cfg.Alertmanager)
		if slackTmpl == nil {
			return nil
		}
		sc := *slackTmpl
		sc.Channel = c.To
		rc.SlackConfigs = append(rc.SlackConfigs, &sc)
	case oncall.Webhook:
		u, err := url.Parse(c.To)
		if err != nil {
			return nil
		}
		rc.WebhookConfigs = append(rc.WebhookConfigs, &amwebhook.WebhookConfig{
			NotifierConfig: amcommoncfg.NotifierConfig{VSendResolved: true},
			HTTPConfig:     cfg.Alertmanager.Global.HTTPConfig,
			URL:            amcommoncfg.SecretTemplateURL(u.String()),
		})
	default:
		return nil
	}
	return rc
}

// emailTo is an email_config to addr with the global SMTP settings, as
// Alertmanager fills them in; nil without a global smarthost and from.
func emailTo(g *amconfig.GlobalConfig, addr string) *amemail.EmailConfig {
	if g == nil || g.SMTPSmarthost.String() == "" || g.SMTPFrom == "" {
		return nil
	}
	ec := amemail.DefaultEmailConfig
	ec.VSendResolved = true
	ec.To, ec.From, ec.Hello, ec.Smarthost = addr, g.SMTPFrom, g.SMTPHello, g.SMTPSmarthost
	ec.AuthUsername, ec.AuthPassword, ec.AuthPasswordFile = g.SMTPAuthUsername, g.SMTPAuthPassword, g.SMTPAuthPasswordFile
	ec.AuthSecret, ec.AuthSecretFile, ec.AuthIdentity = g.SMTPAuthSecret, g.SMTPAuthSecretFile, g.SMTPAuthIdentity
	requireTLS := g.SMTPRequireTLS
	ec.RequireTLS, ec.ForceImplicitTLS = &requireTLS, g.SMTPForceImplicitTLS
	ec.TLSConfig = cmp.Or(ec.TLSConfig, g.SMTPTLSConfig)
	return &ec
}

// slackWithToken is the first slack_config that posts through the Web
// API, which can send direct messages to a member id.
func slackWithToken(am *amconfig.Config) *amslack.SlackConfig {
	for _, r := range am.Receivers {
		for _, sc := range r.SlackConfigs {
			if sc.AppToken != "" || sc.AppTokenFile != "" {
				return sc
			}
		}
	}
	return nil
}
