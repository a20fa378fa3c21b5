package script

import (
	"fmt"
	"time"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// Memory accounting. gopher-lua has no allocation hook, so a run's memory is estimated:
//
//   - measured: what the last walk of the run's reachable values found (measure.go);
//   - pinned:   buffers Go code is building for the script right now;
//   - sinceWalk: bytes charged by budgeted operations (concat, string.rep, ...) and the tick
//     weight of the code run since the walk (an upper bound of what it can have allocated).
//
// Their sum is an upper bound of what the run holds. When it passes nextWalk, the run is
// walked again: garbage drops out, and if what is really reachable (plus the request in hand)
// is over the limit, the run fails. nextWalk is the limit, or measured + limit/4 when the run
// is already close to it, so walks stay amortized and a run never holds more than 1.25× its
// limit. Between walks, left = min(nextWalk, the run's share of the engine's pool) - the sum.
const (
	// weightBytes is what one unit of tick weight (a table, field, closure, assignment or call
	// in a body) is taken to allocate.
	weightBytes = 128
	// checkEvery is how many ticks pass between checks of the deadline, the context and the
	// watchdog's stop.
	checkEvery = 256
	// minWalkEvery is the least number of ticks between two periodic walks; a walk also waits
	// for twice as many ticks as it visited items, which keeps its cost amortized.
	minWalkEvery = 16 << 10
	// callFrameBytes is the size of one frame of a coroutine's call stack.
	callFrameBytes = 80
	// maxCharge caps one request so the arithmetic cannot overflow.
	maxCharge = 1 << 60
	// workPerStep is how many units of work inside one library call (pattern matching,
	// sorting) count as one step.
	workPerStep = 1024
	// bytesPerUnit is how many bytes compared or scanned count as one unit of work.
	bytesPerUnit = 64
	// checkBytes is how many bytes charged or held pass between two checks of the deadline.
	checkBytes = 1 << 20
)

func (r *run) resetBudget() {
	r.measured, r.pinned, r.sinceWalk = 0, 0, 0
	r.next = r.limits.Memory
	r.left = 0 // nothing drawn from the engine's pool yet (mempool.go)
	r.walkIn = minWalkEvery
	r.bytesIn = checkBytes
	r.allocBase = r.st.e.allocs.Load()
	r.mem.Store(0)
	r.peak = 0
}

// charge admits n bytes about to be allocated for a value the script will hold. A request
// that cannot fit even after a fresh walk fails the run before anything is allocated.
func (r *run) charge(L *lua.LState, n int64) {
	if n <= 0 {
		return
	}
	if n > maxCharge {
		n = maxCharge
	}
	if r.left < n {
		r.reconcile(L, n)
	} else {
		r.left -= n
	}
	r.sinceWalk += n
	r.spendBytes(L, n)
}

// hold admits n bytes of a buffer Go code builds for the script; release or settle it.
func (r *run) hold(L *lua.LState, n int64) {
	if n <= 0 {
		return
	}
	if n > maxCharge {
		n = maxCharge
	}
	if r.left < n {
		r.reconcile(L, n)
	} else {
		r.left -= n
	}
	r.pinned += n
	r.spendBytes(L, n)
}

// spendBytes counts bytes a library call is about to produce: building them takes time in
// their size, so every checkBytes of them the deadline is checked, inside the call.
func (r *run) spendBytes(L *lua.LState, n int64) {
	r.bytesIn -= n
	if r.bytesIn < 0 {
		r.bytesIn = checkBytes
		r.check(L)
	}
}

// release gives back held bytes that were not kept.
func (r *run) release(n int64) {
	r.pinned -= n
	r.left += n
}

// settle turns held bytes into kept ones: the buffer became a value of length kept.
func (r *run) settle(held, kept int64) {
	r.pinned -= held
	r.sinceWalk += kept
	r.left += held - kept
}

// reconcile walks the run and admits pending more bytes, or fails the run.
func (r *run) reconcile(L *lua.LState, pending int64) {
	if r.err != nil {
		r.reraise(L)
	}
	if r.topUp(pending) {
		return
	}
	r.walk(L, pending)
}

// walk measures what the run holds and admits pending more bytes, or fails the run.
func (r *run) walk(L *lua.LState, pending int64) {
	measured, items := r.st.w.measure(r)
	if r.st.w.stopped {
		r.fail(L, r.st.sig.Err())
	}
	r.measured = measured
	r.sinceWalk = 0
	r.allocBase = r.st.e.allocs.Load()
	r.walkIn = max(minWalkEvery, 2*items)
	total := r.measured + r.pinned + pending
	r.mem.Store(total)
	r.peak = max(r.peak, total)
	limit := r.limits.Memory
	if total > limit {
		detail := "holding " + formatBytes(r.measured+r.pinned)
		if pending > 0 {
			detail = fmt.Sprintf("%s and asking for %s more", detail, formatBytes(pending))
		}
		r.fail(L, newLimitError(r.limits, LimitMemory, detail))
	}
	r.next = max(limit, total+limit/4)
	if !r.drawTo(total) {
		r.fail(L, r.poolError(total-r.drawn))
	}
	r.trimTo(total)
	r.left = min(r.next, r.drawn) - total
}

// slowTick does what a tick does only now and then: checks and walks.
func (r *run) slowTick(L *lua.LState) {
	if r.err != nil {
		r.reraise(L)
	}
	if r.steps > r.limits.Steps {
		r.fail(L, newLimitError(r.limits, LimitSteps, ""))
	}
	if r.checkIn <= 0 {
		r.checkIn = checkEvery
		r.check(L)
	}
	if r.left < 0 || r.walkIn <= 0 {
		r.reconcile(L, 0)
	}
	r.mem.Store(r.measured + r.pinned + r.sinceWalk)
	r.peak = max(r.peak, r.measured+r.pinned+r.sinceWalk)
}

// spendWork counts units of work done inside one library call that runs no Lua code of its
// own (a matcher step, a comparison, bytesPerUnit bytes compared); every workPerStep units are
// a step and, now and then, a check of the deadline.
func (r *run) spendWork(L *lua.LState, n *int, units int) {
	*n += units
	if *n < workPerStep {
		return
	}
	steps := *n / workPerStep
	*n %= workPerStep
	r.steps += int64(steps)
	r.checkIn -= int64(steps) * (checkEvery / 16)
	if r.checkIn <= 0 || r.steps > r.limits.Steps {
		r.slowTick(L)
	}
}

// check ends the run if the watchdog stopped it, its context ended or its time is up.
func (r *run) check(L *lua.LState) {
	if err := r.stopReason(); err != nil {
		r.fail(L, err)
	}
	// The process allocated more since the last walk than the estimate leaves room for:
	// the estimate may be low (see watchdog.go).
	if room := r.next - r.measured - r.pinned; room > 0 {
		if a := r.st.e.allocs.Load(); a > r.allocBase && a-r.allocBase > uint64(room) {
			r.reconcile(L, 0)
		}
	}
}

// stopReason is why the run must end now, or nil: the watchdog stopped it, its context ended
// or its time is up.
func (r *run) stopReason() error {
	if le := r.stop.Load(); le != nil {
		return le
	}
	if err := r.st.sig.Err(); err != nil {
		return err
	}
	select {
	case <-r.done:
		return r.ctx.Err()
	default:
	}
	if time.Now().After(r.deadline) {
		return newLimitError(r.limits, LimitTime, "")
	}
	return nil
}

// finalCheck walks a run that ended well if its estimate came near the limit, so a short run
// cannot finish holding more than its limit between two checks.
func (r *run) finalCheck() error {
	if r.measured+r.pinned+r.sinceWalk <= r.limits.Memory/4 {
		return nil
	}
	measured, _ := r.st.w.measure(r)
	if r.st.w.stopped {
		return r.st.sig.Err()
	}
	if measured > r.limits.Memory {
		return newLimitError(r.limits, LimitMemory, "holding "+formatBytes(measured)+" at the end")
	}
	return nil
}

// fail ends the run with err: it raises now, and every pcall, coroutine boundary and later
// tick raises again, so no script can catch the end of its run.
func (r *run) fail(L *lua.LState, err error) {
	if r.err == nil {
		r.err = err
	}
	r.checkIn = 0
	r.reraise(L)
}

func (r *run) reraise(L *lua.LState) {
	L.RaiseError("%s", r.err.Error())
}

// admitCoroutine counts a new coroutine against the limit of live ones.
func (r *run) admitCoroutine(L *lua.LState) {
	r.pruneCoroutines()
	if len(r.coroutines) >= r.limits.Coroutines {
		r.fail(L, newLimitError(r.limits, LimitCoroutines, ""))
	}
	r.charge(L, r.st.coroutineCost())
}

// pruneCoroutines forgets the coroutines that finished.
func (r *run) pruneCoroutines() {
	live := r.coroutines[:0]
	for _, c := range r.coroutines {
		if !c.th.Dead {
			live = append(live, c)
		}
	}
	clear(r.coroutines[len(live):])
	r.coroutines = live
}

// addLoaded remembers the prototypes of code loaded at run time (the walk counts them while
// a function of theirs is reachable) and returns their size.
func (r *run) addLoaded(p *lua.FunctionProto) int64 {
	if r.loaded == nil {
		r.loaded = map[*lua.FunctionProto]int64{}
	}
	n := int64(256 + len(p.Code)*4 + len(p.Constants)*24 + len(p.DbgSourcePositions)*8 +
		len(p.DbgLocals)*48 + len(p.DbgCalls)*32 + len(p.DbgUpvalues)*16)
	for _, c := range p.Constants {
		if s, ok := c.(lua.LString); ok {
			n += int64(len(s))
		}
	}
	for _, child := range p.FunctionPrototypes {
		n += r.addLoaded(child)
	}
	r.loaded[p] = n
	return n
}

// budgetBuf is a string being built for a script. Its buffer is admitted before it is made:
// growing holds the new buffer, copies, then gives back the old one, so what it holds (both
// buffers while it copies) is always within the run's budget.
type budgetBuf struct {
	r    *run
	L    *lua.LState
	buf  []byte
	held int64
}

func (b *budgetBuf) init(r *run, L *lua.LState) {
	b.r, b.L = r, L
}

// reserve makes room for n more bytes.
func (b *budgetBuf) reserve(n int) {
	need := int64(len(b.buf)) + int64(n)
	if need <= int64(cap(b.buf)) {
		return
	}
	// Doubling while the run has room for it (the old buffers, garbage, sum to less than the
	// new one), then an eighth more, so a result near the limit still fits.
	grow := max(2*need, 4<<10)
	if grow > b.r.room() {
		grow = need + need/8 + 4<<10
	}
	if grow > maxCharge {
		grow = need
	}
	b.r.hold(b.L, grow)
	nb := make([]byte, len(b.buf), grow)
	copy(nb, b.buf)
	b.r.release(int64(cap(b.buf)))
	b.held += grow - int64(cap(b.buf))
	b.buf = nb
}

func (b *budgetBuf) writeString(s string) {
	b.reserve(len(s))
	b.buf = append(b.buf, s...)
}

func (b *budgetBuf) writeByte(c byte) {
	b.reserve(1)
	b.buf = append(b.buf, c)
}

// string is the result; the held bytes become the string's. The buffer is not written again,
// so the string shares it rather than copying it.
func (b *budgetBuf) string() string {
	var s string
	if len(b.buf) > 0 {
		s = unsafe.String(unsafe.SliceData(b.buf), len(b.buf))
	}
	b.r.settle(b.held, int64(cap(b.buf)))
	b.held, b.buf = 0, nil
	return s
}

// release gives back what is still held (deferred, so it runs when a Lua error unwinds).
func (b *budgetBuf) release() {
	if b.held > 0 {
		b.r.release(b.held)
		b.held = 0
	}
	b.buf = nil
}
