package history

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/internal/metrics"
)

// counters are the collectors of one instance, as internal/metrics makes them.
func counters(t *testing.T) *metrics.Metrics {
	t.Helper()
	return metrics.New()
}

func gather(t *testing.T, g prometheus.Gatherer) func(*deltas, []Lag) map[string]*Sample {
	t.Helper()
	return func(d *deltas, lags []Lag) map[string]*Sample {
		fams, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return d.next(fams, lags, "i1", time.Unix(100, 0))
	}
}

func TestDeltas(t *testing.T) {
	type step struct {
		do   func(m *metrics.Metrics)
		lags []Lag
		want map[string]Sample // by solution; Time and Instance are filled in
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"nothing counted, nothing sent", []step{{do: func(*metrics.Metrics) {}, want: map[string]Sample{}}}},
		{"requests and 5xx, per solution", []step{{
			do: func(m *metrics.Metrics) {
				m.AppRequests.WithLabelValues("a", "200").Add(3)
				m.AppRequests.WithLabelValues("a", "503").Add(1)
				m.AppRequests.WithLabelValues("a", "404").Add(2)
				m.AppRequests.WithLabelValues("b", "500").Add(1)
			},
			want: map[string]Sample{"a": {Requests: 6, Errors: 1}, "b": {Requests: 1, Errors: 1}},
		}}},
		{"deltas, not totals", []step{
			{do: func(m *metrics.Metrics) { m.AppRequests.WithLabelValues("a", "200").Add(5) }, want: map[string]Sample{"a": {Requests: 5}}},
			{do: func(m *metrics.Metrics) { m.AppRequests.WithLabelValues("a", "200").Add(2) }, want: map[string]Sample{"a": {Requests: 2}}},
			{do: func(*metrics.Metrics) {}, want: map[string]Sample{}},
		}},
		{"a reset counts all of the new value", []step{
			{do: func(m *metrics.Metrics) { m.HandlerRuns.WithLabelValues("a", "h").Add(10) }, want: map[string]Sample{"a": {Handlers: map[string]HandlerCounts{"h": {Runs: 10}}}}},
			{do: func(m *metrics.Metrics) {
				m.ForgetHandler("a", "h")
				m.HandlerRuns.WithLabelValues("a", "h").Add(4)
			}, want: map[string]Sample{"a": {Handlers: map[string]HandlerCounts{"h": {Runs: 4}}}}},
		}},
		{"a series gone and back starts from nothing", []step{
			{do: func(m *metrics.Metrics) { m.HandlerRuns.WithLabelValues("a", "h").Add(3) }, want: map[string]Sample{"a": {Handlers: map[string]HandlerCounts{"h": {Runs: 3}}}}},
			{do: func(m *metrics.Metrics) { m.ForgetSolution("a") }, want: map[string]Sample{}},
			{do: func(m *metrics.Metrics) { m.HandlerRuns.WithLabelValues("a", "h").Add(7) }, want: map[string]Sample{"a": {Handlers: map[string]HandlerCounts{"h": {Runs: 7}}}}},
		}},
		{"handler counts", []step{{
			do: func(m *metrics.Metrics) {
				m.HandlerRuns.WithLabelValues("a", "h").Add(4)
				m.HandlerFailures.WithLabelValues("a", "h").Add(3)
				m.HandlerRetries.WithLabelValues("a", "h").Add(2)
				m.HandlerDeadLetters.WithLabelValues("a", "h").Add(1)
				m.HandlerRuns.WithLabelValues("a", "g").Add(1)
			},
			want: map[string]Sample{"a": {Handlers: map[string]HandlerCounts{"h": {Runs: 4, Failures: 3, Retries: 2, DeadLetters: 1}, "g": {Runs: 1}}}},
		}}},
		{"unknown solutions make no samples", []step{{
			do:   func(m *metrics.Metrics) { m.AppRequests.WithLabelValues("", "404").Inc() },
			want: map[string]Sample{},
		}}},
		{"lags are readings", []step{
			{do: func(*metrics.Metrics) {}, lags: []Lag{{"a", "c1", 5}, {"b", "c2", 0}},
				want: map[string]Sample{"a": {Lags: map[string]uint64{"c1": 5}}, "b": {Lags: map[string]uint64{"c2": 0}}}},
			{do: func(*metrics.Metrics) {}, lags: []Lag{{"a", "c1", 5}}, want: map[string]Sample{"a": {Lags: map[string]uint64{"c1": 5}}}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := counters(t)
			next := gather(t, m.History())
			var d deltas
			for i, st := range tc.steps {
				st.do(m)
				got := next(&d, st.lags)
				for sol, s := range got {
					if s.Time != time.Unix(100, 0) || s.Instance != "i1" {
						t.Fatalf("step %d: %s: time %v instance %q", i, sol, s.Time, s.Instance)
					}
					s.Latency = nil // TestDeltasLatency
				}
				want := map[string]*Sample{}
				for sol, s := range st.want {
					s.Time, s.Instance = time.Unix(100, 0), "i1"
					want[sol] = &s
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d:\n got %s\nwant %s", i, dump(got), dump(want))
				}
			}
		})
	}
}

