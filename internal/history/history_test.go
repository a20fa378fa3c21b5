package history

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

func openHistory(t *testing.T, interval time.Duration) *History {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h, err := Open(context.Background(), b, Options{Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSamplersOfTwoInstances: two instances' samplers publish what their own collectors
// counted; a read sums both, for the solution asked about only; a dropped solution reads
// empty.
func TestSamplersOfTwoInstances(t *testing.T) {
	ctx := context.Background()
	h := openHistory(t, 100*time.Millisecond)
	m1, m2 := metrics.New(), metrics.New()
	lag := func(n uint64) func() []Lag { return func() []Lag { return []Lag{{"a", "feed", n}} } }
	s1 := h.StartSampler(SamplerOptions{Gatherer: m1.History(), Instance: "one", Lags: lag(4)})
	s2 := h.StartSampler(SamplerOptions{Gatherer: m2.History(), Instance: "two", Lags: lag(9),
		Exists: func(sol string) bool { return sol != "gone" }})
	m1.AppRequests.WithLabelValues("a", "200").Add(6)
	m2.AppRequests.WithLabelValues("a", "500").Add(2)
	m2.AppRequests.WithLabelValues("b", "200").Add(100)
	m2.AppRequests.WithLabelValues("gone", "200").Add(100)
	m1.HandlerRuns.WithLabelValues("a", "h").Add(3)
	m2.HandlerDeadLetters.WithLabelValues("a", "h").Add(1)
	s1.Close()
	s2.Close() // each publishes what it counted since its last sample

	q := Query{Window: time.Minute, Step: time.Second, End: time.Now().Add(2 * time.Second)}
	a, err := h.Read(ctx, "a", q)
	if err != nil {
		t.Fatal(err)
	}
	var req, errs, runs, dead, lagPeak float64
	for i := range a.Times {
		req += a.Endpoints.RequestsPerSecond[i] * a.StepSeconds
		if a.Endpoints.ErrorRate[i] > 0 {
			errs += a.Endpoints.ErrorRate[i] * a.Endpoints.RequestsPerSecond[i] * a.StepSeconds
		}
	}
	for _, hs := range a.Handlers {
		for i := range a.Times {
			runs += hs.HandledPerSecond[i] * a.StepSeconds
			dead += hs.DeadLetters[i]
		}
	}
	for _, c := range a.Connectors {
		for _, v := range c.Lag {
			if v > lagPeak { // false for NaN
				lagPeak = v
			}
		}
	}
	if req != 8 || errs != 2 || runs != 3 || dead != 1 || lagPeak != 9 || len(a.Instances) != 2 {
		t.Fatalf("requests %g errors %g runs %g dead %g lag %g instances %v", req, errs, runs, dead, lagPeak, a.Instances)
	}
	if g, err := h.Read(ctx, "gone", q); err != nil || len(g.Instances) != 0 {
		t.Fatalf("a deleted solution's samples: %+v %v", g.Instances, err)
	}
	if err := h.Drop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if a, err := h.Read(ctx, "a", q); err != nil || len(a.Instances) != 0 || len(a.Handlers) != 0 {
		t.Fatalf("after drop: %+v %v", a, err)
	}
	if b, err := h.Read(ctx, "b", q); err != nil || b.Endpoints.RequestsPerSecond[len(b.Times)-1]+b.Endpoints.RequestsPerSecond[len(b.Times)-2]+b.Endpoints.RequestsPerSecond[len(b.Times)-3] != 100 {
		t.Fatalf("b: %+v %v", b.Endpoints.RequestsPerSecond, err)
	}
}

// TestSamplerTicks: a running sampler publishes every interval, without being closed.
func TestSamplerTicks(t *testing.T) {
	h := openHistory(t, 100*time.Millisecond)
	m := metrics.New()
	s := h.StartSampler(SamplerOptions{Gatherer: m.History(), Instance: "one"})
	defer s.Close()
	m.HandlerRuns.WithLabelValues("a", "h").Add(5)
	testkit.Eventually(t, "the runs in the history", func() bool {
		a, err := h.Read(context.Background(), "a", Query{Window: time.Minute, Step: time.Second, End: time.Now().Add(time.Second)})
		return err == nil && len(a.Handlers) == 1
	})
}

// TestReadRefusesBadQueries: Read checks its query as ParseQuery does.
func TestReadRefusesBadQueries(t *testing.T) {
	h := openHistory(t, 10*time.Second)
	if _, err := h.Read(context.Background(), "a", Query{Window: time.Hour, Step: time.Second}); err == nil {
		t.Fatal("a step finer than the interval was read")
	}
}
