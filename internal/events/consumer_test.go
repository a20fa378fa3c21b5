package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestTopicCoverage(t *testing.T) {
	for _, c := range []struct {
		wide, sub string
		covers    bool
		collide   bool
	}{
		{"a.b", "a.b", true, true},
		{"a.*", "a.b", true, true},
		{"a.>", "a.b.c", true, true},
		{"a.>", "a.*", true, true},
		{"a.*", "a.>", false, true},
		{"a.b", "a.*", false, true},
		{"a.*.c", "a.b.*", false, true},
		{"a.b", "a.c", false, false},
		{"a.*", "a.b.c", false, false},
		{">", "x", true, true},
		{"a.>", "a", false, false},
		{"*.*", "a.>", false, true},
	} {
		if got := covers(c.wide, c.sub); got != c.covers {
			t.Errorf("covers(%q, %q) = %v, want %v", c.wide, c.sub, got, c.covers)
		}
		if got := topicsCollide(c.wide, c.sub); got != c.collide {
			t.Errorf("topicsCollide(%q, %q) = %v, want %v", c.wide, c.sub, got, c.collide)
		}
		if a, b := topicsCollide(c.wide, c.sub), topicsCollide(c.sub, c.wide); a != b {
			t.Errorf("topicsCollide(%q, %q) is not symmetric", c.wide, c.sub)
		}
	}
}

func TestHandlerFilters(t *testing.T) {
	all := features{multiFilter: true, pinning: true}
	for _, c := range []struct {
		topics []string
		f      features
		want   []string
		wide   bool
	}{
		{[]string{"a.b"}, all, []string{"sb.events.s.a.b"}, false},
		{[]string{"a.b", "a.*", "c.>"}, all, []string{"sb.events.s.a.*", "sb.events.s.c.>"}, false},
		{[]string{"a.>", "a.*"}, all, []string{"sb.events.s.a.>"}, false},
		{[]string{"a.*.c", "a.b.*"}, all, []string{"sb.events.s.>"}, true},
		{[]string{"a.b", "c.d"}, features{}, []string{"sb.events.s.>"}, true},
		{[]string{"a.*", "a.b"}, features{}, []string{"sb.events.s.a.*"}, false},
	} {
		got, wide := Handler{Solution: "s", Name: "h", Topics: c.topics}.filters(c.f)
		if !slices.Equal(got, c.want) || wide != c.wide {
			t.Errorf("filters(%v, %+v) = %v, %v; want %v, %v", c.topics, c.f, got, wide, c.want, c.wide)
		}
	}
}

func TestOrderKey(t *testing.T) {
	raw := []byte(`{"topic":"t.x","subject":"s1","correlation_id":"c1","data":{"device":{"id":7,"name":"n"},"s":"v"}}`)
	for by, want := range map[string]string{
		"topic": "t.x", "subject": "s1", "correlation_id": "c1",
		"data.device.id": "j:7", "data.s": "s:v", "data.device": `j:{"id":7,"name":"n"}`, "data.missing": "", "data.s.deeper": "",
	} {
		if got := (Handler{OrderBy: by}).orderKey(raw); got != want {
			t.Errorf("orderKey by %s = %q, want %q", by, got, want)
		}
	}
	for _, bad := range []string{"data", "data.", "key", "data.a b", "data.a.b.c.d.e.f.g.h.i"} {
		_, err := Check(Handler{Solution: "s", Name: "h", Topics: []string{"a"}, Script: "return 1", OrderBy: bad})
		var fe *solution.FieldError
		if !errors.As(err, &fe) || fe.Field != "order_by" {
			t.Errorf("order_by %q: %v, want a field error on order_by", bad, err)
		}
	}
}

// probe is the Probe service: visit records {k, n} in call order and how many runs are in
// it at once; a held key's visits wait until it is released; the first visit of fail{k, n}
// answers {fail = true}.
type probe struct {
	mu      sync.Mutex
	visits  map[string][]int
	in, top int
	held    map[string]chan struct{}
	fail    map[[2]any]bool
}