func dump(m map[string]*Sample) string {
	out := "{"
	for k, v := range m {
		out += fmt.Sprintf("%s:%+v ", k, *v)
	}
	return out + "}"
}

// TestDeltasLatency: the histogram's buckets become per-bucket deltas, the observations over
// the highest bound in the last count.
func TestDeltasLatency(t *testing.T) {
	m := counters(t)
	next := gather(t, m.History())
	var d deltas
	m.AppLatency.WithLabelValues("a").Observe(0.0002) // ≤ .00025
	m.AppLatency.WithLabelValues("a").Observe(0.003)  // ≤ .005
	m.AppLatency.WithLabelValues("a").Observe(60)     // over 10
	m.AppRequests.WithLabelValues("a", "200").Add(3)
	first := next(&d, nil)["a"].Latency
	if first == nil || len(first.Counts) != len(first.Bounds)+1 {
		t.Fatalf("latency %+v", first)
	}
	count := func(h *Histogram, le float64) uint64 {
		for i, b := range h.Bounds {
			if b == le {
				return h.Counts[i]
			}
		}
		t.Fatalf("no bound %g in %v", le, h.Bounds)
		return 0
	}
	if count(first, .00025) != 1 || count(first, .005) != 1 || first.Counts[len(first.Counts)-1] != 1 || count(first, .001) != 0 {
		t.Fatalf("first histogram %+v", first)
	}
	m.AppLatency.WithLabelValues("a").Observe(0.003)
	m.AppRequests.WithLabelValues("a", "200").Inc()
	second := next(&d, nil)["a"].Latency
	if count(second, .005) != 1 || count(second, .00025) != 0 || second.Counts[len(second.Counts)-1] != 0 {
		t.Fatalf("second histogram %+v", second)
	}
}

// TestDeltasBounded: a solution with more handlers or connectors than MaxSeries sends the
// busiest, and says some were left out.
func TestDeltasBounded(t *testing.T) {
	m := counters(t)
	next := gather(t, m.History())
	var lags []Lag
	for i := range MaxSeries + 10 {
		m.HandlerRuns.WithLabelValues("a", fmt.Sprintf("h%03d", i)).Add(float64(i + 1))
		lags = append(lags, Lag{"a", fmt.Sprintf("c%03d", i), uint64(i)})
	}
	var d deltas
	s := next(&d, lags)["a"]
	if len(s.Handlers) != MaxSeries || len(s.Lags) != MaxSeries || !s.Truncated {
		t.Fatalf("%d handlers, %d lags, truncated %v", len(s.Handlers), len(s.Lags), s.Truncated)
	}
	if _, ok := s.Handlers["h000"]; ok {
		t.Fatal("the quietest handler was kept")
	}
	if _, ok := s.Handlers[fmt.Sprintf("h%03d", MaxSeries+9)]; !ok {
		t.Fatal("the busiest handler was left out")
	}
}
