package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// apiRequests is how many API requests the hub has counted.
func apiRequests(t *testing.T, s *hubtest.Server) float64 {
	t.Helper()
	m := string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body)
	v, _ := metricValue(m, "switchboard_api_requests_total", map[string]string{"method": "GET", "code": "200"})
	return v
}

// TestRegisterRefusesTheHubsOwnAddresses: a service may not live at the hub's own listeners
// or at link-local and metadata addresses; the registration is refused naming the field, and
// the hub sends them nothing.
func TestRegisterRefusesTheHubsOwnAddresses(t *testing.T) {
	t.Parallel()
	natsAddr := hubtest.FreeAddr(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.NATSListen = natsAddr })
	api := strings.TrimPrefix(s.URL, "http://")
	_, apiPort, _ := net.SplitHostPort(api)
	// The health path is an API route, so a request that reached the hub would be counted.
	probeAPI := "x-exosite-health-path: /api/v1/openapi.json\n"
	tests := []struct {
		name   string
		body   map[string]any
		field  string
		reason string
	}{
		{"the API", map[string]any{"swagger": swagger(api, "")}, "swagger", "hub's own listeners"},
		{"the API by name", map[string]any{"swagger": swagger("localhost:"+apiPort, "")}, "swagger", "hub's own listeners"},
		{"the API, IPv4-mapped", map[string]any{"swagger": swagger("[::ffff:127.0.0.1]:"+apiPort, "")}, "swagger", "hub's own listeners"},
		{"the API's documents", map[string]any{"swagger_url": s.URL + "/api/v1/openapi.json"}, "swagger_url", "hub's own listeners"},
		{"the embedded NATS", map[string]any{"swagger": swagger(natsAddr, "")}, "swagger", "hub's own listeners"},
		{"the unspecified address", map[string]any{"swagger": swagger("0.0.0.0:"+apiPort, "")}, "swagger", "unspecified"},
		{"cloud metadata", map[string]any{"swagger": swagger("169.254.169.254", "")}, "swagger", "link-local"},
		{"cloud metadata's document", map[string]any{"swagger_url": "http://169.254.169.254/latest/meta-data/"}, "swagger_url", "link-local"},
		{"IPv6 link-local", map[string]any{"swagger": swagger("[fe80::1]:80", "")}, "swagger", "link-local"},
	}
	// The count is a witness: a GET of the probed route is counted.
	before := apiRequests(t, s)
	s.Do(t, "GET", "/api/v1/openapi.json", "", nil)
	if apiRequests(t, s) != before+1 {
		t.Fatal("a GET of /api/v1/openapi.json is not counted")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := apiRequests(t, s)
			tc.body["name"] = "svc"
			if doc, ok := tc.body["swagger"].(string); ok {
				tc.body["swagger"] = strings.Replace(doc, "x-exosite-health-path: /health\n", probeAPI, 1)
			}
			r := register(t, s, "", tc.body)
			m := r.Map(t)
			if msg, _ := m["error"].(string); r.Status != http.StatusUnprocessableEntity || m["field"] != tc.field || !strings.Contains(msg, tc.reason) {
				t.Fatalf("%d %s; want 422, field %s, saying %q", r.Status, r.Body, tc.field, tc.reason)
			}
			if after := apiRequests(t, s); after != before {
				t.Errorf("the hub sent %v requests to its own API", after-before)
			}
		})
	}
	if r := s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Fatalf("a refused service is in the catalog: %d %s", r.Status, r.Body)
	}
}

// TestRegisterRefusesTheMetricsListener: --metrics-addr is one of the hub's own listeners.
func TestRegisterRefusesTheMetricsListener(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.MetricsAddr = "127.0.0.1:0" })
	metrics := s.Hub.MetricsAddr()
	for _, body := range []map[string]any{
		{"name": "svc", "swagger": strings.Replace(swagger(metrics, ""), "/health", "/metrics", 1)},
		{"name": "svc", "swagger_url": "http://" + metrics + "/metrics"},
	} {
		r := register(t, s, "", body)
		if msg, _ := r.Map(t)["error"].(string); r.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, "hub's own listeners") {
			t.Errorf("registering at the metrics listener: %d %s; want 422 naming the hub's own listeners", r.Status, r.Body)
		}
	}
}

// TestRegisterRefusesTheLeafListener: --leaf-listen, where agents connect, is one of the hub's
// own listeners too.
func TestRegisterRefusesTheLeafListener(t *testing.T) {
	t.Parallel()
	leaf := hubtest.FreeAddr(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.LeafListen = leaf })
	r := register(t, s, "", map[string]any{"name": "svc", "swagger_url": "http://" + leaf + "/swagger.json"})
	if msg, _ := r.Map(t)["error"].(string); r.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, "hub's own listeners") {
		t.Errorf("registering at the leaf listener: %d %s; want 422 naming the hub's own listeners", r.Status, r.Body)
	}
}

