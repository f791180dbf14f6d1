package bench

import (
	"fmt"
	"time"
)

// configTemplate is the routing configuration every server runs, an
// alertmanager.yml that Klaxon and Alertmanager both read unchanged. The
// ingest, memory and start-up traffic takes the default route with
// Alertmanager's default timers; latency probes take a route of their own
// with group_wait 0s, one group per probe, so that each probe is notified
// as soon as the server can.
const configTemplate = `# Written by klaxon-bench.
global:
  resolve_timeout: 5m
route:
  receiver: sink
  group_by: [alertname, group]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: probe
      matchers: ['bench="probe"']
      group_by: [%s]
      group_wait: 0s
      group_interval: 5m
      repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: %s/sink
        send_resolved: true
  - name: probe
    webhook_configs:
      - url: %s/probe
        send_resolved: false
`

// Config returns the benchmark configuration notifying the receiver at
// receiverURL.
func Config(receiverURL string) string {
	return fmt.Sprintf(configTemplate, ProbeLabel, receiverURL, receiverURL)
}

// probeAlert is latency probe id: alone in its group, firing.
func probeAlert(id string, t time.Time) Alert {
	return Alert{
		Labels: []Label{
			{"alertname", "BenchProbe"},
			{"bench", "probe"},
			{ProbeLabel, id},
		},
		StartsAt: t,
		EndsAt:   t.Add(validFor),
	}
}
