package connector

import (
	"context"
	"sync"
	"time"
)

// Lagger is a Source that can tell how far behind it is while it runs: how many messages its
// source holds that it has not taken yet. ok is false when it cannot tell now (not
// connected, a broker that does not count). The manager asks at most every lagEvery, and
// shows the answer as the status's lag.
type Lagger interface {
	Lag(ctx context.Context) (n uint64, ok bool)
}

const (
	// lagEvery is how often a running connector's lag is asked for, and its pending events
	// counted when no message comes to count them.
	lagEvery = 3 * time.Second
	// lagTimeout bounds one asking.
	lagTimeout = 2 * time.Second
)

// lagProbe makes a source a Lagger: Run sets how to ask its live connection, and clears it
// on the way out. The zero value cannot tell.
type lagProbe struct {
	mu  sync.Mutex
	ask func(ctx context.Context) (uint64, bool)
}

// setLag sets how to ask for the lag (nil: cannot tell).
func (p *lagProbe) setLag(ask func(ctx context.Context) (uint64, bool)) {
	p.mu.Lock()
	p.ask = ask
	p.mu.Unlock()
}

// Lag asks the running source for its lag.
func (p *lagProbe) Lag(ctx context.Context) (uint64, bool) {
	p.mu.Lock()
	ask := p.ask
	p.mu.Unlock()
	if ask == nil {
		return 0, false
	}
	return ask(ctx)
}

// watch keeps the status's lag (when l is not nil) and pending events fresh while the
// connector runs, until ctx ends: also while no message comes to count them on the way.
func (r *runner) watch(ctx context.Context, l Lagger) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		running := r.status.State == StateRunning
		r.mu.Unlock()
		if !running {
			continue
		}
		if g := r.gauge; g != nil {
			cctx, cancel := context.WithTimeout(ctx, lagTimeout)
			err := g.refresh(cctx)
			cancel()
			if _, pending, known := g.behind(); err == nil {
				r.set(func(s *Status) {
					s.Pending = nil
					if known {
						s.Pending = &pending
					}
				})
			}
		}
		if l == nil {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, lagTimeout)
		n, ok := l.Lag(actx)
		cancel()
		r.set(func(s *Status) {
			switch {
			case s.State != StateRunning:
				s.Lag = nil // ended meanwhile: what was asked is stale
			case ok:
				s.Lag = &n
			default:
				s.Lag = nil
			}
		})
	}
}
