package events

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboardhq/switchboard/internal/metrics"
)

// histogramCount is how many runs the latency histogram saw for one handler.
func histogramCount(t *testing.T, m *metrics.Metrics, sol, handler string) uint64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_event_handler_duration_seconds" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mm.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["solution"] == sol && labels["handler"] == handler {
				return mm.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestHandlerMetrics(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	m := metrics.New()
	d := newDispatcher(t, b, s, newRecorder(), func(o *DispatcherOptions) {
		o.Metrics = m
		o.MaxDeliver = 3
		o.Backoff = []time.Duration{5 * time.Millisecond}
	})
	m.Registry.MustRegister(d.BacklogCollector())
	mustPut(t, s, Handler{Solution: "demo", Name: "good", Topics: []string{"svc.event"}, Script: "return 1"})
	mustPut(t, s, Handler{Solution: "demo", Name: "bad", Topics: []string{"svc.event"}, Script: "error('boom')"})

	// Stored before any instance started: the backlog shows one item per handler.
	for _, id := range []string{"e1", "e2"} {
		if err := d.Enqueue(ctx, Event{ID: id, Solution: "demo", Topic: "svc.event"}); err != nil {
			t.Fatalf("enqueue %s: %v", id, err)
		}
	}
	// Each handler's consumer counts what it has not acknowledged, as the server reports it.
	eventually(t, "a backlog of 2 for demo/good and demo/bad", func() bool {
		counts, err := d.Backlog(ctx)
		if err != nil {
			t.Fatalf("backlog: %v", err)
		}
		return counts[[2]string{"demo", "good"}] == 2 && counts[[2]string{"demo", "bad"}] == 2 && len(counts) == 2
	})
	if n := testutil.CollectAndCount(d.BacklogCollector()); n != 2 {
		t.Fatalf("backlog series %d, want 2", n)
	}

	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	eventually(t, "every work item to be done", func() bool { return drained(t, b) })
	// A synchronous run counts too.
	if _, err := d.Dispatch(ctx, Event{Solution: "demo", Topic: "svc.other"}, nil); err == nil {
		t.Fatal("dispatch to a topic nobody subscribes to succeeded")
	}
	if _, err := d.DispatchTo(ctx, Event{Solution: "demo", Topic: "svc.direct"}, "good"); err != nil {
		t.Fatalf("dispatch to good: %v", err)
	}

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"runs good", testutil.ToFloat64(m.HandlerRuns.WithLabelValues("demo", "good")), 3},
		{"runs bad", testutil.ToFloat64(m.HandlerRuns.WithLabelValues("demo", "bad")), 6},
		{"failures good", testutil.ToFloat64(m.HandlerFailures.WithLabelValues("demo", "good")), 0},
		{"failures bad", testutil.ToFloat64(m.HandlerFailures.WithLabelValues("demo", "bad")), 6},
		{"retries good", testutil.ToFloat64(m.HandlerRetries.WithLabelValues("demo", "good")), 0},
		{"retries bad", testutil.ToFloat64(m.HandlerRetries.WithLabelValues("demo", "bad")), 4},
		{"dead letters bad", testutil.ToFloat64(m.HandlerDeadLetters.WithLabelValues("demo", "bad")), 2},
		{"in flight good", testutil.ToFloat64(m.HandlerInFlight.WithLabelValues("demo", "good")), 0},
		{"in flight bad", testutil.ToFloat64(m.HandlerInFlight.WithLabelValues("demo", "bad")), 0},
		{"latency samples good", float64(histogramCount(t, m, "demo", "good")), 3},
		{"latency samples bad", float64(histogramCount(t, m, "demo", "bad")), 6},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(d.BacklogCollector()); n != 0 {
		t.Errorf("backlog series after the work is done: %d, want 0", n)
	}

	m.ForgetHandler("demo", "bad")
	if n := testutil.CollectAndCount(m.HandlerRuns); n != 1 {
		t.Errorf("run series after forgetting demo/bad: %d, want 1", n)
	}
	m.ForgetSolution("demo")
	if n := testutil.CollectAndCount(m.HandlerLatency); n != 0 {
		t.Errorf("latency series after forgetting demo: %d, want 0", n)
	}
}
