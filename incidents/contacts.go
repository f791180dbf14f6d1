package incidents

import (
	"cmp"
	"net/url"

	amconfig "github.com/prometheus/alertmanager/config"
	amcommoncfg "github.com/prometheus/alertmanager/config/common"
	amemail "github.com/prometheus/alertmanager/notify/email"
	amslack "github.com/prometheus/alertmanager/notify/slack"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"

	"github.com/klaxon-dev/klaxon/config"
	"github.com/klaxon-dev/klaxon/incidents/oncall"
)

// WithContactReceivers returns cfg with one more receiver per contact
// method of each user of the file, named by ContactReceiver, so that the
// outbox delivers pages to people like any other notification: durably,
// with retries. Email uses the global SMTP settings, Slack a direct
// message through the first slack_config that has a bot token. A contact
// that cannot be delivered this way is left out, and paging it is put on
// the incident's timeline as failed.
func WithContactReceivers(cfg *config.Config) *config.Config {
	if len(cfg.OnCall.Users) == 0 {
		return cfg
	}
	am := *cfg.Alertmanager
	am.Receivers = append([]amconfig.Receiver(nil), cfg.Alertmanager.Receivers...)
	slackTmpl := slackWithToken(cfg.Alertmanager)
	for _, u := range cfg.OnCall.Users {
		for _, c := range u.Contacts {
			rc := amconfig.Receiver{Name: ContactReceiver(u.Name, c)}
			switch c.Type {
			case oncall.Email:
				ec := emailTo(cfg.Alertmanager.Global, c.To)
				if ec == nil {
					continue
				}
				rc.EmailConfigs = append(rc.EmailConfigs, ec)
			case oncall.Slack:
				if slackTmpl == nil {
					continue
				}
				sc := *slackTmpl
				sc.Channel = c.To
				rc.SlackConfigs = append(rc.SlackConfigs, &sc)
			case oncall.Webhook:
				u, err := url.Parse(c.To)
				if err != nil {
					continue
				}
				rc.WebhookConfigs = append(rc.WebhookConfigs, &amwebhook.WebhookConfig{
					NotifierConfig: amcommoncfg.NotifierConfig{VSendResolved: true},
					HTTPConfig:     cfg.Alertmanager.Global.HTTPConfig,
					URL:            amcommoncfg.SecretTemplateURL(u.String()),
				})
			default:
				continue
			}
			am.Receivers = append(am.Receivers, rc)
		}
	}
	c := *cfg
	c.Alertmanager = &am
	return &c
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
