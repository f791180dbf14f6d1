// Package mailtest runs a real SMTP server for tests: a mailpit process on
// loopback ports, with STARTTLS (a certificate made for the test), SMTP AUTH
// and its REST API to read delivered messages back. The mailpit binary comes
// from KLAXON_TEST_MAILPIT (scripts/test.sh installs it); tests skip without
// it, and fail under CI=true.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klaxon-dev/klaxon/internal/testenv"
)

// BinaryEnv names the mailpit binary.
const BinaryEnv = "KLAXON_TEST_MAILPIT"

// Credentials the server accepts.
const (
	User     = "klaxon"
	Password = "m4il-s3cret"
)

var tlsFlag = map[TLSMode]string{STARTTLS: "--smtp-require-starttls", ImplicitTLS: "--smtp-require-tls"}

// Server is a running mailpit.
type Server struct {
	// Host and Port are the SMTP listener, which requires TLS.
	Host string
	Port int
	// CAFile is the PEM certificate the server presents, to trust in
	// tls_config.ca_file.
	CAFile string
	api    string
	log    *lockedBuffer
}

// TLSMode is how a client must secure its connection.
type TLSMode int

// The modes Start can require.
const (
	// STARTTLS: plain connection upgraded with STARTTLS (port 587 style).
	STARTTLS TLSMode = iota
	// ImplicitTLS: TLS from the first byte (port 465 style).
	ImplicitTLS
)

// Start runs mailpit requiring STARTTLS until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartTLS(t, STARTTLS)
}

// StartTLS runs mailpit requiring mode until the test ends.
func StartTLS(t testing.TB, mode TLSMode) *Server {
	t.Helper()
	bin := testenv.Require(t, BinaryEnv, "mailpit (a real SMTP server)")
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	authFile := filepath.Join(dir, "smtp-auth")
	if err := os.WriteFile(authFile, []byte(User+":"+Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", CAFile: cert, log: &lockedBuffer{}}
	for attempt := 0; ; attempt++ {
		s.Port = testenv.FreePort(t)
		httpPort := testenv.FreePort(t)
		s.api = "http://127.0.0.1:" + strconv.Itoa(httpPort)
		cmd := exec.Command(bin, "--smtp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
			"--listen", "127.0.0.1:"+strconv.Itoa(httpPort), "--database", filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", attempt)),
			"--smtp-auth-file", authFile, "--smtp-tls-cert", cert, "--smtp-tls-key", key, tlsFlag[mode],
			"--smtp-disable-rdns", "--disable-version-check")
		cmd.Stdout, cmd.Stderr = s.log, s.log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mailpit: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		if s.waitReady(done) {
			break
		}
		if attempt == 3 {
			t.Fatalf("mailpit did not start:\n%s", s.log.String())
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mailpit log:\n%s", s.log.String())
		}
	})
	return s
}

// waitReady waits until both listeners answer, or the process exits (a
// port taken meanwhile).
func (s *Server) waitReady(done <-chan struct{}) bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		resp, err := http.Get(s.api + "/api/v1/info")
		if err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))); err == nil {
				c.Close()
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Smarthost is host:port for email_configs.
func (s *Server) Smarthost() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Message is a delivered message as mailpit parsed it.
type Message struct {
	ID      string
	Subject string
	From    Address
	To      []Address
	Text    string
	HTML    string
	Headers map[string][]string
}

// Address is a mail address.
type Address struct {
	Name    string
	Address string
}

// Messages returns every delivered message, oldest first.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	s.get(t, "/api/v1/messages?limit=1000", &list)
	out := make([]Message, 0, len(list.Messages))
	// mailpit lists newest first.
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var m Message
		id := url.PathEscape(list.Messages[i].ID)
		s.get(t, "/api/v1/message/"+id, &m)
		s.get(t, "/api/v1/message/"+id+"/headers", &m.Headers)
		out = append(out, m)
	}
	return out
}

// WaitMessages waits until at least n messages were delivered and returns
// them all.
func (s *Server) WaitMessages(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs := s.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d mails, want %d", len(msgs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(s.api + path)
	if err != nil {
		t.Fatalf("mailpit API %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit API %s: status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("mailpit API %s: %v", path, err)
	}
}

// writeCert makes a self-signed certificate for 127.0.0.1 and localhost.
func writeCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "klaxon test SMTP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
