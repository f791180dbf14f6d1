package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/alertmanager/api/v2/models"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/router"
)

// TestAPIv2StatusListsReplicas checks that /api/v2/status lists the live
// replicas sharing the database as cluster peers, settling until this one
// holds its share of the work.
func TestAPIv2StatusListsReplicas(t *testing.T) {
	cfg, err := amconfig.Load(apiConfig)
	if err != nil {
		t.Fatal(err)
	}
	db := storagetest.Open(t, "sqlite")
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	rt := router.New(router.Options{DB: db, Clock: clock, Sink: discardSink{}, Registerer: prometheus.NewRegistry()})
	if err := rt.ApplyConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var settled atomic.Bool
	reg := prometheus.NewRegistry()
	srv := asAdmin(t, Options{
		Router: rt, Alertmanager: rt,
		AlertmanagerConfig: func() *amconfig.Config { return cfg },
		ResolveTimeout:     func() time.Duration { return 5 * time.Minute },
		Gatherer:           reg, Registerer: reg, Now: clock.Now,
		PeerName: "klaxon-0", PeerAddress: "10.0.0.1:9093",
		ClusterPeers: func() ([]ClusterPeer, bool) {
			return []ClusterPeer{{Name: "klaxon-0", Address: "10.0.0.1:9093"}, {Name: "klaxon-1", Address: "10.0.0.2:9093"}}, settled.Load()
		},
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	status := func() models.ClusterStatus {
		t.Helper()
		resp, err := http.Get(hs.URL + "/api/v2/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st models.AlertmanagerStatus
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v2/status: %d %v", resp.StatusCode, err)
		}
		return *st.Cluster
	}
	st := status()
	if *st.Status != "settling" || len(st.Peers) != 2 || *st.Peers[1].Name != "klaxon-1" || *st.Peers[1].Address != "10.0.0.2:9093" {
		t.Fatalf("while taking over its share: %s", apiv2JSON(st))
	}
	settled.Store(true)
	if st := status(); *st.Status != "ready" || len(st.Peers) != 2 {
		t.Fatalf("settled: %s", apiv2JSON(st))
	}
}
