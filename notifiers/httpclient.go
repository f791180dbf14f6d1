package notifiers

import (
	"fmt"
	"net/http"

	commoncfg "github.com/prometheus/common/config"
)

// HTTPClient builds an integration's HTTP client from its http_config as
// Alertmanager does: the defaults when the receiver sets none. name labels
// the client's connections in Prometheus's common config.
func HTTPClient(c *commoncfg.HTTPClientConfig, name string) (*http.Client, error) {
	cfg := commoncfg.DefaultHTTPClientConfig
	if c != nil {
		cfg = *c
	}
	client, err := commoncfg.NewClientFromConfig(cfg, name)
	if err != nil {
		return nil, fmt.Errorf("http_config: %w", err)
	}
	return client, nil
}
