package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
	"github.com/klaxon-dev/klaxon/web/client"
)

func TestListIncidentsFilters(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		h := newHooks(t, db)
		if _, err := h.inc.SetAssignee(ctx, h.id, incidents.Actor{Name: "alice"}, "alice"); err != nil {
			t.Fatal(err)
		}
		get := func(query string) (int, string) {
			t.Helper()
			resp, err := http.Get(h.srv.URL + "/api/v1/incidents" + query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		for query, want := range map[string]int{
			"":                                   1,
			"?assignee=alice":                    1,
			"?assignee=bob":                      0,
			"?status=triggered&assignee=alice":   1,
			"?status=resolved&assignee=alice":    0,
			"?severity=critical":                 0,
			"?service=api":                       0,
			"?service=&severity=&assignee=alice": 1,
		} {
			code, body := get(query)
			var list []incidents.Incident
			if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != want {
				t.Errorf("GET %s: %d %s, want %d incidents", query, code, body, want)
			}
		}
		for query, param := range map[string]string{
			"?status=open":                          "status:",
			"?severity=a&severity=b":                "severity:",
			"?service=%20api":                       "service:",
			"?assignee=" + strings.Repeat("x", 300): "assignee:",
			"?limit=0":                              "limit:",
		} {
			if code, body := get(query); code != http.StatusBadRequest || !strings.Contains(body, param) {
				t.Errorf("GET %s: %d %s, want 400 naming %q", query[:min(len(query), 40)], code, body, param)
			}
		}

		// The CLI's client: filters, and an un-ack.
		cl, err := client.New(h.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		list, err := cl.ListIncidents(ctx, client.IncidentFilter{Status: "triggered", Assignee: "alice"})
		if err != nil || len(list) != 1 {
			t.Fatalf("client list: %v, %v", list, err)
		}
		if list, err := cl.ListIncidents(ctx, client.IncidentFilter{Service: "db"}); err != nil || len(list) != 0 {
			t.Fatalf("client list of service db: %v, %v", list, err)
		}
		if _, err := cl.Ack(ctx, h.id, "bob", "cli"); err != nil {
			t.Fatal(err)
		}
		inc, err := cl.Unack(ctx, h.id, "bob", "cli")
		if err != nil || inc.Status != incidents.Triggered {
			t.Fatalf("client unack: %+v, %v", inc, err)
		}
		if _, err := cl.Unack(ctx, 987654, "bob", "cli"); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("unack of an unknown incident: %v", err)
		}
	})
}