func newProbe() *probe {
	return &probe{visits: map[string][]int{}, held: map[string]chan struct{}{}, fail: map[[2]any]bool{}}
}

func (p *probe) Has(alias string) bool { return alias == "Probe" }

func (p *probe) Call(ctx context.Context, _, op string, args any) (any, error) {
	a, _ := args.(map[string]any)
	k, _ := a["k"].(string)
	n, _ := a["n"].(float64)
	p.mu.Lock()
	p.in++
	p.top = max(p.top, p.in)
	gate := p.held[k]
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			// The run timed out while held: it failed, and is not a visit.
			p.mu.Lock()
			p.in--
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in--
	p.visits[k] = append(p.visits[k], int(n))
	if key := [2]any{k, int(n)}; p.fail[key] {
		delete(p.fail, key)
		return map[string]any{"fail": true}, nil
	}
	return map[string]any{}, nil
}

func (p *probe) hold(k string) func() {
	ch := make(chan struct{})
	p.mu.Lock()
	p.held[k] = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.held, k)
			p.mu.Unlock()
			close(ch)
		})
	}
}

func (p *probe) state(k string) (visits []int, in, top int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.visits[k]), p.in, p.top
}

const probeScript = `local r = Probe.visit({k = event.data.k, n = event.data.n})
if r.fail then error("failing once, as asked") end`

func newProbeDispatcher(t *testing.T, p *probe) (context.Context, *Store, *Dispatcher, func() jetstream.JetStream) {
	t.Helper()
	b := openBus(t, t.TempDir())
	t.Cleanup(func() { b.Close() })
	s := openStore(t, b)
	d := newDispatcher(t, b, s, nil, func(o *DispatcherOptions) {
		o.Services = func(string) script.Services { return p }
	})
	return context.Background(), s, d, b.JetStream
}

func publishN(t *testing.T, d *Dispatcher, topic, key string, from, to int) {
	t.Helper()
	var es []Event
	for n := from; n <= to; n++ {
		es = append(es, Event{ID: fmt.Sprintf("%s-%s-%d", topic, key, n), Solution: "demo", Topic: topic, Data: map[string]any{"k": key, "n": n}})
	}
	for i, err := range d.EnqueueBatch(context.Background(), es) {
		if err != nil {
			t.Fatalf("enqueue %s: %v", es[i].ID, err)
		}
	}
}

// TestMaxInFlight: a handler runs at most max_in_flight events at once on an instance, and
// holds at most as many more waiting: the rest stay in the stream, not in its memory.
func TestMaxInFlight(t *testing.T) {
	p := newProbe()
	ctx, s, d, js := newProbeDispatcher(t, p)
	mustPut(t, s, Handler{Solution: "demo", Name: "h", Topics: []string{"t"}, Script: probeScript, MaxInFlight: 2})
	release := p.hold("k")
	defer release()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, d, "t", "k", 1, 6)
	eventually(t, "two runs in, at most two more taken from the stream", func() bool {
		_, in, _ := p.state("k")
		c, err := js().Consumer(ctx, EventsStream, ConsumerName("demo", "h"))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && in == 2 && info.NumAckPending <= 4 && info.NumPending >= 2
	})
	release()
	eventually(t, "all six to run", func() bool { v, _, _ := p.state("k"); return len(v) == 6 })
	if _, _, top := p.state("k"); top != 2 {
		t.Fatalf("%d runs at once, want at most 2", top)
	}
}

