package web

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/klaxon-dev/klaxon/incidents"
	"github.com/klaxon-dev/klaxon/internal/storagetest"
	"github.com/klaxon-dev/klaxon/storage"
)

func TestPostmortemLifecycle(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		h := newHooks(t, db)
		base := "/api/v1/incidents/" + strconv.FormatInt(h.id, 10) + "/postmortem"
		do := func(method, path, body string) (int, string) {
			t.Helper()
			req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, _ := do(http.MethodGet, base, ""); code != http.StatusNotFound {
			t.Errorf("before creation: %d, want 404", code)
		}
		code, b := do(http.MethodPost, base, `{"by": "alice"}`)
		var pm incidents.Postmortem
		if code != http.StatusCreated || json.Unmarshal([]byte(b), &pm) != nil || pm.Version != 1 || len(pm.Timeline) == 0 {
			t.Fatalf("create: %d %s", code, b)
		}
		if code, _ := do(http.MethodPost, base, `{}`); code != http.StatusConflict {
			t.Errorf("second create: %d, want 409", code)
		}
		pm.RootCause = "The disk filled with logs."
		pm.ActionItems = []incidents.ActionItem{{Title: "Rotate logs", Owner: "bob", Due: "2026-12-01"},
			{Title: "Alert earlier", Status: "done"}}
		edit, _ := json.Marshal(pm)
		if code, b := do(http.MethodPut, base, string(edit)); code != http.StatusOK || !strings.Contains(b, `"version":2`) {
			t.Fatalf("edit: %d %s", code, b)
		}
		if code, _ := do(http.MethodPut, base, string(edit)); code != http.StatusConflict {
			t.Errorf("edit of a stale version: %d, want 409", code)
		}
		code, md := do(http.MethodGet, base+"?format=markdown", "")
		for _, want := range []string{"# Postmortem: Down", "## Root cause\n\nThe disk filled with logs.",
			"| Rotate logs | bob | 2026-12-01 | open |", "| opened |", "_Version 2"} {
			if !strings.Contains(md, want) {
				t.Errorf("markdown (%d) lacks %q:\n%s", code, want, md)
			}
		}
		code, b = do(http.MethodGet, "/api/v1/incidents/action-items", "")
		var items []incidents.OpenActionItem
		if code != http.StatusOK || json.Unmarshal([]byte(b), &items) != nil || len(items) != 1 || items[0].Title != "Rotate logs" {
			t.Errorf("open action items: %d %s", code, b)
		}
		code, b = do(http.MethodGet, "/api/v1/incidents/"+strconv.FormatInt(h.id, 10)+"/timeline", "")
		if !strings.Contains(b, "postmortem_created") || !strings.Contains(b, "postmortem_edited") {
			t.Errorf("timeline (%d) lacks postmortem events: %s", code, b)
		}
	})
}
