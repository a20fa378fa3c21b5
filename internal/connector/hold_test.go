package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// pendingCounts is a CountPending the test sets: the pending events of each topic of solution
// "demo", whether they can be counted, a failure, and how often it was asked.
type pendingCounts struct {
	mu      sync.Mutex
	byTopic map[string]uint64
	unknown bool
	err     error
	calls   int
}

func (p *pendingCounts) count(_ context.Context, sol string) (map[string]uint64, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if sol != "demo" {
		return nil, false, fmt.Errorf("counted solution %q", sol)
	}
	if p.err != nil {
		return nil, false, p.err
	}
	out := make(map[string]uint64, len(p.byTopic))
	for k, v := range p.byTopic {
		out[k] = v
	}
	return out, !p.unknown, nil
}

func (p *pendingCounts) set(topic string, n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byTopic == nil {
		p.byTopic = map[string]uint64{}
	}
	p.byTopic[topic] = n
}

func (p *pendingCounts) asked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// heldSink is the connector's real sink, bounded by b, over a recording publisher.
func heldSink(b Bounds, maxPending int) (*sink, *publisher) {
	return heldSinkOf(b, Connector{Solution: "demo", Name: "c1", Type: "cron", Topic: "orders", MaxPending: maxPending}, newTally())
}

// heldSinkOf is heldSink of c, with what the connectors of its instance stored.
func heldSinkOf(b Bounds, c Connector, stored *tally) (*sink, *publisher) {
	r := &runner{m: &Manager{log: quiet()}, c: c, gauge: newGauge(b, c, stored)}
	pub := &publisher{}
	return &sink{r: r, pub: pub}, pub
}

func msgs(n int) []Message {
	ms := make([]Message, n)
	for i := range ms {
		ms[i] = Message{ID: fmt.Sprint("m", i), Data: []byte(fmt.Sprint(i))}
	}
	return ms
}

func (s *sink) status() Status {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.r.status
}

// publishing runs Publish in the background; the channel gets what it returned.
func publishing(ctx context.Context, s Sink, ms []Message) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Publish(ctx, ms) }()
	return done
}

// TestHoldAtBound: at its topic's bound (or its solution's), Publish waits, storing nothing,
// and says why in the status; once the handlers take events away it stores and goes on.
func TestHoldAtBound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		bounds      Bounds
		maxPending  int
		topic, why  string
		wantLimit   uint64
		fullAt      uint64
		otherTopics uint64 // pending on another topic of the solution
	}{
		{"its own bound", Bounds{MaxPending: 100, MaxPendingPerSolution: 1000}, 5, "orders", "5 events pending on topic orders (max_pending 5)", 5, 5, 0},
		{"the server's bound", Bounds{MaxPending: 7, MaxPendingPerSolution: 1000}, 0, "orders", "7 events pending on topic orders (max_pending 7)", 7, 7, 0},
		{"the solution's bound", Bounds{MaxPending: 100, MaxPendingPerSolution: 10}, 0, "orders", "10 events pending on the topics of solution demo", 10, 4, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := &pendingCounts{}
			tc.bounds.Count = counts.count
			s, pub := heldSink(tc.bounds, tc.maxPending)
			if got := s.r.gauge.limit(); got != tc.wantLimit {
				t.Fatalf("limit %d, want %d", got, tc.wantLimit)
			}
			counts.set(tc.topic, tc.fullAt)
			counts.set("audit", tc.otherTopics)
			done := publishing(context.Background(), s, msgs(3))
			eventually(t, "the status to say it is held", func() bool { return s.status().Held })
			st := s.status()
			if !strings.Contains(st.HeldReason, tc.why) || st.Pending == nil || *st.Pending != tc.fullAt {
				t.Fatalf("held status %+v, want the reason %q", st, tc.why)
			}
			if n := len(pub.events()); n != 0 {
				t.Fatalf("%d events stored while held", n)
			}
			counts.set(tc.topic, 0)
			counts.set("audit", 0)
			if err := <-done; err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if st := s.status(); st.Held || st.HeldReason != "" || st.Published != 3 || len(pub.events()) != 3 {
				t.Fatalf("after the handlers caught up: status %+v, %d events", st, len(pub.events()))
			}
		})
	}
}