// TestSlowHandlerHoldsUpNoOther: one handler stuck on every event does not hold up another
// on the same topic.
func TestSlowHandlerHoldsUpNoOther(t *testing.T) {
	p := newProbe()
	ctx, s, d, _ := newProbeDispatcher(t, p)
	quick := &RetryPolicy{Attempts: 100, MinWait: Duration(5 * time.Millisecond), MaxWait: Duration(20 * time.Millisecond)}
	mustPut(t, s, Handler{Solution: "demo", Name: "slow", Topics: []string{"t"}, MaxInFlight: 1, Retry: quick,
		Script: `Probe.visit({k = "slow", n = event.data.n})`})
	mustPut(t, s, Handler{Solution: "demo", Name: "fast", Topics: []string{"t"}, MaxInFlight: 1,
		Script: `Probe.visit({k = "fast", n = event.data.n})`})
	release := p.hold("slow")
	defer release()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, d, "t", "x", 1, 50)
	eventually(t, "the fast handler to run all 50 while the slow one is stuck on its first", func() bool {
		v, _, _ := p.state("fast")
		return len(v) == 50
	})
	if v, _, _ := p.state("slow"); len(v) != 0 {
		t.Fatalf("slow handler finished %d events while held", len(v))
	}
	release()
	eventuallyWithin(t, 60*time.Second, "the slow handler to catch up", func() bool { v, _, _ := p.state("slow"); return len(v) == 50 })
}

// TestOrderedByKey: events of one key run one at a time in the order stored, a failure
// retried before the next; another key runs meanwhile, even while the first is held.
func TestOrderedByKey(t *testing.T) {
	p := newProbe()
	ctx, s, d, _ := newProbeDispatcher(t, p)
	mustPut(t, s, Handler{Solution: "demo", Name: "h", Topics: []string{"t.*"}, Script: probeScript, OrderBy: "data.k", MaxInFlight: 4,
		Retry: &RetryPolicy{Attempts: 100, MinWait: Duration(5 * time.Millisecond), MaxWait: Duration(20 * time.Millisecond)}})
	p.mu.Lock()
	p.fail[[2]any{"a", 3}] = true
	p.mu.Unlock()
	releaseB := p.hold("b")
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, d, "t.x", "a", 1, 30)
	publishN(t, d, "t.y", "b", 1, 30)
	eventually(t, "key a to run through while b is held", func() bool { v, _, _ := p.state("a"); return len(v) == 31 })
	releaseB()
	eventually(t, "key b to run through", func() bool { v, _, _ := p.state("b"); return len(v) == 30 })
	va, _, _ := p.state("a")
	want := []int{1, 2, 3, 3}
	for n := 4; n <= 30; n++ {
		want = append(want, n)
	}
	if !slices.Equal(va, want) {
		t.Fatalf("key a ran %v, want %v", va, want)
	}
	if vb, _, _ := p.state("b"); !slices.IsSorted(vb) {
		t.Fatalf("key b ran out of order: %v", vb)
	}
}

// TestDeliveryReportPending: an event stored before any instance runs it shows every handler
// it fans out to as pending, then each one's outcome.
func TestDeliveryReportPending(t *testing.T) {
	p := newProbe()
	ctx, s, d, _ := newProbeDispatcher(t, p)
	for _, n := range []string{"one", "two"} {
		mustPut(t, s, Handler{Solution: "demo", Name: n, Topics: []string{"t"}, Script: `Probe.visit({k = "x", n = 1})`})
	}
	publishN(t, d, "t", "x", 1, 1)
	r, err := d.Report(ctx, "demo", "t-x-1")
	if err != nil || len(r.Handlers) != 2 || r.Handlers[0].State != StatePending || r.Handlers[1].State != StatePending {
		t.Fatalf("report before start: %+v, %v; want two pending", r, err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both to succeed", func() bool {
		r, err := d.Report(ctx, "demo", "t-x-1")
		return err == nil && len(r.Handlers) == 2 && r.Handlers[0].State == StateSucceeded && r.Handlers[1].State == StateSucceeded
	})
}

