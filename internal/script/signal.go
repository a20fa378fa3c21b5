package script

import (
	"context"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// signal is the context gopher-lua's VM checks before every instruction of a run (the states
// run mainLoopWithContext). Ticks come only at loop and function bodies, and one instruction
// can do work that grows with its operands (comparing two 8 MB strings, hashing a long key),
// so a statement of thousands of such instructions could run for minutes between two ticks.
// Raising the signal stops the run at its next instruction instead, whatever they are.
//
// The watchdog raises it when a run passes its deadline or its caller's context ends (it looks
// every watchInterval), and kill at once. It costs a run nothing to set up: Done is nil (a
// receive from it never proceeds, and the VM's check of it is the cheapest select there is)
// until the signal is raised, and then one closed channel shared by every state. Only the VM
// and this package see a signal, so it may break the rule that Done always returns the same
// channel.
type signal struct {
	done atomic.Pointer[chan struct{}] // nil, or &closed once raised
	err  error                         // why the run must end; written before done is set
}

// closed is the channel every raised signal returns from Done.
var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

var _ context.Context = (*signal)(nil)

func (s *signal) Deadline() (time.Time, bool) { return time.Time{}, false }
func (s *signal) Value(any) any               { return nil }

func (s *signal) Done() <-chan struct{} {
	if p := s.done.Load(); p != nil {
		return *p
	}
	return nil
}

// Err is why the run must end, once it must; gopher-lua raises its text.
func (s *signal) Err() error {
	if s.done.Load() == nil {
		return nil
	}
	return s.err
}

// rearm readies the signal for the next run; st.mu is held.
func (st *state) rearm() {
	st.sig.done.Store(nil)
	st.sig.err = nil
}

// raiseLocked makes every instruction of the current run raise err; st.mu is held.
func (st *state) raiseLocked(err error) {
	if st.sig.done.Load() != nil {
		return
	}
	st.sig.err = err
	c := closed
	st.sig.done.Store(&c)
}

// withoutSignal calls fn with L's context removed, so a coroutine made by fn gets no child
// context of its own (gopher-lua would start a goroutine per coroutine to watch a context it
// does not know); the caller gives the new thread the state's signal.
func (st *state) withoutSignal(L *lua.LState, fn func()) {
	L.RemoveContext()
	defer L.SetContext(st.sig)
	fn()
}

// signalRuns raises the signal of every run past its deadline or whose caller's context
// ended; the watchdog calls it every watchInterval.
func (e *Engine) signalRuns(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for st := range e.states {
		st.mu.Lock()
		if r := st.cur.Load(); r != nil && st.sig.done.Load() == nil {
			if now.After(r.deadline) {
				st.raiseLocked(newLimitError(r.limits, LimitTime, ""))
			} else {
				select {
				case <-r.done:
					st.raiseLocked(r.ctx.Err())
				default:
				}
			}
		}
		st.mu.Unlock()
	}
}
