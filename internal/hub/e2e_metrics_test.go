package hub_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/history"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// fastMetrics samples every 200ms, so a step of 1s has whole samples in it.
func fastMetrics(c *hub.Config) { c.MetricsInterval = 200 * time.Millisecond }

// metricsAnswer is GET …/metrics as a client reads it: null points are nil.
type metricsAnswer struct {
	StepSeconds float64     `json:"step_seconds"`
	Times       []time.Time `json:"times"`
	Instances   []string    `json:"instances"`
	Endpoints   struct {
		RequestsPerSecond []*float64 `json:"requests_per_second"`
		ErrorRate         []*float64 `json:"error_rate"`
		P50               []*float64 `json:"latency_p50_seconds"`
		P99               []*float64 `json:"latency_p99_seconds"`
	} `json:"endpoints"`
	Handlers []struct {
		Handler          string     `json:"handler"`
		HandledPerSecond []*float64 `json:"handled_per_second"`
		Failures         []*float64 `json:"failures"`
		Retries          []*float64 `json:"retries"`
		DeadLetters      []*float64 `json:"dead_letters"`
	} `json:"handlers"`
	Connectors []struct {
		Connector string     `json:"connector"`
		Lag       []*float64 `json:"lag"`
	} `json:"connectors"`
}

func readMetrics(t *testing.T, s *hubtest.Server, sol, token, query string) metricsAnswer {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/"+sol+"/metrics"+query, token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics of %s%s: %d %s", sol, query, r.Status, r.Body)
	}
	var a metricsAnswer
	r.JSON(t, &a)
	if len(a.Endpoints.RequestsPerSecond) != len(a.Times) || len(a.Endpoints.ErrorRate) != len(a.Times) {
		t.Fatalf("series of %d points for %d times", len(a.Endpoints.RequestsPerSecond), len(a.Times))
	}
	return a
}

// sum adds a series' points, each times per (its step in seconds for a rate, 1 for a count).
func sum(points []*float64, per float64) float64 {
	var n float64
	for _, p := range points {
		if p != nil {
			n += *p * per
		}
	}
	return n
}

// totals are what an answer counted over its window.
type totals struct {
	requests, errors, runs, failures, retries, dead float64
	p99Seen                                         bool
}

func totalsOf(a metricsAnswer, handler string) totals {
	var tt totals
	tt.requests = sum(a.Endpoints.RequestsPerSecond, a.StepSeconds)
	for i, rate := range a.Endpoints.ErrorRate {
		if rate != nil && a.Endpoints.RequestsPerSecond[i] != nil {
			tt.errors += *rate * *a.Endpoints.RequestsPerSecond[i] * a.StepSeconds
		}
		if a.Endpoints.P99[i] != nil {
			tt.p99Seen = true
		}
	}
	for _, h := range a.Handlers {
		if h.Handler == handler {
			tt.runs, tt.failures = sum(h.HandledPerSecond, a.StepSeconds), sum(h.Failures, 1)
			tt.retries, tt.dead = sum(h.Retries, 1), sum(h.DeadLetters, 1)
		}
	}
	return tt
}

