package script

import (
	"fmt"
	"sync/atomic"
)

// The engine's memory pool bounds what all runs together may hold: each run's limit bounds
// one run, but N runs could otherwise hold N times it. A run draws from the pool as its
// estimate (budget.go) grows, in chunks so the hot path stays a subtraction, and gives it all
// back when it ends; bytes the caller holds for a run (Run.Held, a raw request body) are drawn
// for the whole run. A run the pool cannot serve stops with LimitServerMemory: it is not at
// fault, and may be tried again once other runs have ended.

// DefaultRunsMemory is Options.RunsMemory's default.
const DefaultRunsMemory = 256 << 20

const (
	// poolChunk is the least a run draws at once; a run that never allocates draws nothing.
	poolChunk = 256 << 10
	// maxUnwalked is how much a run may charge since its last walk (besides a quarter of what
	// that walk found) before it walks rather than draw more.
	maxUnwalked = 1 << 20
)

type memPool struct {
	size int64 // <= 0: unbounded
	used atomic.Int64
}

// take draws n bytes, or nothing if they are not there.
func (p *memPool) take(n int64) bool {
	if n <= 0 {
		return true
	}
	if p.size <= 0 {
		p.used.Add(n)
		return true
	}
	for {
		u := p.used.Load()
		if u+n > p.size {
			return false
		}
		if p.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (p *memPool) give(n int64) {
	if n > 0 {
		p.used.Add(-n)
	}
}

// drawTo makes the run's share of the pool at least need bytes, with a chunk to spare when
// the pool has it. It reports false when the pool cannot give even need.
func (r *run) drawTo(need int64) bool {
	if need <= r.drawn {
		return true
	}
	pool := &r.st.e.pool
	chunk := max(poolChunk, r.drawn/4)
	want := (need + chunk + poolChunk - 1) / poolChunk * poolChunk
	if pool.take(want - r.drawn) {
		r.drawn = want
		return true
	}
	if pool.take(need - r.drawn) {
		r.drawn = need
		return true
	}
	return false
}

// trimTo gives back what the run's share has beyond need and a chunk or two (after a walk
// found the run holding less than its estimate).
func (r *run) trimTo(need int64) {
	keep := need + max(poolChunk, need/4)
	if r.drawn > keep+poolChunk {
		r.st.e.pool.give(r.drawn - keep)
		r.drawn = keep
	}
}

// topUp admits pending bytes when only the run's share of the pool stands in their way: no
// walk is due and they fit under the walk's ceiling. It reports false when a walk must decide.
func (r *run) topUp(pending int64) bool {
	sum := r.measured + r.pinned + r.sinceWalk
	if r.walkIn <= 0 || sum+pending > r.next || sum+pending <= r.drawn {
		return false
	}
	// Most of what the run has charged since its walk may be tick weight, an upper bound: past
	// a point a walk is due rather than more of the pool, or a few looping runs would hold it
	// all. Walks stay amortized: one per quarter of what the run holds.
	if r.sinceWalk > max(maxUnwalked, r.measured/4) {
		return false
	}
	if !r.drawTo(sum + pending) {
		return false // a walk may find garbage to give back
	}
	r.left = min(r.next, r.drawn) - sum - pending
	return true
}

// room is what the run may still charge before its next walk, its pool share aside.
func (r *run) room() int64 {
	return r.next - r.measured - r.pinned - r.sinceWalk
}

// returnShare gives back everything the run drew; the run has ended.
func (r *run) returnShare() {
	r.st.e.pool.give(r.drawn + r.heldOut)
	r.drawn, r.heldOut = 0, 0
}

// poolError is the error of a run the pool cannot serve.
func (r *run) poolError(asked int64) *LimitError {
	p := &r.st.e.pool
	return &LimitError{Limit: LimitServerMemory, Value: formatBytes(p.size), Detail: fmt.Sprintf(
		"the runs in progress hold %s; this run asked for %s more", formatBytes(p.used.Load()), formatBytes(asked))}
}