// TestHoldEndsWithContext: a held Publish returns once its context ends, storing nothing.
func TestHoldEndsWithContext(t *testing.T) {
	counts := &pendingCounts{byTopic: map[string]uint64{"orders": 10}}
	s, pub := heldSink(Bounds{MaxPending: 10, Count: counts.count}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := publishing(ctx, s, msgs(1))
	eventually(t, "held", func() bool { return s.status().Held })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish returned %v, want the context's end", err)
	}
	if n := len(pub.events()); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

// TestHoldCountsAtMostEveryInterval: counting is cached for countEvery, and what the
// connector stored since counts as pending, so that between counts it stores at most one
// batch past its bound.
func TestHoldCountsAtMostEveryInterval(t *testing.T) {
	counts := &pendingCounts{}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, pub := heldSink(Bounds{MaxPending: 10, Count: counts.count}, 0)
	s.r.gauge.now = clock.Now
	waits := 0
	s.r.gauge.wait = func(_ context.Context, d time.Duration) error {
		// The handlers catch up while it waits.
		waits++
		counts.set("orders", 0)
		clock.add(d)
		return nil
	}
	for i := range 3 {
		if err := s.Publish(context.Background(), msgs(4)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	// 0 counted, then 4 and 8 stored since: below 10 each time, and counted once.
	if n, w := counts.asked(), waits; n != 1 || w != 0 {
		t.Fatalf("asked %d times and waited %d times for three batches within the interval, want 1 and 0", n, w)
	}
	// 12 stored since the count (the third batch began at 8, below the bound: past it by less
	// than a batch). The next one waits, and counts again once the interval is over.
	if err := s.Publish(context.Background(), msgs(4)); err != nil {
		t.Fatal(err)
	}
	if n, w := counts.asked(), waits; n != 2 || w != 1 {
		t.Fatalf("fourth batch: asked %d, waited %d; want it held once, then counted again", n, w)
	}
	if n := len(pub.events()); n != 16 {
		t.Fatalf("%d events stored, want 16", n)
	}
}

// TestHoldSolutionShared: between counts, what one connector stored counts for the others
// of its solution on the instance (on the solution's bound, and on the topic's when they
// share it), and not for another solution's.
func TestHoldSolutionShared(t *testing.T) {
	counts := &pendingCounts{}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	stored := newTally()
	b := Bounds{MaxPending: 100, MaxPendingPerSolution: 10, Count: counts.count}
	mk := func(sol, name, topic string) *sink {
		s, _ := heldSinkOf(b, Connector{Solution: sol, Name: name, Type: "cron", Topic: topic}, stored)
		s.r.gauge.now = clock.Now
		s.r.gauge.wait = func(context.Context, time.Duration) error { return errors.New("held") }
		return s
	}
	a, sameTopic, otherTopic := mk("demo", "a", "orders"), mk("demo", "b", "orders"), mk("demo", "c", "audit")
	// Each counts once (0 pending), then a stores 8 and otherTopic 2: the solution's 10.
	for _, s := range []*sink{a, sameTopic, otherTopic} {
		if err := s.r.hold(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Publish(context.Background(), msgs(8)); err != nil {
		t.Fatal(err)
	}
	if err := otherTopic.Publish(context.Background(), msgs(2)); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*sink{"a": a, "same topic": sameTopic, "other topic": otherTopic} {
		err := s.Publish(context.Background(), msgs(1))
		if err == nil || !strings.Contains(err.Error(), "held") {
			t.Errorf("%s: Publish %v, want it held by the solution's bound", name, err)
		}
		if st := s.status(); !strings.Contains(st.HeldReason, "10 events pending on the topics of solution demo") {
			t.Errorf("%s: status %+v", name, st)
		}
	}
	if st := sameTopic.status(); *st.Pending != 8 {
		t.Errorf("same topic's pending %d, want the 8 the other stored", *st.Pending)
	}
	if n := counts.asked(); n != 3 {
		t.Errorf("counted %d times, want once each", n)
	}
	// Another solution's connectors do not see them.
	if bySol, byTopic := stored.get("other", "orders"); bySol != 0 || byTopic != 0 {
		t.Errorf("another solution's tally %d, %d", bySol, byTopic)
	}
}

// TestHoldCannotCount: when the count cannot be told nothing is held back; when counting
// fails, Publish fails (the source sends again later) and stores nothing.
func TestHoldCannotCount(t *testing.T) {
	counts := &pendingCounts{byTopic: map[string]uint64{"orders": 1000}, unknown: true}
	s, pub := heldSink(Bounds{MaxPending: 10, Count: counts.count}, 0)
	if err := s.Publish(context.Background(), msgs(2)); err != nil || len(pub.events()) != 2 {
		t.Fatalf("uncountable: %v, %d events", err, len(pub.events()))
	}
	if st := s.status(); st.Held || st.Pending != nil {
		t.Fatalf("uncountable status %+v", st)
	}

	counts = &pendingCounts{err: errors.New("stream info timed out")}
	s, pub = heldSink(Bounds{MaxPending: 10, Count: counts.count}, 0)
	err := s.Publish(context.Background(), msgs(2))
	if err == nil || !strings.Contains(err.Error(), "stream info timed out") || len(pub.events()) != 0 {
		t.Fatalf("count failed: Publish %v, %d events", err, len(pub.events()))
	}
}

// TestHoldOnlyWhatIsStored: a batch of messages all rejected is not held (nothing would be
// stored), and a sink without bounds holds nothing.
func TestHoldOnlyWhatIsStored(t *testing.T) {
	counts := &pendingCounts{byTopic: map[string]uint64{"orders": 50}}
	s, _ := heldSink(Bounds{MaxPending: 10, Count: counts.count}, 0)
	bad := []Message{{Data: []byte{0xff, 0xfe}, ContentType: "application/octet-stream"}}
	if err := s.Publish(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	if st := s.status(); st.Rejected != 1 || st.Held || counts.asked() != 0 {
		t.Fatalf("rejected-only batch: status %+v, counted %d times", st, counts.asked())
	}
	free, pub := heldSink(Bounds{}, 0)
	if err := free.Publish(context.Background(), msgs(3)); err != nil || len(pub.events()) != 3 {
		t.Fatalf("unbounded: %v, %d", err, len(pub.events()))
	}
}

func TestCheckMaxPending(t *testing.T) {
	cron := func(n int) Connector {
		return Connector{Solution: "demo", Name: "c1", Type: "cron", Topic: "t", Config: json.RawMessage(`{"schedule":"@hourly"}`), MaxPending: n}
	}
	hook := cron(0)
	hook.Type, hook.Config = "webhook", json.RawMessage(`{"style":"none"}`)
	hookBounded := hook
	hookBounded.MaxPending = 10
	for _, tc := range []struct {
		name string
		c    Connector
		ok   bool
	}{
		{"default", cron(0), true},
		{"one", cron(1), true},
		{"a million", cron(MaxMaxPending), true},
		{"negative", cron(-1), false},
		{"over a million", cron(MaxMaxPending + 1), false},
		{"webhook without", hook, true},
		{"webhook with", hookBounded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.c)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != "max_pending" {
				t.Fatalf("error %v, want one naming max_pending", err)
			}
		})
	}
}
