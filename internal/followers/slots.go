// Package followers bounds live followers (a log follow, an event tail): each holds a
// connection and a consumer for as long as its client stays, so their number is capped per
// solution and in all, and they all end together when the server stops.
package followers

import (
	"context"
	"sync"
	"time"
)

// Slots counts live followers by solution.
type Slots struct {
	perSolution, all int
	tooMany, full    error

	mu      sync.Mutex
	by      map[string]int
	total   int
	ending  chan struct{}
	endOnce sync.Once
}

// New returns slots for at most perSolution followers of one solution and all in all; Take
// answers tooMany when the solution has its share and full when the server has.
func New(perSolution, all int, tooMany, full error) *Slots {
	return &Slots{perSolution: perSolution, all: all, tooMany: tooMany, full: full, by: map[string]int{}, ending: make(chan struct{})}
}

// Take takes one slot for sol; release gives it back (once). New's tooMany or full when none
// is free.
func (s *Slots) Take(sol string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.by[sol] >= s.perSolution:
		return nil, s.tooMany
	case s.total >= s.all:
		return nil, s.full
	}
	s.by[sol]++
	s.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.by[sol]--; s.by[sol] == 0 {
				delete(s.by, sol)
			}
			s.total--
		})
	}, nil
}

// Ending is closed once End was called: followers return when it is.
func (s *Slots) Ending() <-chan struct{} { return s.ending }

// End ends every follower (the server is stopping: they would hold its shutdown).
func (s *Slots) End() { s.endOnce.Do(func() { close(s.ending) }) }

// Pump hands each item of got to send, and calls idle when none came for heartbeat, until
// ctx ends, the slots end (End), got is closed (nil) or send or idle fails (its error).
func Pump[T any](ctx context.Context, s *Slots, heartbeat time.Duration, got <-chan T, send func(T) error, idle func() error) error {
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Ending():
			return nil
		case v, ok := <-got:
			if !ok {
				return nil
			}
			if err := send(v); err != nil {
				return err
			}
			tick.Reset(heartbeat)
		case <-tick.C:
			if err := idle(); err != nil {
				return err
			}
		}
	}
}
