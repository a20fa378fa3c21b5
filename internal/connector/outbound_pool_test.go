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
)

// outtest is a connector type for these tests alone: its sender does what the test that
// owns its config's id says, and counts.
func init() {
	Register(Kind{Type: "outtest", Description: "test", Inbound: true, Schema: `{"type": "object"}`})
	RegisterOut(OutKind{
		Type: "outtest", Description: "test", To: "topic", Args: []string{"headers"},
		Schema: `{"type": "object", "additionalProperties": false, "required": ["id"],
  "properties": {"id": {"type": "string"}, "secret": {"type": "string"}, ` + OutCommonSchema + `}}`,
		Secrets: []string{"secret"},
		New: func(raw json.RawMessage) (Sender, error) {
			var cfg struct{ ID string }
			json.Unmarshal(raw, &cfg) //nolint:errcheck // checked by the schema
			f, _ := fakes.Load(cfg.ID)
			if f == nil {
				return &fakeSender{f: &fakeOut{}}, nil // being checked, not used
			}
			return &fakeSender{f: f.(*fakeOut)}, nil
		},
	})
}

var fakes sync.Map // config id → *fakeOut

type fakeOut struct {
	mu     sync.Mutex
	made   int // senders that sent (their connection opened)
	closed int // of those, closed
	sends  int
	ctxs   []context.Context
	// send is what each Send does (n counts from 1); nil succeeds.
	send func(ctx context.Context, n int, m Outgoing) (Receipt, error)
}

func (f *fakeOut) counts() (made, closed, sends int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.made, f.closed, f.sends
}

// fakeSender "connects" on its first Send, as the real ones do.
type fakeSender struct {
	f      *fakeOut
	opened bool
}

func (s *fakeSender) Send(ctx context.Context, m Outgoing) (Receipt, error) {
	s.f.mu.Lock()
	if !s.opened {
		s.opened = true
		s.f.made++
	}
	s.f.sends++
	n := s.f.sends
	s.f.ctxs = append(s.f.ctxs, ctx)
	send := s.f.send
	s.f.mu.Unlock()
	if send == nil {
		return Receipt{ID: m.ID}, nil
	}
	return send(ctx, n, m)
}

func (s *fakeSender) Close() error {
	s.f.mu.Lock()
	if s.opened {
		s.f.closed++
	}
	s.f.mu.Unlock()
	return nil
}

// outEnv is a store with an Outbound over it.
type outEnv struct {
	t     *testing.T
	store *Store
	out   *Outbound
}

func newOutEnv(t *testing.T, o OutboundOptions) *outEnv {
	t.Helper()
	st := openStore(t, openBus(t))
	o.Store, o.Logger, o.Instance = st, quiet(), "test-1"
	p := NewOutbound(o)
	t.Cleanup(p.Close)
	return &outEnv{t: t, store: st, out: p}
}

// fake stores an outtest connector sol/name whose sender does send, with the extra config.
func (e *outEnv) fake(sol, name, extra string, send func(ctx context.Context, n int, m Outgoing) (Receipt, error)) *fakeOut {
	e.t.Helper()
	id := e.t.Name() + "/" + sol + "/" + name
	f := &fakeOut{send: send}
	fakes.Store(id, f)
	e.t.Cleanup(func() { fakes.Delete(id) })
	cfg := fmt.Sprintf(`{"id":%q%s}`, id, extra)
	if _, _, err := e.store.Put(context.Background(), Connector{Solution: sol, Name: name, Type: "outtest", Direction: DirectionOut, Config: json.RawMessage(cfg)}); err != nil {
		e.t.Fatal(err)
	}
	return f
}

var errFlaky = errors.New("connection refused")