// TestMetricsHistory: requests to an endpoint (some failing) and events into a handler that
// always fails show up in the solution's series: requests per second, the 5xx share and
// latency percentiles, the handler's runs, retries and dead letters. Another solution's token
// reads none of it, and its own solution's series are empty.
func TestMetricsHistory(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, fastMetrics, fastRetries)
	token := createSolution(t, s, "shop", nil)
	otherToken := createSolution(t, s, "other", nil)
	s.Deploy(t, "shop", "GET", "/ok", `return {fine = true}`)
	s.Deploy(t, "shop", "GET", "/boom", `error("boom")`)
	if r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", token, map[string]any{"name": "broken", "topics": []string{"orders.created"}, "script": `error("never")`}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	for range 6 {
		wantStatus(t, s.Do(t, "GET", "/apps/shop/ok", "", nil), http.StatusOK)
	}
	for range 2 {
		if r := s.Do(t, "GET", "/apps/shop/boom", "", nil); r.Status != http.StatusInternalServerError {
			t.Fatalf("boom: %d %s", r.Status, r.Body)
		}
	}
	for range 3 {
		wantStatus(t, s.Do(t, "POST", "/api/v1/solutions/shop/events", token, map[string]any{"topic": "orders.created", "data": map[string]any{}}), http.StatusAccepted)
	}

	// Each event runs twice (fastRetries), fails twice, is retried once and parked.
	want := totals{requests: 8, errors: 2, runs: 6, failures: 6, retries: 3, dead: 3, p99Seen: true}
	var got totals
	hubtest.Eventually(t, "the requests and the events in the series", func() bool {
		got = totalsOf(readMetrics(t, s, "shop", token, "?window=1m&step=1s"), "broken")
		return got == want
	})
	// Only whole steps are answered: the last 2s step may be whole a second later than the 1s one.
	var a metricsAnswer
	hubtest.Eventually(t, "the same in 2s steps, for the admin", func() bool {
		a = readMetrics(t, s, "shop", s.AdminToken, "?window=2m&step=2s")
		return totalsOf(a, "broken") == want
	})
	if len(a.Times) != 60 || a.StepSeconds != 2 || len(a.Instances) != 1 {
		t.Fatalf("the admin's 2m in 2s steps: %d points of %gs, instances %v, totals %+v", len(a.Times), a.StepSeconds, a.Instances, totalsOf(a, "broken"))
	}
	if a := readMetrics(t, s, "shop", token, ""); len(a.Times) != 360 || a.StepSeconds != 10 {
		t.Fatalf("default: %d points of %gs", len(a.Times), a.StepSeconds)
	}

	// Another solution's token reaches none of it; its own solution has nothing.
	wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/shop/metrics", otherToken, nil), http.StatusForbidden, "solution")
	if o := totalsOf(readMetrics(t, s, "other", otherToken, "?window=1m&step=1s"), "broken"); o != (totals{}) {
		t.Fatalf("other's series: %+v", o)
	}
	wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/nope/metrics", s.AdminToken, nil), http.StatusNotFound, "solution")
	wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/shop/metrics", "", nil), http.StatusUnauthorized, "")

	// A deleted solution's series go with it; one made anew under its id starts empty.
	if r := s.Do(t, "DELETE", "/api/v1/solutions/shop", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	token = createSolution(t, s, "shop", nil)
	if tt := totalsOf(readMetrics(t, s, "shop", token, "?window=1m&step=1s"), "broken"); tt != (totals{}) {
		t.Fatalf("a solution made anew has its predecessor's series: %+v", tt)
	}
}

// TestMetricsBounds: window and step out of bounds get a 400 naming the field; the largest
// answer (an hour in the finest step it allows, with as many handlers as one answer keeps)
// is bounded in points and bytes.
func TestMetricsBounds(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, fastMetrics)
	token := createSolution(t, s, "shop", nil)
	for _, tc := range []struct{ query, field string }{
		{"?window=2h", "window"},
		{"?window=0s", "window"},
		{"?window=soon", "window"},
		{"?step=500ms", "step"}, // finer than a second
		{"?step=9s", "step"},    // an hour in more than 360 points
		{"?window=10m&step=20m", "step"},
		{"?step=often", "step"},
		{"?colour=red", "colour"},
	} {
		wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/shop/metrics"+tc.query, token, nil), http.StatusBadRequest, tc.field)
	}

	// Handlers beyond what one answer keeps, each with runs: the answer keeps the busiest.
	for i := range history.MaxSeries + 8 {
		name := "h" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		if r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", token, map[string]any{"name": name, "topics": []string{"load.tick"}, "script": `return true`}); r.Status != http.StatusCreated {
			t.Fatalf("deploy handler %s: %d %s", name, r.Status, r.Body)
		}
	}
	r := s.Do(t, "POST", "/api/v1/solutions/shop/events?mode=sync", token, map[string]any{"topic": "load.tick", "data": map[string]any{}})
	wantStatus(t, r, http.StatusOK)
	var a metricsAnswer
	// A 10s step is answered once whole: longer than Eventually waits.
	await(t, "the handlers in the series", 30*time.Second, func() bool {
		r = s.Do(t, "GET", "/api/v1/solutions/shop/metrics?window=1h&step=10s", token, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		r.JSON(t, &a)
		return len(a.Handlers) > 0
	})
	if len(a.Times) != history.MaxPoints || len(a.Handlers) != history.MaxSeries || !r.Map(t)["truncated"].(bool) {
		t.Fatalf("%d points, %d handlers, truncated %v", len(a.Times), len(a.Handlers), r.Map(t)["truncated"])
	}
	for _, h := range a.Handlers {
		if len(h.HandledPerSecond) != history.MaxPoints || len(h.DeadLetters) != history.MaxPoints {
			t.Fatalf("handler %s: %d points", h.Handler, len(h.HandledPerSecond))
		}
	}
	// Every series of the largest answer: 5 of the endpoints, 4 per handler, one per connector
	// (MaxSeries each), at most ~9 bytes a point, and the times.
	const maxBytes = (5+4*history.MaxSeries+history.MaxSeries)*history.MaxPoints*9 + history.MaxPoints*40 + 64<<10
	if len(r.Body) > maxBytes {
		t.Fatalf("the largest answer is %d bytes, over %d", len(r.Body), maxBytes)
	}
	t.Logf("an hour in 10s steps with %d handlers: %d bytes", len(a.Handlers), len(r.Body))
}

