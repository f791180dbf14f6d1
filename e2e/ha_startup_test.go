package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// TestStartsBeforeItsDatabase starts a replica while PostgreSQL is down, as
// happens when both start together: it waits, saying so, instead of exiting,
// and becomes ready by itself once the database is up.
func TestStartsBeforeItsDatabase(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := haEnv(t, pg, func(e *env) string { return e.goodConfig() })
	pg.Stop()

	port := strconv.Itoa(testenv.FreePort(t))
	url := "http://127.0.0.1:" + port
	cmd := exec.Command(e.bin, "serve", "--config.file", e.config, "--database-url", e.dbURL,
		"--storage.path", filepath.Join(e.dir, "data"), "--web.listen-address", "127.0.0.1:"+port)
	cmd.Stdout, cmd.Stderr = e.log, e.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	waitLong(t, time.Minute, "klaxon to say it waits for the database", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("klaxon exited while the database was down: %v", err)
		default:
		}
		return strings.Contains(e.log.String(), "Waiting for the database")
	})
	if code := getStatus(url, "/-/ready"); code == http.StatusOK {
		t.Fatal("ready without a database")
	}
	pg.Start()
	waitLong(t, 2*time.Minute, "klaxon to become ready once the database is up", func() bool {
		return getStatus(url, "/-/ready") == http.StatusOK
	})
	status, _ := postTo(url, []alert{firing("alertname", "AfterStart")})
	if status != http.StatusOK {
		t.Errorf("POST /api/v2/alerts after a late database: %d, want 200", status)
	}
}
