package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Every message's body is {"k": kind, "i": number}: kind t (throughput), s (steady) or p
// (probe, sent until the consumer is seen reading).
const (
	kindThroughput = "t"
	kindSteady     = "s"
	kindProbe      = "p"
)

type payload struct {
	K string `json:"k"`
	I int    `json:"i"`
}

func body(kind string, i int) []byte { return fmt.Appendf(nil, `{"k":%q,"i":%d}`, kind, i) }

// msgID is a message's id where the broker carries one (it becomes the event's id).
func msgID(kind string, i int) string { return kind + "-" + strconv.Itoa(i) }

type throughput struct {
	rate    float64 // msgs/s: received / (last received - first publish)
	pubRate float64 // msgs/s the publishers sent at
	lost    int     // not received when the run stalled
}

type latency struct {
	p50, p99, min float64 // ms
	n, lost       int
}

func (l latency) String() string {
	s := fmt.Sprintf("p50 %.3f ms, p99 %.3f ms, min %.3f ms", l.p50, l.p99, l.min)
	if l.lost > 0 {
		s += fmt.Sprintf(", %d of %d lost", l.lost, l.n+l.lost)
	}
	return s
}

func latencyOf(ms []float64, lost int) latency {
	return latency{p50: pct(ms, 0.50), p99: pct(ms, 0.99), min: pct(ms, 0), n: len(ms), lost: lost}
}

type rawResult struct {
	thr throughput
	lat latency
}

// phase is one raw run: which message of it arrived when.
type phase struct {
	kind string
	n    int
	recv []atomic.Int64 // unix ns when message i first arrived; 0 until then
	got  atomic.Int64
	last atomic.Int64 // unix ns of the latest first arrival
	done chan struct{}
}

func newPhase(kind string, n int) *phase {
	return &phase{kind: kind, n: n, recv: make([]atomic.Int64, n), done: make(chan struct{})}
}

// recorder is the raw consumer's handling of a message: it notes the arrival; the consumer
// acknowledges the message once this returns, as the connector does once it stored it.
type recorder struct {
	probed atomic.Bool
	cur    atomic.Pointer[phase]
}

func (r *recorder) got(b []byte) {
	now := time.Now().UnixNano()
	var p payload
	if json.Unmarshal(b, &p) != nil {
		return
	}
	if p.K == kindProbe {
		r.probed.Store(true)
		return
	}
	ph := r.cur.Load()
	if ph == nil || p.K != ph.kind || p.I < 0 || p.I >= ph.n {
		return
	}
	if !ph.recv[p.I].CompareAndSwap(0, now) {
		return // delivered again: counted once
	}
	ph.last.Store(now)
	if ph.got.Add(1) == int64(ph.n) {
		close(ph.done)
	}
}

// wait returns once every message of the phase arrived, or none arrived for stall.
func (ph *phase) wait(ctx context.Context, stall time.Duration) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	seen, since := int64(-1), time.Now()
	for {
		select {
		case <-ph.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if g := ph.got.Load(); g != seen {
				seen, since = g, time.Now()
			} else if time.Since(since) > stall {
				return nil
			}
		}
	}
}

// rawMeasure runs the broker's own client on d: N messages as fast as the publishers go, then
// the steady rate.
func rawMeasure(ctx context.Context, c config, d destination) (rawResult, error) {
	rec := &recorder{}
	stop, err := d.consume(ctx, c.inFlight, rec.got)
	if err != nil {
		return rawResult{}, fmt.Errorf("consume: %w", err)
	}
	defer stop()
	if err := probe(ctx, d, probeTimeout, func(context.Context) (bool, error) { return rec.probed.Load(), nil }); err != nil {
		return rawResult{}, err
	}

	ph := newPhase(kindThroughput, c.n)
	rec.cur.Store(ph)
	start := time.Now()
	if err := publishAll(ctx, c.n, c.clients, 0, start, func(i int) error {
		return d.publish(ctx, msgID(kindThroughput, i), body(kindThroughput, i))
	}); err != nil {
		return rawResult{}, fmt.Errorf("publish: %w", err)
	}
	pubTime := time.Since(start)
	if err := ph.wait(ctx, c.stall); err != nil {
		return rawResult{}, err
	}
	got := int(ph.got.Load())
	thr := throughput{pubRate: float64(c.n) / pubTime.Seconds(), lost: c.n - got}
	if got > 0 {
		thr.rate = float64(got) / time.Duration(ph.last.Load()-start.UnixNano()).Seconds()
	}
	fmt.Printf("raw throughput:          %6.0f msgs/s (published at %.0f msgs/s)%s\n", thr.rate, thr.pubRate, lostNote(thr.lost, c.n))

	n := c.steadyN()
	ph = newPhase(kindSteady, n)
	rec.cur.Store(ph)
	sent := make([]int64, n)
	if err := publishAll(ctx, n, c.clients, c.rate, time.Now(), func(i int) error {
		sent[i] = time.Now().UnixNano()
		return d.publish(ctx, msgID(kindSteady, i), body(kindSteady, i))
	}); err != nil {
		return rawResult{}, fmt.Errorf("publish steady: %w", err)
	}
	if err := ph.wait(ctx, c.stall); err != nil {
		return rawResult{}, err
	}
	ms := make([]float64, 0, n)
	for i := range n {
		if r := ph.recv[i].Load(); r != 0 {
			ms = append(ms, float64(r-sent[i])/1e6)
		}
	}
	lat := latencyOf(ms, n-len(ms))
	fmt.Printf("raw steady latency:      %s (publish -> consumer has it)\n", lat)
	return rawResult{thr: thr, lat: lat}, nil
}

