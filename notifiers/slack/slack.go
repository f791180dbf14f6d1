// Package slack sends notifications to Slack, configured by an Alertmanager
// slack_config. With a bot token (app_token) it posts a Block Kit message
// through the Web API with slack-go and edits that same message, with
// chat.update, as the incident changes (new alerts, resolved, acknowledged).
// With only an incoming-webhook api_url it posts as Alertmanager does, using
// Alertmanager's own Slack integration, since webhooks cannot edit.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/notify"
	amslack "github.com/prometheus/alertmanager/notify/slack"
	"github.com/prometheus/alertmanager/template"
	goslack "github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/klaxon-dev/klaxon/notifiers"
)

// PerChannelRate is how often one channel is posted to: Slack allows about
// one message per second per channel, with short bursts.
var PerChannelRate = rate.Every(time.Second)

// perChannelBurst is the short burst Slack tolerates above that rate.
const perChannelBurst = 2

// Notifier sends to one Slack channel or incoming webhook.
type Notifier struct {
	conf    *amslack.SlackConfig
	tmpl    *template.Template
	logger  *slog.Logger
	client  *http.Client
	apiBase string            // Web API base URL, ending in "/"; "" for webhooks
	hook    *amslack.Notifier // incoming-webhook mode

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New returns a notifier for c. tmpl must have its ExternalURL set.
func New(c *amslack.SlackConfig, tmpl *template.Template, logger *slog.Logger) (*Notifier, error) {
	// c is validated by the configuration's loading, which also turns an
	// app_token into http_config's bearer authorization and app_url into
	// api_url; validating again here would refuse that result.
	if tmpl == nil || tmpl.ExternalURL == nil {
		return nil, errors.New("slack: template without ExternalURL")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{conf: c, tmpl: tmpl, logger: logger, limiters: map[string]*rate.Limiter{}}
	if c.AppToken == "" && c.AppTokenFile == "" {
		hook, err := amslack.New(c, tmpl, logger)
		if err != nil {
			return nil, err
		}
		n.hook = hook
		return n, nil
	}
	client, err := notifiers.HTTPClient(c.HTTPConfig, "slack")
	if err != nil {
		return nil, err
	}
	n.client = client
	n.apiBase = amslack.PostMessageURL
	if c.AppURL != nil {
		n.apiBase = c.AppURL.String()
	}
	// app_url names chat.postMessage; slack-go wants the API's base.
	n.apiBase = strings.TrimSuffix(n.apiBase, "chat.postMessage")
	if !strings.HasSuffix(n.apiBase, "/") {
		n.apiBase += "/"
	}
	return n, nil
}

// Notify posts m, or edits the message already posted for m's incident.
func (n *Notifier) Notify(ctx context.Context, m *notifiers.Message) (bool, error) {
	if n.conf.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.conf.Timeout)
		defer cancel()
	}
	if n.hook != nil {
		return n.notifyWebhook(ctx, m)
	}
	msg, err := n.render(m)
	if err != nil {
		return false, err
	}
	if msg.channel == "" {
		return false, errors.New("slack: no channel configured; a bot token needs one")
	}
	// The token travels in the Authorization header that http_config adds,
	// never in a request body.
	api := goslack.New("", goslack.OptionAPIURL(n.apiBase), goslack.OptionHTTPClient(userAgent{n.client}))
	ref := n.load(ctx, m)
	if err := n.limiter(msg.channel, ref).Wait(ctx); err != nil {
		return true, fmt.Errorf("slack: waiting for the channel's rate limit: %w", err)
	}
	if ref.TS != "" {
		_, _, _, err := api.UpdateMessageContext(ctx, ref.Channel, ref.TS, msg.options...)
		if !isGone(err) {
			return classify("chat.update", err)
		}
		// Deleted by someone: post the incident's state anew.
		n.logger.Debug("Slack message to update is gone; posting a new one")
	}
	channel, ts, err := api.PostMessageContext(ctx, msg.channel, msg.options...)
	if err != nil {
		return classify("chat.postMessage", err)
	}
	n.save(ctx, m, threadRef{Channel: channel, TS: ts})
	return false, nil
}

