package connector

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Bounds of the events a connector's handlers may fall behind by, before it stops taking
// messages from its source: while they are reached, Publish waits before storing, so the
// source stops pulling (nothing is acknowledged to it) rather than the hub buffering without end.
const (
	// DefaultMaxPending is a connector's bound when neither it nor the server sets one.
	DefaultMaxPending = 10000
	// DefaultMaxPendingPerSolution bounds what all of a solution's topics together may hold
	// before its connectors wait, when the server sets no bound.
	DefaultMaxPendingPerSolution = 100000
	// MaxMaxPending is the largest max_pending a connector may ask for.
	MaxMaxPending = 1_000_000
	// countEvery is how often at most a running connector counts its pending events.
	countEvery = 250 * time.Millisecond
)

// CountPending counts, by topic, the events of a solution stored and not yet done by every
// handler they reached; ok is false when it cannot tell (nothing is then held back).
// (*events.PendingCounter).Count is one.
type CountPending func(ctx context.Context, sol string) (byTopic map[string]uint64, ok bool, err error)

// Bounds are the server's bounds on pending events (see UseBounds).
type Bounds struct {
	// MaxPending is a connector's bound when its own max_pending is 0; 0 is DefaultMaxPending.
	MaxPending int
	// MaxPendingPerSolution bounds the pending events of all of a solution's topics together:
	// beyond it every connector of the solution waits, whatever its own bound. 0 is
	// DefaultMaxPendingPerSolution.
	MaxPendingPerSolution int
	// Count counts them; nil holds nothing back.
	Count CountPending
}

func (b Bounds) withDefaults() Bounds {
	if b.MaxPending <= 0 {
		b.MaxPending = DefaultMaxPending
	}
	if b.MaxPendingPerSolution <= 0 {
		b.MaxPendingPerSolution = DefaultMaxPendingPerSolution
	}
	return b
}

// tally counts the events this instance's connectors stored, ever, by solution and by
// solution and topic: what a gauge adds to its count until the next one.
type tally struct {
	mu sync.Mutex
	n  map[string]uint64
}

func newTally() *tally { return &tally{n: map[string]uint64{}} }

func (t *tally) add(sol, topic string, n int) {
	t.mu.Lock()
	t.n[sol] += uint64(n)
	t.n[sol+" "+topic] += uint64(n)
	t.mu.Unlock()
}

func (t *tally) get(sol, topic string) (bySolution, byTopic uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[sol], t.n[sol+" "+topic]
}

// keep forgets the solutions for which keep is false.
func (t *tally) keep(keep func(sol string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.n {
		sol, _, _ := strings.Cut(k, " ")
		if !keep(sol) {
			delete(t.n, k)
		}
	}
}

// gauge knows, for one running connector, how many events its topic and its solution hold
// pending: as counted at most every countEvery, plus what this instance's connectors stored
// since (on the topic, and on all the solution's topics), so that between counts it
// over-estimates (handlers only take events away), and the connectors of one instance store
// past a bound by one batch each at most.
type gauge struct {
	count      CountPending
	stored     *tally
	sol, topic string
	bound      uint64 // of the topic
	solBound   uint64 // of the solution
	now        func() time.Time
	wait       func(ctx context.Context, d time.Duration) error

	mu                 sync.Mutex
	at                 time.Time // when the last count began; zero: never counted
	topicN, totalN     uint64    // as counted
	baseSol, baseTopic uint64    // stored, by the tally, when counted
	known              bool      // the count can be told (see CountPending)
	warnedNo           bool      // that it cannot (hold's alone)
}

func newGauge(b Bounds, c Connector, stored *tally) *gauge {
	if b.Count == nil {
		return nil
	}
	b = b.withDefaults()
	bound := c.MaxPending
	if bound <= 0 {
		bound = b.MaxPending
	}
	return &gauge{count: b.Count, stored: stored, sol: c.Solution, topic: c.Topic, bound: uint64(bound), solBound: uint64(b.MaxPendingPerSolution),
		now: time.Now, wait: sleepCtx}
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// refresh counts again unless the last count is younger than countEvery.
func (g *gauge) refresh(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.at.IsZero() && now.Sub(g.at) < countEvery {
		return nil
	}
	// Read before counting: what is stored meanwhile is added, even if counted too.
	baseSol, baseTopic := g.stored.get(g.sol, g.topic)
	byTopic, ok, err := g.count(ctx, g.sol)
	if err != nil {
		return fmt.Errorf("count the pending events of topic %s: %w", g.topic, err)
	}
	g.at, g.known = now, ok
	g.baseSol, g.baseTopic = baseSol, baseTopic
	g.topicN, g.totalN = byTopic[g.topic], 0
	for _, n := range byTopic {
		g.totalN += n
	}
	return nil
}

// added counts n events the connector stored.
func (g *gauge) added(n int) { g.stored.add(g.sol, g.topic, n) }

// behind is why the connector must wait now ("" when it need not), and its topic's pending
// events as last known.
func (g *gauge) behind() (why string, pending uint64, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.known {
		return "", 0, false
	}
	bySol, byTopic := g.stored.get(g.sol, g.topic)
	topicN, totalN := g.topicN+since(byTopic, g.baseTopic), g.totalN+since(bySol, g.baseSol)
	switch {
	case topicN >= g.bound:
		return fmt.Sprintf("handlers behind: %d events pending on topic %s (max_pending %d)", topicN, g.topic, g.bound), topicN, true
	case totalN >= g.solBound:
		return fmt.Sprintf("handlers behind: %d events pending on the topics of solution %s (the server's bound per solution is %d)", totalN, g.sol, g.solBound), topicN, true
	}
	return "", topicN, true
}

// since is n less base; 0 when the tally forgot base (the solution stopped running here).
func since(n, base uint64) uint64 {
	if n < base {
		return 0
	}
	return n - base
}

// nextCount is how long until a count may be made again.
func (g *gauge) nextCount() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(countEvery-g.now().Sub(g.at), time.Millisecond)
}

// limit is the bound the connector runs under: its topic's, or the solution's when lower.
func (g *gauge) limit() uint64 { return min(g.bound, g.solBound) }

// hold waits while the connector's handlers are behind, counting again every countEvery;
// it says so in the status meanwhile. It returns ctx's error when ctx ends first.
func (r *runner) hold(ctx context.Context) error {
	g := r.gauge
	if g == nil {
		return nil
	}
	held := false
	for {
		if err := g.refresh(ctx); err != nil {
			return err
		}
		why, pending, known := g.behind()
		if !known {
			r.set(func(s *Status) { s.Held, s.HeldReason, s.Pending = false, "", nil })
			if !g.warnedNo {
				g.warnedNo = true
				r.m.log.Warn("pending events cannot be counted (the events stream keeps them by limits): max_pending is not applied",
					"solution", r.c.Solution, "connector", r.c.Name)
			}
			return nil
		}
		r.set(func(s *Status) {
			s.Held, s.HeldReason, s.Pending = why != "", why, &pending
		})
		if why == "" {
			if held {
				r.m.log.Debug("connector takes messages again", "solution", r.c.Solution, "connector", r.c.Name, "pending", pending)
			}
			return nil
		}
		if !held {
			held = true
			r.m.log.Debug("connector waits: "+why, "solution", r.c.Solution, "connector", r.c.Name)
		}
		if err := g.wait(ctx, g.nextCount()); err != nil {
			return err
		}
	}
}