// TestRegisterErrorsEchoNothing: a registration pointed at a service that is not HTTP (here
// one that greets like NATS) says what failed without repeating what the other side sent.
func TestRegisterErrorsEchoNothing(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "INFO {\"server_id\":\"SECRET-BANNER\",\"version\":\"2.10.0\"}\r\n") //nolint:errcheck // test
			c.Close()
		}
	}()
	banner := ln.Addr().String()
	for _, tc := range []struct {
		name, field, reason string
		body                map[string]any
	}{
		{"health check", "health", "health check: not an HTTP answer", map[string]any{"swagger": swagger(banner, "")}},
		{"swagger_url", "swagger_url", "swagger_url: not an HTTP answer", map[string]any{"swagger_url": "http://" + banner + "/doc.yaml"}},
		{"health check over TLS", "health", "health check: TLS handshake failed", map[string]any{"swagger": strings.Replace(swagger(banner, ""), "schemes: [http]", "schemes: [https]", 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["name"] = "svc"
			r := register(t, s, "", tc.body)
			m := r.Map(t)
			if msg, _ := m["error"].(string); r.Status != http.StatusUnprocessableEntity || m["field"] != tc.field || !strings.HasPrefix(msg, tc.reason) {
				t.Errorf("%d %s; want 422, field %s, %q", r.Status, r.Body, tc.field, tc.reason)
			}
			for _, leak := range []string{"SECRET-BANNER", "INFO", "server_id"} {
				if strings.Contains(string(r.Body), leak) {
					t.Errorf("the answer echoes the banner: %s", r.Body)
				}
			}
		})
	}
}

// TestServiceOutsideTheNetworksIsNotCalled: with --service-networks, a service registered
// before at an address now outside them is not called (the guard runs on every dial, not only
// at registration), and new registrations there are refused.
func TestServiceOutsideTheNetworksIsNotCalled(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/op" {
			calls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`) //nolint:errcheck // test
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	if r := register(t, s, "", map[string]any{"name": "svc", "swagger": swagger(host, "")}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/call", `local r = Svc.op({}); return r`)
	wantJSON(t, s.Do(t, "GET", "/apps/demo/call", "", nil), `{"ok":true}`)

	s.Restart(t, func(c *hub.Config) { c.ServiceNetworks = "10.0.0.0/8" })
	r := s.Do(t, "GET", "/apps/demo/call", "", nil)
	if !strings.Contains(string(r.Body), "not allowed") || strings.Contains(string(r.Body), host) {
		t.Errorf("call outside --service-networks: %d %s; want a refusal that does not name the address", r.Status, r.Body)
	}
	t.Logf("the script's call after the restart: %d %s", r.Status, r.Body)
	if n := calls.Load(); n != 1 {
		t.Errorf("the service was called %d times; want once, before the restart", n)
	}
	r = register(t, s, s.Hub.ServiceToken("svc"), map[string]any{"name": "svc", "swagger": swagger(host, "")})
	if msg, _ := r.Map(t)["error"].(string); r.Status != http.StatusUnprocessableEntity || r.Map(t)["field"] != "swagger" || !strings.Contains(msg, "--service-networks") {
		t.Errorf("registration outside --service-networks: %d %s", r.Status, r.Body)
	}
}

// TestStoredRecordAtTheHubIsNotCalled: a service record naming the hub's own address, written
// to the catalog without a registration (an older version's record, or one put on a shared
// bus), is still never called: a script cannot read the hub's /metrics through it.
func TestStoredRecordAtTheHubIsNotCalled(t *testing.T) {
	t.Parallel()
	natsAddr := hubtest.FreeAddr(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.NATSListen = natsAddr })
	token, err := os.ReadFile(filepath.Join(s.DataDir, "nats-token"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.Token(strings.TrimSpace(string(token))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, "sb_services")
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`swagger: "2.0"
info: {title: t, version: "1"}
host: "%s"
paths:
  /metrics:
    get: {operationId: metrics, responses: {"200": {description: ok}}}
`, strings.TrimPrefix(s.URL, "http://"))
	text, _ := json.Marshal(doc)
	rec, _ := json.Marshal(map[string]any{"name": "evil", "document": json.RawMessage(text), "version": 1, "token": "sbt_planted"})
	if _, err := kv.Put(ctx, "evil", rec); err != nil {
		t.Fatal(err)
	}
	hubtest.Eventually(t, "the catalog to load the record", func() bool {
		return s.Do(t, "GET", "/api/v1/services/evil", s.AdminToken, nil).Status == http.StatusOK
	})
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "evil"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/read", `return Evil.metrics({})`)
	r := s.Do(t, "GET", "/apps/demo/read", "", nil)
	if strings.Contains(string(r.Body), "switchboard_") || strings.Contains(string(r.Body), "go_goroutines") || !strings.Contains(string(r.Body), "not allowed") {
		t.Fatalf("a script read through a service at the hub's address: %d %.300s", r.Status, r.Body)
	}
}