// TestOutboundRetries: a failed connection or a timeout is attempted again, up to retry's
// attempts, with the last error returned; a refusal is not; the status counts both.
func TestOutboundRetries(t *testing.T) {
	e := newOutEnv(t, OutboundOptions{})
	ctx := context.Background()

	f := e.fake("demo", "flaky", `,"retry":{"attempts":3,"backoff":"1ms"}`, func(_ context.Context, n int, m Outgoing) (Receipt, error) {
		if n < 3 {
			return Receipt{}, fmt.Errorf("attempt %d: %w", n, errFlaky)
		}
		return Receipt{ID: m.ID}, nil
	})
	r, err := e.out.Publish(ctx, "demo", "flaky", Outgoing{Data: []byte("x")})
	if err != nil || r.ID == "" {
		t.Fatalf("publish: %+v, %v", r, err)
	}
	if made, _, sends := f.counts(); sends != 3 || made != 1 {
		t.Fatalf("%d sends by %d senders, want 3 by 1", sends, made)
	}
	// The same id on every attempt, so that a broker that got the first knows the next.
	var ids []string
	f.send = func(_ context.Context, n int, m Outgoing) (Receipt, error) {
		ids = append(ids, m.ID)
		if n < 5 {
			return Receipt{}, errFlaky
		}
		return Receipt{ID: m.ID}, nil
	}
	if _, err := e.out.Publish(ctx, "demo", "flaky", Outgoing{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("ids of the attempts %v", ids)
	}

	always := e.fake("demo", "down", `,"retry":{"attempts":4,"backoff":"1ms"}`, func(_ context.Context, n int, _ Outgoing) (Receipt, error) {
		return Receipt{}, fmt.Errorf("attempt %d: %w", n, errFlaky)
	})
	_, err = e.out.Publish(ctx, "demo", "down", Outgoing{Data: []byte("x")})
	var pe *PublishError
	if !errors.As(err, &pe) || pe.Attempts != 4 || !strings.Contains(err.Error(), "attempt 4: connection refused (4 attempts)") || pe.Timeout {
		t.Fatalf("always failing: %v", err)
	}
	if _, _, sends := always.counts(); sends != 4 {
		t.Fatalf("%d sends, want 4", sends)
	}

	refused := e.fake("demo", "refused", `,"retry":{"attempts":5,"backoff":"1ms"}`, func(context.Context, int, Outgoing) (Receipt, error) {
		return Receipt{}, permanent(errors.New("no stream takes the subject"))
	})
	_, err = e.out.Publish(ctx, "demo", "refused", Outgoing{Data: []byte("x")})
	if !errors.As(err, &pe) || pe.Attempts != 1 {
		t.Fatalf("refused: %v, want 1 attempt", err)
	}
	if _, _, sends := refused.counts(); sends != 1 {
		t.Fatalf("refused: %d sends, want 1", sends)
	}

	// The status of each, as this instance knows it.
	c, _ := e.store.Get("demo", "flaky")
	if st := e.out.Status(c); st.State != StateReady || st.Published != 2 || st.Failed != 0 || st.Instance != "test-1" {
		t.Errorf("flaky: %+v", st)
	}
	c, _ = e.store.Get("demo", "down")
	if st := e.out.Status(c); st.State != StateFailing || st.Failed != 1 || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("down: %+v", st)
	}
	// A change starts the counts afresh, as a new run of an inbound connector does.
	always.send = nil
	if _, err := e.out.Publish(ctx, "demo", "down", Outgoing{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if st := e.out.Status(c); st.State != StateReady || st.Published != 1 || st.Failed != 1 {
		t.Errorf("down, then up: %+v", st)
	}
}

// TestOutboundTimeBound: every attempt ends by the connector's timeout and by the caller's
// own deadline, whichever comes first, with an equal share of what is left for each.
func TestOutboundTimeBound(t *testing.T) {
	e := newOutEnv(t, OutboundOptions{})
	hang := func(ctx context.Context, _ int, _ Outgoing) (Receipt, error) {
		<-ctx.Done()
		return Receipt{}, ctx.Err()
	}
	f := e.fake("demo", "silent", `,"timeout":"3s","retry":{"attempts":3,"backoff":"1ms"}`, hang)
	start := time.Now()
	_, err := e.out.Publish(context.Background(), "demo", "silent", Outgoing{Data: []byte("x")})
	end := time.Now()
	var pe *PublishError
	if !errors.As(err, &pe) || !pe.Timeout || pe.Attempts != 3 {
		t.Fatalf("silent: %v, want a timeout after 3 attempts", err)
	}
	f.mu.Lock()
	first, _ := f.ctxs[0].Deadline()
	last, _ := f.ctxs[2].Deadline()
	f.mu.Unlock()
	// The first attempt had a third of the 3s (from when it began, at or after start); the
	// last ended with the publish, at its timeout.
	if d := first.Sub(start); d < time.Second-time.Millisecond || d >= 2*time.Second {
		t.Errorf("first attempt's share %s, want a third of 3s", d)
	}
	if last.After(end) {
		t.Errorf("last attempt's deadline %s past the publish's end", last.Sub(end))
	}

	// The caller's deadline, sooner than the timeout, bounds every attempt.
	g := e.fake("demo", "silent2", `,"timeout":"30s","retry":{"attempts":1}`, hang)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	callerDeadline, _ := ctx.Deadline()
	_, err = e.out.Publish(ctx, "demo", "silent2", Outgoing{Data: []byte("x")})
	if !errors.As(err, &pe) || !pe.Timeout {
		t.Fatalf("silent2: %v, want a timeout", err)
	}
	g.mu.Lock()
	dl, _ := g.ctxs[0].Deadline()
	g.mu.Unlock()
	if dl.After(callerDeadline) {
		t.Errorf("the attempt's deadline is %s past the caller's", dl.Sub(callerDeadline))
	}
}

// TestOutboundBusy: beyond the publishes a solution (or the instance) may have under way at
// once, one more is refused at once, naming the bound; another solution goes on.
func TestOutboundBusy(t *testing.T) {
	e := newOutEnv(t, OutboundOptions{PerSolution: 2, Total: 3})
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	hold := func(ctx context.Context, _ int, m Outgoing) (Receipt, error) {
		started <- struct{}{}
		select {
		case <-release:
			return Receipt{ID: m.ID}, nil
		case <-ctx.Done():
			return Receipt{}, ctx.Err()
		}
	}
	e.fake("a", "held", `,"timeout":"30s"`, hold)
	e.fake("b", "held", `,"timeout":"30s"`, hold)
	e.fake("c", "held", `,"timeout":"30s"`, hold)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, sol := range []string{"a", "a", "b"} {
		wg.Go(func() {
			_, err := e.out.Publish(context.Background(), sol, "held", Outgoing{Data: []byte("x")})
			errs <- err
		})
	}
	for range 3 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the held publishes did not start")
		}
	}
	var be *BusyError
	_, err := e.out.Publish(context.Background(), "a", "held", Outgoing{Data: []byte("x")})
	if !errors.As(err, &be) || !be.Solution || be.Limit != 2 || !strings.HasPrefix(err.Error(), "busy: 2 publishes of this solution") {
		t.Errorf("a's third: %v, want busy for the solution", err)
	}
	_, err = e.out.Publish(context.Background(), "c", "held", Outgoing{Data: []byte("x")})
	if !errors.As(err, &be) || be.Solution || be.Limit != 3 {
		t.Errorf("c's first with 3 under way: %v, want busy for the instance", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("held publish: %v", err)
		}
	}
	// Once they are done, there is room again.
	if _, err := e.out.Publish(context.Background(), "c", "held", Outgoing{Data: []byte("x")}); err != nil {
		t.Errorf("after: %v", err)
	}
}

