package rules

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"github.com/golang/snappy"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/klaxon-dev/klaxon/config"
)

// newAppendable is where rule groups write their samples: recording rule
// results and the ALERTS series. Without remote_write it is a discard.
func newAppendable(rws []config.RemoteWrite, logger *slog.Logger) (storage.AppendableV2, error) {
	if len(rws) == 0 {
		return discard{}, nil
	}
	var clients []remote.WriteClient
	for i, rw := range rws {
		u, err := url.Parse(rw.URL)
		if err != nil {
			return nil, fmt.Errorf("prometheus.remote_write[%d].url: %w", i, err)
		}
		c, err := remote.NewWriteClient(fmt.Sprintf("klaxon-rules-%d", i), &remote.ClientConfig{
			URL: &commoncfg.URL{URL: u}, Timeout: rw.Timeout, HTTPClientConfig: rw.HTTPConfig,
		})
		if err != nil {
			return nil, fmt.Errorf("prometheus.remote_write[%d]: %w", i, err)
		}
		clients = append(clients, c)
	}
	return &remoteAppendable{clients: clients, logger: logger}, nil
}

// discard is the storage of rule results without remote_write.
type discard struct{}

func (discard) AppenderV2(context.Context) storage.AppenderV2 { return discardAppender{} }

type discardAppender struct{}

func (discardAppender) Append(storage.SeriesRef, labels.Labels, int64, int64, float64, *histogram.Histogram, *histogram.FloatHistogram, storage.AOptions) (storage.SeriesRef, error) {
	return 0, nil
}
func (discardAppender) Commit() error   { return nil }
func (discardAppender) Rollback() error { return nil }

// remoteAppendable sends each committed batch with Prometheus remote
// write (1.0), synchronously: a group's samples are written before its
// next evaluation, and a failure fails the rule's evaluation.
type remoteAppendable struct {
	clients []remote.WriteClient
	logger  *slog.Logger
}

func (r *remoteAppendable) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &remoteAppender{r: r, ctx: ctx}
}

type remoteAppender struct {
	r   *remoteAppendable
	ctx context.Context
	mu  sync.Mutex
	ts  []prompb.TimeSeries
}

// Append buffers a float sample until Commit.
func (a *remoteAppender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AOptions) (storage.SeriesRef, error) {
	if h != nil || fh != nil {
		return 0, fmt.Errorf("series %s: native histograms are not written", ls)
	}
	var pl []prompb.Label
	ls.Range(func(l labels.Label) { pl = append(pl, prompb.Label{Name: l.Name, Value: l.Value}) })
	a.mu.Lock()
	a.ts = append(a.ts, prompb.TimeSeries{Labels: pl, Samples: []prompb.Sample{{Timestamp: t, Value: v}}})
	a.mu.Unlock()
	return 0, nil
}

// Commit sends the buffered samples to every endpoint.
func (a *remoteAppender) Commit() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ts) == 0 {
		return nil
	}
	req := &prompb.WriteRequest{Timeseries: a.ts}
	raw, err := req.Marshal()
	if err != nil {
		return err
	}
	body := snappy.Encode(nil, raw)
	for _, c := range a.r.clients {
		if _, err := c.Store(a.ctx, body, 0); err != nil {
			return fmt.Errorf("remote write to %s: %w", c.Endpoint(), err)
		}
	}
	a.ts = nil
	return nil
}

// Rollback drops the buffered samples.
func (a *remoteAppender) Rollback() error {
	a.mu.Lock()
	a.ts = nil
	a.mu.Unlock()
	return nil
}
