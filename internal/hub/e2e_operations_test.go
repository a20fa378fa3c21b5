package hub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

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
