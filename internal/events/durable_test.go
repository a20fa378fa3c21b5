package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/script"
)

// drained reports whether every handler acknowledged every event it was sent (so that,
// with interest retention, the stream let go of them all).
func drained(t *testing.T, b *bus.Bus) bool {
	t.Helper()
	return streamMsgs(t, b, EventsStream) == 0
}

func streamMsgs(t *testing.T, b *bus.Bus, name string) uint64 {
	t.Helper()
	st, err := b.JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info.State.Msgs
}

func TestEnqueueRunsOnce(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d := newDispatcher(t, b, s, rec, nil)
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "Recorder['hit_' .. event.id]() return true"})

	if err := d.Enqueue(ctx, Event{Solution: "demo", Topic: "svc.nobody"}); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("enqueue without handler: %v, want ErrNoHandler", err)
	}
	if err := d.Enqueue(ctx, Event{Solution: "ghost", Topic: "svc.event"}); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("enqueue for a missing solution: %v, want ErrNoHandler", err)
	}
	// Stored before any instance started: the event waits.
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "demo", Topic: "svc.event", Data: map[string]any{"n": 1}}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := d.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	eventually(t, "the handler to run", func() bool { return rec.count("hit_e1") == 1 && drained(t, b) })

	// The same id again is stored once and not run again.
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "demo", Topic: "svc.event"}); err != nil {
		t.Fatalf("enqueue again: %v", err)
	}
	if n := streamMsgs(t, b, EventsStream); n != 0 {
		t.Fatalf("%s holds %d events after a duplicate, want 0", EventsStream, n)
	}
	// A later event runs; by then the duplicate, had it been stored, would have run too.
	if err := d.Enqueue(ctx, Event{ID: "e2", Solution: "demo", Topic: "svc.event"}); err != nil {
		t.Fatalf("enqueue e2: %v", err)
	}
	eventually(t, "the second event to run", func() bool { return rec.count("hit_e2") == 1 && drained(t, b) })
	if c := rec.count("hit_e1"); c != 1 {
		t.Fatalf("e1 ran %d times, want 1", c)
	}
	// The same id in another solution is another event: it runs there.
	mustPut(t, s, Handler{Solution: "other", Name: "svc_event", Script: "Recorder['other_' .. event.id]() return true"})
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "other", Topic: "svc.event"}); err != nil {
		t.Fatalf("enqueue e1 in another solution: %v", err)
	}
	eventually(t, "the other solution's e1 to run", func() bool { return rec.count("other_e1") == 1 && drained(t, b) })
}

func TestRetryThenDeadLetter(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d := newDispatcher(t, b, s, rec, func(o *DispatcherOptions) {
		o.MaxDeliver = 3
		o.Backoff = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}
	})
	mustPut(t, s, Handler{Solution: "demo", Name: "good", Topics: []string{"svc.event"}, Script: "Recorder.good() return 1"})
	mustPut(t, s, Handler{Solution: "demo", Name: "bad", Topics: []string{"svc.event"}, Script: "Recorder.bad() error('boom')"})
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "demo", Topic: "svc.event", Data: "payload"}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}

	var dl DeadLetter
	eventually(t, "the failing handler to be parked", func() bool {
		st, err := b.JetStream().Stream(ctx, DLQStream)
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(ctx, "sb.dlq.demo.bad")
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false
		}
		if err != nil {
			t.Fatalf("read dead letter: %v", err)
		}
		if err := json.Unmarshal(m.Data, &dl); err != nil {
			t.Fatalf("decode dead letter: %v", err)
		}
		return true
	})
	eventually(t, "every work item to be done", func() bool { return drained(t, b) })
	if dl.Handler != "bad" || dl.Attempts != 3 || dl.Kind != "runtime" || !strings.Contains(dl.Error, "boom") || dl.FailedAt.IsZero() {
		t.Fatalf("dead letter %+v", dl)
	}
	var e Event
	if err := json.Unmarshal(dl.Event, &e); err != nil || e.ID != "e1" || e.Data != "payload" {
		t.Fatalf("dead letter's event %+v, %v", e, err)
	}
	if g, bd := rec.count("good"), rec.count("bad"); g != 1 || bd != 3 {
		t.Fatalf("good ran %d times (want 1), bad %d (want 3)", g, bd)
	}
	if n := streamMsgs(t, b, DLQStream); n != 1 {
		t.Fatalf("%s holds %d, want 1", DLQStream, n)
	}
}

