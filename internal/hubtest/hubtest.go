// Package hubtest starts a real Switchboard (embedded NATS, real HTTP on a free port) for
// end-to-end tests, and gives them a small JSON client.
package hubtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// Server is a running hub.
type Server struct {
	URL        string // http://127.0.0.1:port
	AdminToken string
	DataDir    string
	Hub        *hub.Hub
	Logs       *LogBuffer // what the hub logged (JSON lines), for tests that look for an error id

	// Client sends Do's and Send's requests (nil: http.DefaultClient); it trusts the hub's
	// certificate when it serves HTTPS (--tls-cert).
	Client *http.Client

	cfg    hub.Config
	closed bool
	proc   *process // the child process the hub runs in (StartProcess); nil when in-process
}

// Start runs a hub on a free port with its own data directory; it is closed when the test ends.
// Options change the config before start.
func Start(t testing.TB, opts ...func(*hub.Config)) *Server {
	t.Helper()
	cfg := testConfig(t, "127.0.0.1:0")
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cfg: cfg, DataDir: cfg.DataDir, AdminToken: cfg.AdminToken}
	s.start(t)
	t.Cleanup(func() { s.Close(t) })
	return s
}

// testConfig is a test hub's config before its options.
func testConfig(t testing.TB, addr string) hub.Config {
	return hub.Config{
		Addr:       addr,
		DataDir:    t.TempDir(),
		AdminToken: "test-admin-token-0123456789",
		LogLevel:   "debug",
		// Hubs of other tests on an outside NATS must not share the Kaa executor's queue
		// group: one would take another's automation invocations.
		KaaInstanceName: "test-" + rand.Text()[:12],
	}
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.Logs = &LogBuffer{}
	log := slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if os.Getenv("SWITCHBOARD_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	h, err := hub.New(s.cfg, log)
	if err != nil {
		t.Fatalf("hub config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("start hub: %v", err)
	}
	s.Hub, s.closed = h, false
	s.URL, s.Client = "http://"+h.Addr(), nil
	if s.cfg.TLSCert != "" {
		s.URL, s.Client = "https://"+h.Addr(), trusting(t, s.cfg.TLSCert)
	}
	s.AdminToken = h.AdminToken()
	// Later starts (Restart) reuse the port, so clients keep their URL.
	s.cfg.Addr = h.Addr()
}

// Close shuts the hub down gracefully; calling it twice is fine.
func (s *Server) Close(t testing.TB) {
	t.Helper()
	if s.closed {
		return
	}
	s.closed = true
	if s.proc != nil {
		s.proc.stop(t)
		s.proc = nil
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Hub.Close(ctx); err != nil {
		t.Errorf("close hub: %v", err)
	}
}

// Restart closes the hub (unless closed or killed already) and starts a new one, in this
// process, on the same data directory and port; opts change its config (and that of later
// restarts).
func (s *Server) Restart(t testing.TB, opts ...func(*hub.Config)) {
	t.Helper()
	s.Close(t)
	for _, o := range opts {
		o(&s.cfg)
	}
	s.start(t)
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON (%v): %s", r.Status, err, r.Body)
	}
}

// Map is the body as a JSON object.
func (r Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with a bearer token (none when empty). body may be nil, a string or
// []byte (sent as is), or anything else (sent as JSON).
func (s *Server) Do(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.Send(t, req)
}

// Send sends a prepared request and reads the answer.
func (s *Server) Send(t testing.TB, req *http.Request) Response {
	t.Helper()
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// CreateSolution makes a solution and returns its token.
func (s *Server) CreateSolution(t testing.TB, id string) string {
	t.Helper()
	r := s.Do(t, "POST", "/api/v1/solutions", s.AdminToken, map[string]any{"id": id})
	if r.Status != http.StatusCreated {
		t.Fatalf("create solution %s: %d %s", id, r.Status, r.Body)
	}
	tok, _ := r.Map(t)["token"].(string)
	return tok
}

// Deploy creates or replaces an endpoint, failing the test unless it is accepted.
func (s *Server) Deploy(t testing.TB, solution, method, path, script string) {
	t.Helper()
	r := s.Do(t, "POST", "/api/v1/solutions/"+solution+"/endpoints", s.AdminToken,
		map[string]any{"method": method, "path": path, "script": script})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("deploy %s %s on %s: %d %s", method, path, solution, r.Status, r.Body)
	}
}

// LogBuffer collects what the hub logs; safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Eventually waits up to 10s for cond (testkit.Eventually).
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, what, cond)
}

// FreeAddr is a loopback address nothing listens on at the moment (testkit.FreeAddr).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return testkit.FreeAddr(t)
}

// Config is the hub's config as it was started (before the hub's defaults).
func (s *Server) Config() hub.Config { return s.cfg }

// trusting is a client that trusts the certificates of a PEM file.
func trusting(t testing.TB, certFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", certFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