// TestOutboundLookup: a connector is looked up in the caller's solution only: another
// solution's is the same error as none; an inbound one and a paused one are said so; data
// over 1 MiB is refused before any broker sees it.
func TestOutboundLookup(t *testing.T) {
	e := newOutEnv(t, OutboundOptions{})
	f := e.fake("a", "alerts", "", nil)
	if _, _, err := e.store.Put(context.Background(), Connector{Solution: "a", Name: "tick", Type: "cron", Topic: "ticks", Config: json.RawMessage(`{"schedule":"@hourly"}`)}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, errOther := e.out.Publish(ctx, "b", "alerts", Outgoing{Data: []byte("x")})
	_, errNone := e.out.Publish(ctx, "b", "nothing", Outgoing{Data: []byte("x")})
	if !errors.Is(errOther, ErrNoOutbound) || !errors.Is(errNone, ErrNoOutbound) {
		t.Fatalf("another solution's: %v; none: %v", errOther, errNone)
	}
	var ae *ArgError
	if _, err := e.out.Publish(ctx, "a", "tick", Outgoing{Data: []byte("x")}); !errors.As(err, &ae) || ae.Arg != "connector" || !strings.Contains(err.Error(), "inbound") {
		t.Fatalf("inbound: %v", err)
	}
	if _, err := e.out.Publish(ctx, "a", "alerts", Outgoing{Data: make([]byte, MaxMessageBytes+1)}); !errors.As(err, &ae) || ae.Arg != "data" {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := e.store.SetPaused(ctx, "a", "alerts", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.out.Publish(ctx, "a", "alerts", Outgoing{Data: []byte("x")}); !errors.Is(err, ErrPaused) {
		t.Fatalf("paused: %v", err)
	}
	if _, _, sends := f.counts(); sends != 0 {
		t.Fatalf("%d sends reached the broker", sends)
	}
}

// TestOutboundConnections: a connector's sender is made on first use and kept for the next
// publishes; closed when the connector changes (the next publish makes one with the new
// config), is paused or deleted, or goes unused for Idle; Close closes the rest.
func TestOutboundConnections(t *testing.T) {
	e := newOutEnv(t, OutboundOptions{Idle: 300 * time.Millisecond})
	ctx := context.Background()
	f := e.fake("demo", "alerts", "", nil)
	if made, _, _ := f.counts(); made != 0 {
		t.Fatalf("a sender made before any publish: %d", made)
	}
	for range 3 {
		if _, err := e.out.Publish(ctx, "demo", "alerts", Outgoing{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if made, closed, sends := f.counts(); made != 1 || closed != 0 || sends != 3 {
		t.Fatalf("made %d, closed %d, sends %d; want one sender for the three", made, closed, sends)
	}
	// Changed: closed, and the next publish uses a new one.
	c, _ := e.store.Get("demo", "alerts")
	c.Config = json.RawMessage(strings.Replace(string(c.Config), "}", `,"timeout":"4s"}`, 1))
	if _, _, err := e.store.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the changed connector's sender closed", func() bool { _, closed, _ := f.counts(); return closed == 1 })
	if _, err := e.out.Publish(ctx, "demo", "alerts", Outgoing{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if made, _, _ := f.counts(); made != 2 {
		t.Fatalf("made %d after the change, want 2", made)
	}
	// Unused for Idle: closed.
	eventually(t, "the idle sender closed", func() bool { _, closed, _ := f.counts(); return closed == 2 })
	// Paused, then deleted: closed each time.
	if _, err := e.out.Publish(ctx, "demo", "alerts", Outgoing{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.SetPaused(ctx, "demo", "alerts", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the paused connector's sender closed", func() bool { _, closed, _ := f.counts(); return closed == 3 })
	if _, err := e.store.SetPaused(ctx, "demo", "alerts", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.out.Publish(ctx, "demo", "alerts", Outgoing{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, "demo", "alerts"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted connector's sender closed", func() bool { _, closed, _ := f.counts(); return closed == 4 })
	if _, err := e.out.Publish(ctx, "demo", "alerts", Outgoing{Data: []byte("x")}); !errors.Is(err, ErrNoOutbound) {
		t.Fatalf("deleted: %v", err)
	}
	// Close closes what is open.
	g := e.fake("demo", "other", "", nil)
	if _, err := e.out.Publish(ctx, "demo", "other", Outgoing{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	e.out.Close()
	if _, closed, _ := g.counts(); closed != 1 {
		t.Fatalf("closed %d after Close", closed)
	}
	if _, err := e.out.Publish(ctx, "demo", "other", Outgoing{Data: []byte("x")}); err == nil {
		t.Fatal("a publish after Close went out")
	}
}

// TestOutboundConnectionsBound: a solution keeps at most Connections senders open on an
// instance: one more closes the one unused longest; with all in use it is refused as busy,
// while another solution goes on.
func TestOutboundConnectionsBound(t *testing.T) {
	e := newOutEnv(t, OutboundOptions{Connections: 2})
	ctx := context.Background()
	a := e.fake("demo", "a", "", nil)
	b := e.fake("demo", "b", "", nil)
	c := e.fake("demo", "c", "", nil)
	for _, name := range []string{"a", "b", "a", "c"} {
		if _, err := e.out.Publish(ctx, "demo", name, Outgoing{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	// c's took b's place: b was unused longest.
	eventually(t, "b's sender closed", func() bool { _, closed, _ := b.counts(); return closed == 1 })
	if _, closed, _ := a.counts(); closed != 0 {
		t.Fatalf("a's sender closed, though used after b's")
	}
	// With a and c held, b finds no room.
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	hold := func(ctx context.Context, _ int, m Outgoing) (Receipt, error) {
		started <- struct{}{}
		select {
		case <-release:
			return Receipt{ID: m.ID}, nil
		case <-ctx.Done():
			return Receipt{}, ctx.Err()
		}
	}
	a.mu.Lock()
	a.send = hold
	a.mu.Unlock()
	c.mu.Lock()
	c.send = hold
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, name := range []string{"a", "c"} {
		wg.Go(func() { e.out.Publish(ctx, "demo", name, Outgoing{Data: []byte("x")}) }) //nolint:errcheck // released below
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the held publishes did not start")
		}
	}
	_, err := e.out.Publish(ctx, "demo", "b", Outgoing{Data: []byte("x")})
	var be *BusyError
	if !errors.As(err, &be) || !be.Connections || be.Limit != 2 {
		t.Errorf("b with a and c in use: %v, want busy for connections", err)
	}
	e.fake("other", "x", "", nil)
	if _, err := e.out.Publish(ctx, "other", "x", Outgoing{Data: []byte("x")}); err != nil {
		t.Errorf("another solution: %v", err)
	}
	close(release)
	wg.Wait()
	if _, err := e.out.Publish(ctx, "demo", "b", Outgoing{Data: []byte("x")}); err != nil {
		t.Errorf("b once a and c are done: %v", err)
	}
}
