package cli

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/apiclient"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func pts(vs ...float64) []*float64 {
	out := make([]*float64, len(vs))
	for i, v := range vs {
		if v >= 0 {
			out[i] = &vs[i]
		}
	}
	return out
}

func TestFormatMetrics(t *testing.T) {
	const none = -1
	at := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	m := apiclient.Metrics{
		Solution: "demo", Start: at, End: at.Add(30 * time.Second), StepSeconds: 10, Instances: []string{"a", "b"},
		Endpoints: apiclient.EndpointMetrics{
			RequestsPerSecond: pts(1.5, 4, 0.5), ErrorRate: pts(0, 0.25, none),
			P50: pts(0.0012, 0.003, none), P95: pts(none, none, none), P99: pts(2.5, 0.1, none),
		},
		Handlers:   []apiclient.HandlerMetrics{{Handler: "h", HandledPerSecond: pts(0, 0.2, 0), Failures: pts(0, 2, 0), Retries: pts(0, 1, 0), DeadLetters: pts(0, 1, 0)}},
		Connectors: []apiclient.ConnectorMetric{{Connector: "feed", Lag: pts(none, 12, 7)}},
		Truncated:  true,
	}
	want := `demo: 2026-01-02T03:00:00Z to 2026-01-02T03:00:30Z in steps of 10s, from 2 instance(s): a, b

SERIES                  LATEST  PEAK  TOTAL
requests/s              0.5     4     60
error rate (5xx)        25%     25%   -
latency p50             3ms     3ms   -
latency p95             -       -     -
latency p99             100ms   2.5s  -
handler h handled/s     0       0.2   2
handler h failures      0       2     2
handler h retries       0       1     1
handler h dead letters  0       1     1
connector feed lag      7       12    -

some handlers or connectors were left out: only the busiest are kept
`
	if got := formatMetrics(m); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestMetricsUsage(t *testing.T) {
	_, url := newFakeAPI(t)
	env := clientEnv(t, url)
	runCLI(t, env, "", "metrics").check(t, ExitUsage, nil, []string{"no solution given"})
	runCLI(t, env, "", "metrics", "-s", "demo", "--window", "an hour").check(t, ExitUsage, nil, []string{`--window "an hour"`})
	runCLI(t, env, "", "metrics", "-s", "demo", "--step", "-10s").check(t, ExitUsage, nil, []string{`--step "-10s"`})
}

// TestMetricsAgainstServer: requests to a solution's endpoint show in metrics, as a table and
// as JSON; the server's refusal of a step names it; another solution's token is refused.
func TestMetricsAgainstServer(t *testing.T) {
	s := hubtest.Start(t, func(c *hub.Config) { c.MetricsInterval = 200 * time.Millisecond })
	token := s.CreateSolution(t, "demo")
	s.Deploy(t, "demo", "GET", "/hello", `return {hello = "world"}`)
	for range 3 {
		if r := s.Do(t, "GET", "/apps/demo/hello", "", nil); r.Status != http.StatusOK {
			t.Fatalf("hello: %d %s", r.Status, r.Body)
		}
	}
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir()}
	var m apiclient.Metrics
	hubtest.Eventually(t, "the requests in -o json", func() bool {
		r := runCLI(t, env, "", "metrics", "-s", "demo", "--window", "1m", "--step", "1s", "-o", "json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &m) != nil {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		var n float64
		for _, p := range m.Endpoints.RequestsPerSecond {
			n += *p * m.StepSeconds
		}
		return n == 3
	})
	if len(m.Times) != 60 || m.Solution != "demo" {
		t.Fatalf("%d points of %s", len(m.Times), m.Solution)
	}
	runCLI(t, env, "", "metrics", "-s", "demo", "--window", "1m", "--step", "1s").
		check(t, 0, []string{"demo: ", "in steps of 1s, from 1 instance(s)", "requests/s", "  3\n"}, nil)
	runCLI(t, env, "", "metrics", "-s", "demo", "--step", "1s").check(t, ExitFailure, nil, []string{"step"})
	other := s.CreateSolution(t, "other")
	runCLI(t, map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": other, "SWITCHBOARD_DATA": t.TempDir()}, "", "metrics", "-s", "demo").
		check(t, ExitFailure, nil, []string{"HTTP 403"})
}