// TestMetricsAcrossInstances runs two instances on the outside NATS named by
// SWITCHBOARD_TEST_NATS_URL: requests to each count in the series, and both instances
// answer the same series.
func TestMetricsAcrossInstances(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream); .ci/run sets it")
	}
	t.Parallel()
	outside := func(c *hub.Config) { c.NATSURL = url }
	a := hubtest.Start(t, outside, fastMetrics, func(c *hub.Config) { c.InstanceName = "metrics-a" })
	b := hubtest.Start(t, outside, fastMetrics, func(c *hub.Config) { c.InstanceName = "metrics-b" })
	sol := randomName("metrics-")
	a.CreateSolution(t, sol)
	t.Cleanup(func() {
		b.Do(t, "DELETE", "/api/v1/solutions/"+sol, b.AdminToken, nil)
		js := outsideJetStream(t, url)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if st, err := js.Stream(ctx, history.Stream); err == nil {
			st.Purge(ctx, jetstream.WithPurgeSubject("sb.metrics."+sol)) //nolint:errcheck // best effort
		}
	})
	a.Deploy(t, sol, "GET", "/ok", `return {ok = true}`)
	hubtest.Eventually(t, "the endpoint on both instances", func() bool {
		return b.Do(t, "GET", "/apps/"+sol+"/ok", "", nil).Status == http.StatusOK
	})
	for range 4 {
		wantStatus(t, a.Do(t, "GET", "/apps/"+sol+"/ok", "", nil), http.StatusOK)
	}
	for range 5 {
		wantStatus(t, b.Do(t, "GET", "/apps/"+sol+"/ok", "", nil), http.StatusOK)
	}
	// b's first request made the route known: 6 on b, 4 on a.
	hubtest.Eventually(t, "both instances' requests, read from either", func() bool {
		ra := totalsOf(readMetrics(t, a, sol, a.AdminToken, "?window=1m&step=1s"), "")
		rb := totalsOf(readMetrics(t, b, sol, b.AdminToken, "?window=1m&step=1s"), "")
		return ra.requests >= 10 && ra == rb
	})
	got := readMetrics(t, a, sol, a.AdminToken, "?window=1m&step=1s")
	if len(got.Instances) != 2 {
		t.Fatalf("instances %v, want both", got.Instances)
	}
}

// TestMetricsConnectorLag: a Redis stream connector's lag, read by the instance running it,
// is in the solution's series.
func TestMetricsConnectorLag(t *testing.T) {
	t.Parallel()
	u := brokerURL(t, "SWITCHBOARD_TEST_REDIS_URL")
	rdb, stream := redisClient(t, u), randomName("sbtest-lag-")
	t.Cleanup(func() { rdb.Del(context.Background(), stream) })
	s := hubtest.Start(t, fastMetrics)
	token := createSolution(t, s, "feeds", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/feeds/handlers", token, map[string]any{"name": "take", "topics": []string{"orders"}, "script": `return true`}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/feeds/connectors", token, map[string]any{"name": "orders", "type": "redis", "topic": "orders",
		"config": map[string]any{"url": u, "stream": stream, "group": "sb", "start": "0", "field": "body"}}); r.Status != http.StatusCreated {
		t.Fatalf("create connector: %d %s", r.Status, r.Body)
	}
	await(t, "the connector's lag in the series", 20*time.Second, func() bool {
		for _, c := range readMetrics(t, s, "feeds", token, "?window=1m&step=1s").Connectors {
			if c.Connector != "orders" {
				t.Fatalf("connector %q in the series", c.Connector)
			}
			for _, p := range c.Lag {
				if p != nil {
					return true
				}
			}
		}
		return false
	})
}
