// Package email sends notifications by mail, configured by an Alertmanager
// email_config, through go-mail: STARTTLS or implicit TLS, PLAIN, LOGIN or
// CRAM-MD5 authentication, and a multipart message with a plain-text part
// and Alertmanager's HTML template.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/notify"
	amemail "github.com/prometheus/alertmanager/notify/email"
	"github.com/prometheus/alertmanager/template"
	commoncfg "github.com/prometheus/common/config"
	gomail "github.com/wneessen/go-mail"

	"github.com/klaxon-dev/klaxon/notifiers"
)

// dialTimeout bounds connecting and each SMTP command.
const dialTimeout = 30 * time.Second

// Notifier mails one email_config's recipients.
type Notifier struct {
	conf   *amemail.EmailConfig
	tmpl   *template.Template
	logger *slog.Logger
	tls    *tls.Config
	host   string
	port   int
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New returns a notifier for c. tmpl must have its ExternalURL set.
func New(c *amemail.EmailConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if tmpl == nil || tmpl.ExternalURL == nil {
		return nil, errors.New("email: template without ExternalURL")
	}
	if c.Smarthost.Host == "" || c.Smarthost.Port == "" {
		return nil, errors.New("email: no smarthost (set it or the global smtp_smarthost)")
	}
	port, err := strconv.Atoi(c.Smarthost.Port)
	if err != nil {
		return nil, fmt.Errorf("email: smarthost port %q: %w", c.Smarthost.Port, err)
	}
	tlsConf := &tls.Config{}
	if c.TLSConfig != nil {
		if tlsConf, err = commoncfg.NewTLSConfig(c.TLSConfig); err != nil {
			return nil, fmt.Errorf("email: tls_config: %w", err)
		}
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = c.Smarthost.Host
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{conf: c, tmpl: tmpl, logger: logger, tls: tlsConf, host: c.Smarthost.Host, port: port}, nil
}

// Notify mails m. Connection failures and 4xx replies can be retried;
// 5xx replies (a refused recipient, bad credentials) cannot.
func (n *Notifier) Notify(ctx context.Context, m *notifiers.Message) (bool, error) {
	msg, err := n.message(m)
	if err != nil {
		return false, err
	}
	opts, err := n.clientOptions()
	if err != nil {
		return false, err
	}
	client, err := gomail.NewClient(n.host, opts...)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return retryable(err), fmt.Errorf("send mail via %s: %w", net.JoinHostPort(n.host, strconv.Itoa(n.port)), err)
	}
	return false, nil
}

// clientOptions follow Alertmanager's settings: implicit TLS on port 465
// or with force_implicit_tls, else STARTTLS when require_tls (the default);
// authentication as auth chooses.
func (n *Notifier) clientOptions() ([]gomail.Option, error) {
	c := n.conf
	opts := []gomail.Option{gomail.WithPort(n.port), gomail.WithTimeout(dialTimeout), gomail.WithTLSConfig(n.tls)}
	implicit := n.port == 465
	if c.ForceImplicitTLS != nil {
		implicit = *c.ForceImplicitTLS
	}
	switch {
	case implicit:
		opts = append(opts, gomail.WithSSL())
	case c.RequireTLS == nil || *c.RequireTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.Hello != "" {
		opts = append(opts, gomail.WithHELO(c.Hello))
	}
	if c.AuthUsername == "" {
		return opts, nil
	}
	secret, err := readSecret(string(c.AuthSecret), c.AuthSecretFile)
	if err != nil {
		return nil, err
	}
	password, err := readSecret(string(c.AuthPassword), c.AuthPasswordFile)
	if err != nil {
		return nil, err
	}
	return append(opts, gomail.WithSMTPAuthCustom(&auth{identity: c.AuthIdentity, username: c.AuthUsername,
		password: password, secret: secret, host: n.host})), nil
}

// readSecret returns value, or the content of file, read at each send so
// that a rotated password is picked up without a reload.
func readSecret(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("email: read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// retryable reports whether a later attempt could succeed: yes for
// connection trouble and 4xx replies, no for 5xx replies.
func retryable(err error) bool {
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) {
		return sendErr.IsTemp()
	}
	var proto *textproto.Error
	if errors.As(err, &proto) {
		return proto.Code/100 == 4
	}
	return true
}

// message renders m with the configuration's templates.
func (n *Notifier) message(m *notifiers.Message) (*gomail.Msg, error) {
	data := notifiers.TemplateData(n.tmpl, m, m.Alerts)
	var tmplErr error
	tmpl := notify.TmplText(n.tmpl, data, &tmplErr)
	tmplHTML := notify.TmplHTML(n.tmpl, data, &tmplErr)
	msg := gomail.NewMsg()
	headers := map[string]string{"Subject": amemail.DefaultEmailSubject, "To": n.conf.To, "From": n.conf.From}
	for k, v := range n.conf.Headers {
		headers[k] = v
	}
	if err := msg.From(tmpl(n.conf.From)); err != nil {
		return nil, fmt.Errorf("email: from address: %w", err)
	}
	if err := msg.To(splitAddresses(tmpl(n.conf.To))...); err != nil {
		return nil, fmt.Errorf("email: to address: %w", err)
	}
	for k, v := range headers {
		switch k {
		case "To", "From":
			// Set above from the addresses, which are what SMTP uses.
		case "Subject":
			msg.Subject(tmpl(v))
		default:
			msg.SetGenHeader(gomail.Header(k), tmpl(v))
		}
	}
	if m.IncidentID != 0 {
		msg.SetGenHeader("X-Klaxon-Incident", strconv.FormatInt(m.IncidentID, 10))
	}
	msg.SetDateWithValue(m.At)
	msg.SetMessageID()
	text := tmpl(n.conf.Text)
	if n.conf.Text == "" {
		text = defaultText(n.tmpl.ExternalURL, m, data)
	}
	html := ""
	if n.conf.HTML != "" {
		html = tmplHTML(n.conf.HTML)
	}
	if tmplErr != nil {
		return nil, fmt.Errorf("email: template: %w", tmplErr)
	}
	switch {
	case html == "":
		msg.SetBodyString(gomail.TypeTextPlain, text)
	case text == "":
		msg.SetBodyString(gomail.TypeTextHTML, html)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, text)
		msg.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	return msg, nil
}

func splitAddresses(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