// TestEnqueueBatch: a batch with a bad event stores nothing and names the error of each bad
// one, in place; a good batch is stored whole.
func TestEnqueueBatch(t *testing.T) {
	p := newProbe()
	ctx, s, d, _ := newProbeDispatcher(t, p)
	mustPut(t, s, Handler{Solution: "demo", Name: "h", Topics: []string{"t"}, Script: probeScript})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	errs := d.EnqueueBatch(ctx, []Event{
		{ID: "1", Solution: "demo", Topic: "t", Data: map[string]any{"k": "b", "n": 1}},
		{ID: "2", Solution: "demo", Topic: "nobody"},
		{ID: "3", Solution: "demo", Topic: "Bad Topic"},
		{ID: "4", Solution: "demo", Topic: "t", Data: map[string]any{"k": "b", "n": 2}},
	})
	var fe *solution.FieldError
	if errs[0] != nil || !errors.Is(errs[1], ErrNoHandler) || !errors.As(errs[2], &fe) || fe.Field != "topic" || errs[3] != nil {
		t.Fatalf("errors %v", errs)
	}
	if _, err := d.Report(ctx, "demo", "1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("report of a good event of a refused batch: %v, want not found (nothing stored)", err)
	}
	publishN(t, d, "t", "b", 1, 2)
	eventually(t, "the two events of a good batch to run", func() bool { v, _, _ := p.state("b"); return len(v) == 2 })
}

// TestEnqueueToReplies: an event for one handler alone runs it whatever its topics, and its
// outcome goes to Reply: the result, or the last error once dead-lettered.
func TestEnqueueToReplies(t *testing.T) {
	type outcome struct {
		handler string
		res     any
		err     error
	}
	got := make(chan outcome, 4)
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	d := newDispatcher(t, b, s, newRecorder(), func(o *DispatcherOptions) {
		o.Reply = func(_ context.Context, e Event, handler string, res any, err error, _ time.Duration) {
			got <- outcome{handler, res, err}
		}
	})
	ctx := context.Background()
	mustPut(t, s, Handler{Solution: "demo", Name: "ok", Topics: []string{"elsewhere"}, Script: `return "done " .. event.id`})
	mustPut(t, s, Handler{Solution: "demo", Name: "bad", Topics: []string{"elsewhere"}, Script: `error("no")`,
		Retry: &RetryPolicy{Attempts: 2, MinWait: Duration(time.Millisecond), MaxWait: Duration(time.Millisecond)}})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.EnqueueTo(ctx, Event{ID: "c1", Solution: "demo", Topic: "x.y", Reply: &Reply{URL: "http://cb", CallID: "c1"}}, "ok"); err != nil {
		t.Fatal(err)
	}
	if o := <-got; o.handler != "ok" || o.res != "done c1" || o.err != nil {
		t.Fatalf("reply %+v", o)
	}
	if err := d.EnqueueTo(ctx, Event{ID: "c2", Solution: "demo", Topic: "x.y", Reply: &Reply{URL: "http://cb"}}, "bad"); err != nil {
		t.Fatal(err)
	}
	if o := <-got; o.handler != "bad" || o.err == nil {
		t.Fatalf("reply %+v, want the last error", o)
	}
	if err := d.EnqueueTo(ctx, Event{ID: "c3", Solution: "demo", Topic: "x.y"}, "ghost"); !errors.Is(err, ErrNoHandler) {
		t.Fatalf("enqueue to a missing handler: %v", err)
	}
}

