package hub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestReadyzJetStream: /readyz answers 503 with a reason while the NATS the instance uses
// has no JetStream answering (as when a cluster lost its quorum), though the connection
// stays up, and 200 again once JetStream is back.
func TestReadyzJetStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	s := hubtest.Start(t, func(c *hub.Config) { c.NATSURL = ns.ClientURL() })
	readyz := func() (int, map[string]string) {
		r := s.Do(t, "GET", "/readyz", "", nil)
		var body map[string]string
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("/readyz body %q: %v", r.Body, err)
		}
		return r.Status, body
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz of a fresh instance: %d %v", code, body)
	}

	if err := ns.DisableJetStream(); err != nil {
		t.Fatalf("disable JetStream: %v", err)
	}
	hubtest.Eventually(t, "/readyz to say JetStream is not answering", func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && body["status"] == "not ready" && strings.Contains(body["reason"], "JetStream")
	})
	if r := s.Do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz without JetStream: %d, want 200 (alive, only not ready)", r.Status)
	}

	if err := ns.EnableJetStream(&server.JetStreamConfig{StoreDir: dir}); err != nil {
		t.Fatalf("enable JetStream: %v", err)
	}
	hubtest.Eventually(t, "/readyz to be ready again", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
}

// TestMetricsInstance: every series at /metrics names the instance that reported it.
func TestMetricsInstance(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.InstanceName = "hub-7" })
	s.CreateSolution(t, "shop")
	s.Deploy(t, "shop", "GET", "/hi", `return "hi"`)
	if r := s.Do(t, "GET", "/apps/shop/hi", "", nil); r.Status != http.StatusOK {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	text := string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body)
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"go_goroutines", map[string]string{"instance": "hub-7"}},
		{"switchboard_http_requests_total", map[string]string{"instance": "hub-7", "solution": "shop", "code": "200"}},
	} {
		if _, ok := metricValue(text, tc.name, tc.labels); !ok {
			t.Errorf("no %s series with %v in:\n%s", tc.name, tc.labels, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.Contains(line, `instance="hub-7"`) {
			t.Fatalf("a series without the instance: %s", line)
		}
	}
}