func lostNote(lost, n int) string {
	if lost == 0 {
		return ""
	}
	return fmt.Sprintf(", %d of %d lost", lost, n)
}

type sbResult struct {
	thr      throughput
	lat      latency
	rejected uint64
}

// The hub's side, deployed by bench/connectors.sh in solution conn-<broker>: the connector's
// topic conn.<broker> (handler count: throughput counts under "count", steady stores its
// start time under "lat:<i>", a probe sets "probe"), and sync topics conn.read, conn.dump and
// conn.clock.
func solutionOf(broker string) string { return "conn-" + broker }
func topicOf(broker string) string    { return "conn." + broker }

// switchboardMeasure creates a connector of d's broker feeding the broker's solution, then
// runs what rawMeasure runs, the handler's Keystore telling what arrived.
func switchboardMeasure(ctx context.Context, c config, h *hub, broker, name string, d destination) (sbResult, error) {
	sol := solutionOf(broker)
	for _, key := range []string{"count", "probe"} {
		if n, err := h.count(ctx, sol, key); err != nil {
			return sbResult{}, err
		} else if n != 0 {
			return sbResult{}, fmt.Errorf("solution %s holds %q from an earlier run: run on a fresh hub (bench/connectors.sh)", sol, key)
		}
	}
	typ, cfg := d.connector(c.inFlight)
	if err := h.createConnector(ctx, sol, name, typ, topicOf(broker), cfg); err != nil {
		return sbResult{}, err
	}
	defer h.deleteConnector(context.WithoutCancel(ctx), sol, name) //nolint:errcheck // the hub goes with the bench
	if err := probe(ctx, d, probeTimeout, func(ctx context.Context) (bool, error) {
		n, err := h.count(ctx, sol, "probe")
		return n > 0, err
	}); err != nil {
		st, _ := h.connectorStatus(ctx, sol, name)
		return sbResult{}, fmt.Errorf("%w (connector %s: %s %s)", err, name, st.State, st.LastError)
	}

	start := time.Now()
	if err := publishAll(ctx, c.n, c.clients, 0, start, func(i int) error {
		return d.publish(ctx, msgID(kindThroughput, i), body(kindThroughput, i))
	}); err != nil {
		return sbResult{}, fmt.Errorf("publish: %w", err)
	}
	pubTime := time.Since(start)
	got, end, err := h.waitCount(ctx, sol, "count", c.n, c.stall)
	if err != nil {
		return sbResult{}, err
	}
	thr := throughput{pubRate: float64(c.n) / pubTime.Seconds(), lost: c.n - got}
	if got > 0 {
		thr.rate = float64(got) / end.Sub(start).Seconds()
	}
	st, err := h.connectorStatus(ctx, sol, name)
	if err != nil {
		return sbResult{}, err
	}
	fmt.Printf("switchboard throughput:  %6.0f msgs/s (published at %.0f msgs/s; connector received %d, published %d, rejected %d)%s\n",
		thr.rate, thr.pubRate, st.Received, st.Published, st.Rejected, lostNote(thr.lost, c.n))

	offset, halfRTT, err := h.clockOffset(ctx, sol)
	if err != nil {
		return sbResult{}, err
	}
	n := c.steadyN()
	sent := make([]int64, n)
	if err := publishAll(ctx, n, c.clients, c.rate, time.Now(), func(i int) error {
		sent[i] = time.Now().UnixNano()
		return d.publish(ctx, msgID(kindSteady, i), body(kindSteady, i))
	}); err != nil {
		return sbResult{}, fmt.Errorf("publish steady: %w", err)
	}
	starts, err := h.handlerStarts(ctx, sol, n, c.stall)
	if err != nil {
		return sbResult{}, err
	}
	ms := make([]float64, 0, n)
	for i, s := range starts {
		if !math.IsNaN(s) {
			ms = append(ms, (offset+s*1e9-float64(sent[i]))/1e6)
		}
	}
	lat := latencyOf(ms, n-len(ms))
	fmt.Printf("switchboard latency:     %s (publish -> handler starts; clock offset +-%.3f ms)\n", lat, halfRTT/1e6)
	if st, err = h.connectorStatus(ctx, sol, name); err != nil {
		return sbResult{}, err
	}
	return sbResult{thr: thr, lat: lat, rejected: st.Rejected}, nil
}

// probe sends probe messages, every 200ms, until ready says the consumer has read one.
func probe(ctx context.Context, d destination, timeout time.Duration, ready func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for i := 0; ; i++ {
		if err := d.publish(ctx, msgID(kindProbe, i), body(kindProbe, i)); err != nil {
			return fmt.Errorf("publish probe: %w", err)
		}
		for next := time.Now().Add(200 * time.Millisecond); time.Now().Before(next); {
			ok, err := ready(ctx)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no probe came through in %s", timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// publishAll runs pub(0..n-1) on `clients` workers, as fast as they go, or paced to rate/s in
// all from start (a missed slot is sent late, not skipped).
func publishAll(ctx context.Context, n, clients, rate int, start time.Time, pub func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	go func() {
		defer close(work)
		for i := 0; i < n; i++ {
			if rate > 0 {
				if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case work <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := pub(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