// TestEventsStreamUpgrade: an events stream left by an earlier version (limits retention,
// events only) gets the direct subjects and interest retention.
func TestEventsStreamUpgrade(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	defer b.Close()
	js := b.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: EventsStream, Subjects: []string{"sb.events.>"}, MaxAge: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := ensureEventStreams(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; !slices.Equal(c.Subjects, []string{"sb.events.>", "sb.to.>"}) || c.Retention != jetstream.InterestPolicy {
		t.Fatalf("stream after upgrade: subjects %v, retention %v", c.Subjects, c.Retention)
	}
}

// TestOrderToggleKeepsWaitingEvents: a handler turning ordered, and back, while events wait
// for it still runs every one of them.
func TestOrderToggleKeepsWaitingEvents(t *testing.T) {
	p := newProbe()
	ctx, s, d, js := newProbeDispatcher(t, p)
	h := Handler{Solution: "demo", Name: "h", Topics: []string{"t"}, Script: probeScript}
	mustPut(t, s, h)
	publishN(t, d, "t", "k", 1, 5)
	h.OrderBy = "data.k"
	mustPut(t, s, h)
	publishN(t, d, "t", "k", 6, 10)
	if _, err := js().Consumer(ctx, EventsStream, ConsumerName("demo", "h")); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("the unordered consumer after turning ordered: %v, want gone", err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "all ten to run, in order", func() bool { v, _, _ := p.state("k"); return len(v) == 10 })
	if v, _, _ := p.state("k"); !slices.IsSorted(v) {
		t.Fatalf("ran %v, want in order", v)
	}
	h.OrderBy = ""
	mustPut(t, s, h)
	publishN(t, d, "t", "k", 11, 12)
	eventually(t, "the two after turning unordered to run", func() bool { v, _, _ := p.state("k"); return len(v) == 12 })
}

// TestRetryOnlyOn: a policy's "on" retries the failures of the kinds it names and
// dead-letters the others at their first attempt; retry_after is retried whatever it names.
func TestRetryOnlyOn(t *testing.T) {
	p := newProbe()
	ctx, s, d, _ := newProbeDispatcher(t, p)
	policy := func(on ...string) *RetryPolicy {
		return &RetryPolicy{Attempts: 3, MinWait: Duration(time.Millisecond), MaxWait: Duration(2 * time.Millisecond), On: on}
	}
	mustPut(t, s, Handler{Solution: "demo", Name: "raises", Topics: []string{"t"}, Retry: policy("time"),
		Script: `Probe.visit({k = "raises", n = 1}) error("no retry for this")`})
	mustPut(t, s, Handler{Solution: "demo", Name: "retried", Topics: []string{"t"}, Retry: policy("runtime"),
		Script: `Probe.visit({k = "retried", n = 1}) error("retry this")`})
	mustPut(t, s, Handler{Solution: "demo", Name: "asks", Topics: []string{"t"}, Retry: policy("time"),
		Script: `Probe.visit({k = "asks", n = 1}) return {retry_after = 0.001}`})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, d, "t", "x", 1, 1)
	eventually(t, "every handler dead-lettered", func() bool {
		r, err := d.Report(ctx, "demo", "t-x-1")
		if err != nil || len(r.Handlers) != 3 {
			return false
		}
		for _, h := range r.Handlers {
			if h.State != StateDeadLettered {
				return false
			}
		}
		return true
	})
	for k, want := range map[string]int{"raises": 1, "retried": 3, "asks": 3} {
		if v, _, _ := p.state(k); len(v) != want {
			t.Errorf("%s ran %d times, want %d", k, len(v), want)
		}
	}
}

// TestOrderedRestartTakesOver: an ordered handler whose consumption restarts (its
// max_in_flight changed) goes on at once, not after the pin of its old consumption expires.
func TestOrderedRestartTakesOver(t *testing.T) {
	p := newProbe()
	ctx, s, d, _ := newProbeDispatcher(t, p)
	h := Handler{Solution: "demo", Name: "h", Topics: []string{"t"}, Script: probeScript, OrderBy: "data.k", MaxInFlight: 2}
	mustPut(t, s, h)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publishN(t, d, "t", "k", 1, 3)
	eventually(t, "the first three", func() bool { v, _, _ := p.state("k"); return len(v) == 3 })
	h.MaxInFlight = 4
	mustPut(t, s, h)
	publishN(t, d, "t", "k", 4, 6)
	deadline := time.Now().Add(pinnedTTL / 2)
	for v, _, _ := p.state("k"); len(v) < 6; v, _, _ = p.state("k") {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, %d of 6 ran within %s: waiting for the old pin", len(v), pinnedTTL/2)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
