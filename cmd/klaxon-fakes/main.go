// Command klaxon-fakes serves the provider fakes of internal/fakes (Slack's
// Web API and incoming webhooks, PagerDuty's Events API v2) on loopback
// ports, so that Klaxon can be tried by hand without real accounts:
//
//	go run ./cmd/klaxon-fakes
//
// then point a receiver at them, e.g.
//
//	slack_configs:
//	  - app_token: xoxb-dev
//	    app_url: http://127.0.0.1:9101/api/chat.postMessage
//	    channel: '#ops'
//	pagerduty_configs:
//	  - routing_key: devdevdevdevdevdevdevdevdevdevde
//	    url: http://127.0.0.1:9102/v2/enqueue
//
// and watch what arrives at /_fake/messages and /_fake/events.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/klaxon-dev/klaxon/internal/fakes"
)

func main() {
	slackAddr := flag.String("slack.listen", "127.0.0.1:9101", "address of the Slack fake")
	slackToken := flag.String("slack.token", "xoxb-dev", "bot token the Slack fake accepts")
	pdAddr := flag.String("pagerduty.listen", "127.0.0.1:9102", "address of the PagerDuty fake")
	pdKey := flag.String("pagerduty.routing-key", "", "the one routing key the PagerDuty fake accepts (default: any well-formed key)")
	flag.Parse()

	var keys []string
	if *pdKey != "" {
		keys = append(keys, *pdKey)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, 2)
	for _, s := range []struct {
		name, addr, watch string
		h                 http.Handler
	}{
		{"Slack", *slackAddr, "/_fake/messages", fakes.NewSlack(*slackToken)},
		{"PagerDuty", *pdAddr, "/_fake/events", fakes.NewPagerDuty(keys...)},
	} {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "klaxon-fakes: %s: %v\n", s.name, err)
			os.Exit(1)
		}
		slog.Info("Serving fake", "provider", s.name, "url", "http://"+ln.Addr().String(), "watch", "http://"+ln.Addr().String()+s.watch)
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		go func() { errs <- srv.Serve(ln) }()
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "klaxon-fakes: %v\n", err)
			os.Exit(1)
		}
	}
}
