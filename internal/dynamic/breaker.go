package dynamic

import (
	"sync"
	"time"
)

// outcome is what a call tells its service's circuit breaker.
type outcome int

const (
	// success closes the circuit.
	success outcome = iota
	// failure counts towards opening it: unreachable, timed out, 5xx or garbage.
	failure
	// neutral says nothing about the service: the caller gave up first.
	neutral
)

// breaker is the circuit of one service. Closed, it lets every call through and counts
// consecutive failures; at the limit it opens and refuses calls until the cooldown is over;
// then it lets one trial call through (half open), whose success closes it and whose failure
// opens it again. Its lock is held only to read and update its state, never around I/O.
type breaker struct {
	mu        sync.Mutex
	failures  int       // consecutive failures while closed
	openUntil time.Time // zero when closed
	trial     bool      // a trial call is under way
}

// allow reports whether a call may go ahead at now.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return true
	case b.trial || now.Before(b.openUntil):
		return false
	}
	b.trial = true
	return true
}

// record updates the circuit with the outcome of an allowed call.
func (b *breaker) record(o outcome, now time.Time, limit int, cooldown time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasTrial := b.trial
	b.trial = false
	switch o {
	case success:
		b.failures, b.openUntil = 0, time.Time{}
	case failure:
		if wasTrial || !b.openUntil.IsZero() {
			b.openUntil = now.Add(cooldown)
			return
		}
		if b.failures++; b.failures >= limit {
			b.failures, b.openUntil = 0, now.Add(cooldown)
		}
	case neutral:
		// A trial that proved nothing leaves the circuit open but lets the next call try.
	}
}

// breaker returns the circuit of the service at key, making it on first use.
func (iv *Invoker) breaker(key string) *breaker {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	b := iv.breakers[key]
	if b == nil {
		b = &breaker{}
		iv.breakers[key] = b
	}
	return b
}