// threadRef is what a Thread keeps for Slack: where the message is.
type threadRef struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

func (n *Notifier) load(ctx context.Context, m *notifiers.Message) threadRef {
	var ref threadRef
	if m.Thread == nil {
		return ref
	}
	raw, err := m.Thread.Load(ctx)
	if err != nil {
		// Posting anew is better than not posting.
		n.logger.Warn("Loading the Slack message to update failed; posting a new one", "err", err)
		return ref
	}
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &ref)
	}
	return ref
}

func (n *Notifier) save(ctx context.Context, m *notifiers.Message, ref threadRef) {
	if m.Thread == nil {
		return
	}
	b, _ := json.Marshal(ref)
	if err := m.Thread.Save(ctx, string(b)); err != nil {
		// The message is out; failing the attempt would post it twice.
		n.logger.Warn("Saving the Slack message's ts failed; the next update posts a new message", "err", err)
	}
}

// limiter returns the rate limiter of the channel a message goes to.
func (n *Notifier) limiter(channel string, ref threadRef) *rate.Limiter {
	if ref.Channel != "" {
		channel = ref.Channel
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.limiters[channel]
	if !ok {
		l = rate.NewLimiter(PerChannelRate, perChannelBurst)
		n.limiters[channel] = l
	}
	return l
}

// notifyWebhook posts through Alertmanager's own Slack integration, which
// reads the group from the context.
func (n *Notifier) notifyWebhook(ctx context.Context, m *notifiers.Message) (bool, error) {
	ctx = notify.WithGroupKey(ctx, m.GroupKey)
	ctx = notify.WithReceiverName(ctx, m.Receiver)
	ctx = notify.WithGroupLabels(ctx, m.GroupLabels)
	ctx = notify.WithNow(ctx, m.At)
	v := n.hook.Notify(ctx, m.Alerts...)
	err := v.Err()
	if err == nil {
		return false, nil
	}
	err = notify.RedactURL(err)
	if d := v.Delay(); d > 0 {
		err = notifiers.WithRetryAfter(err, d)
	}
	return v.ShouldRetry(), err
}

// retryableErrors are Slack error codes that a later attempt may not get.
var retryableErrors = []string{"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "rate_limited"}

// classify turns a Web API error into Notify's result.
func classify(method string, err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	var (
		limited *goslack.RateLimitedError
		status  goslack.StatusCodeError
		resp    goslack.SlackErrorResponse
	)
	switch {
	case errors.As(err, &limited):
		return true, notifiers.WithRetryAfter(fmt.Errorf("slack %s: rate limited", method), limited.RetryAfter)
	case errors.As(err, &status):
		return status.Retryable() || status.Code == http.StatusTooManyRequests, fmt.Errorf("slack %s: HTTP %d", method, status.Code)
	case errors.As(err, &resp):
		return slices.Contains(retryableErrors, resp.Err), fmt.Errorf("slack %s: %s", method, resp.Err)
	default:
		// No answer: the network, a timeout, or a garbled body.
		return true, fmt.Errorf("slack %s: %w", method, notify.RedactURL(err))
	}
}

// isGone reports whether chat.update failed because the message or its
// channel no longer exists.
func isGone(err error) bool {
	var resp goslack.SlackErrorResponse
	return errors.As(err, &resp) && (resp.Err == "message_not_found" || resp.Err == "channel_not_found")
}

// userAgent names Klaxon in every request to Slack.
type userAgent struct{ c *http.Client }

func (u userAgent) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("User-Agent", notifiers.UserAgent())
	return u.c.Do(req)
}

// EditsMessages reports whether the notifier posts through the Web API and
// so can show later states, acknowledgements included, in its message.
func (n *Notifier) EditsMessages() bool { return n.hook == nil }