func TestInstancesShareWork(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d1 := newDispatcher(t, b, s, rec, nil)
	d2 := newDispatcher(t, b, s, rec, nil)
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "Recorder['hit_' .. event.id]()"})
	for _, d := range []*Dispatcher{d1, d2} {
		if err := d.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	const n = 40
	for i := range n {
		if err := d1.Enqueue(ctx, Event{ID: fmt.Sprint("e", i), Solution: "demo", Topic: "svc.event"}); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	eventually(t, "every event to run", func() bool { return drained(t, b) })
	d1.Close()
	d2.Close()
	for i := range n {
		if c := rec.count(fmt.Sprint("hit_e", i)); c != 1 {
			t.Errorf("event e%d ran %d times, want 1", i, c)
		}
	}
}

// TestDurableEventData: a durable event's data reaches the handler as it was sent, decoded
// when the handler reads event.data (and a handler that ignores it still runs).
func TestDurableEventData(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d := newDispatcher(t, b, s, rec, nil)
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "Recorder['got_' .. event.data.n.m[2] .. '_' .. event.data.s]() return true"})
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_other", Topics: []string{"svc.event"}, Script: "Recorder.ignored() return true"})
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "demo", Topic: "svc.event", Data: map[string]any{"n": map[string]any{"m": []any{1, 2}}, "s": "x"}}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	eventually(t, "both handlers to run", func() bool { return rec.count("got_2_x") == 1 && rec.count("ignored") == 1 && drained(t, b) })
}

// TestDeliveryReport: each handler of an event runs as its own retry policy says, and the
// event's report shows where each stands: pending before any instance runs them, then
// succeeded, dead-lettered after the handler's own attempts, or retrying when the run asked
// for a later retry (honoured, within max_wait).
func TestDeliveryReport(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	d := newDispatcher(t, b, s, rec, nil) // default attempts: 5
	ms := func(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }
	topic := []string{"svc.event"}
	mustPut(t, s, Handler{Solution: "demo", Name: "good", Topics: topic, Script: "Recorder.good() return 1"})
	mustPut(t, s, Handler{Solution: "demo", Name: "flaky", Topics: topic, Script: "Recorder.flaky() error('boom')",
		Retry: &RetryPolicy{Attempts: 2, MinWait: ms(5), MaxWait: ms(10)}})
	mustPut(t, s, Handler{Solution: "demo", Name: "later", Topics: topic, Script: "Recorder.later() return {retry_after = 1800}",
		Retry: &RetryPolicy{Attempts: 3, MinWait: ms(1), MaxWait: Duration(time.Hour)}})
	mustPut(t, s, Handler{Solution: "demo", Name: "capped", Topics: topic, Script: "Recorder.capped() return {retry_after = 1800}",
		Retry: &RetryPolicy{MaxWait: Duration(10 * time.Minute)}})

	if _, err := d.Report(ctx, "demo", "e1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("report of an unknown event: %v, want ErrNotFound", err)
	}
	if err := d.Enqueue(ctx, Event{ID: "e1", Solution: "demo", Topic: "svc.event"}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	r, err := d.Report(ctx, "demo", "e1")
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var names []string
	for _, dl := range r.Handlers {
		names = append(names, dl.Handler)
		if dl.State != StatePending || dl.Attempts != 0 || dl.Topic != "svc.event" {
			t.Errorf("before start: %+v, want pending", dl)
		}
	}
	if strings.Join(names, ",") != "capped,flaky,good,later" {
		t.Fatalf("report names %v", names)
	}
	if _, err := d.Report(ctx, "other", "e1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another solution's report of e1: %v, want ErrNotFound", err)
	}

	start := time.Now()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	by := map[string]Delivery{}
	eventually(t, "every handler to reach its state", func() bool {
		r, err := d.Report(ctx, "demo", "e1")
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		for _, dl := range r.Handlers {
			by[dl.Handler] = dl
		}
		return by["good"].State == StateSucceeded && by["flaky"].State == StateDeadLettered &&
			by["later"].State == StateRetrying && by["capped"].State == StateRetrying
	})
	if g := by["good"]; g.Attempts != 1 || g.LastError != "" || g.Duration <= 0 {
		t.Errorf("good: %+v", g)
	}
	if f := by["flaky"]; f.Attempts != 2 || !strings.Contains(f.LastError, "boom") || f.ErrorID == "" || f.NextAttemptAt != nil {
		t.Errorf("flaky: %+v", f)
	}
	if n := rec.count("flaky"); n != 2 {
		t.Errorf("flaky ran %d times, want its policy's 2", n)
	}
	for name, want := range map[string]time.Duration{"later": 30 * time.Minute, "capped": 10 * time.Minute} {
		dl := by[name]
		if dl.Attempts != 1 || !strings.Contains(dl.LastError, "asked to retry") || dl.NextAttemptAt == nil {
			t.Errorf("%s: %+v", name, dl)
			continue
		}
		if wait := dl.NextAttemptAt.Sub(start); wait < want || wait > want+time.Minute {
			t.Errorf("%s: next attempt in %s, want %s", name, wait, want)
		}
	}
	// The dead letter is the flaky handler's, after its own attempts; it is written just after
	// the record says so.
	var dl DeadLetter
	eventually(t, "the dead letter", func() bool {
		st, err := b.JetStream().Stream(ctx, DLQStream)
		if err != nil {
			t.Fatalf("dlq: %v", err)
		}
		m, err := st.GetLastMsgForSubject(ctx, "sb.dlq.demo.flaky")
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false
		}
		if err != nil {
			t.Fatalf("dead letter: %v", err)
		}
		return json.Unmarshal(m.Data, &dl) == nil
	})
	if dl.Attempts != 2 || dl.Handler != "flaky" {
		t.Fatalf("dead letter %+v", dl)
	}
}

// TestHandlerNotYetKnown: a work item for a handler that is stored but not yet in this
// instance's view (deployed through another instance an instant before) waits for the view,
// and runs; it is not dropped as if the handler were gone. One really gone is dropped.
func TestHandlerNotYetKnown(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	var known atomic.Bool
	known.Store(true)
	d := newDispatcher(t, b, s, rec, func(o *DispatcherOptions) {
		// The view of an instance that has not seen the solution yet, once the event is in.
		o.Limits = func(sol string) (script.Limits, bool) {
			l, _ := anySolution(sol)
			return l, known.Load()
		}
	})
	mustPut(t, s, Handler{Solution: "demo", Name: "svc_event", Script: "Recorder['hit_' .. event.id]() return true"})
	if err := d.Enqueue(ctx, Event{ID: "early", Solution: "demo", Topic: "svc.event"}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	known.Store(false)
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	eventually(t, "the event to be delivered again, the solution unknown", func() bool {
		c, err := b.JetStream().Consumer(ctx, EventsStream, ConsumerName("demo", "svc_event"))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 2
	})
	if n := rec.count("hit_early"); n != 0 || streamMsgs(t, b, EventsStream) != 1 {
		t.Fatalf("while unknown: ran %d times, %d events left; want 0 and 1 (not dropped)", n, streamMsgs(t, b, EventsStream))
	}
	known.Store(true)
	eventually(t, "the handler to run once known", func() bool { return rec.count("hit_early") == 1 && drained(t, b) })
}
