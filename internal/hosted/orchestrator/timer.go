package orchestrator

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
)

// maxPeriod is the longest timer period (a day).
const maxPeriod = 24 * time.Hour

// timer is a Timer.every or Timer.after of an instance. Its ticks go through the instance's
// goroutine like any callback; while one is pending, later ones are dropped, so a slow
// callback does not make them pile up.
type timer struct {
	in     *instance
	id     int
	fn     script.Value
	period time.Duration
	every  bool

	pending   atomic.Bool
	cancelled atomic.Bool
	mu        sync.Mutex
	t         *time.Timer
}

func (t *timer) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t = time.AfterFunc(t.period, t.fire)
}

// fire queues a tick unless one is pending, and rearms an every timer.
func (t *timer) fire() {
	if t.cancelled.Load() {
		return
	}
	if t.pending.CompareAndSwap(false, true) {
		select {
		case t.in.ticks <- t:
		default: // cannot happen (a slot per timer and as many again); drop rather than block
			t.pending.Store(false)
		}
	}
	if t.every {
		t.mu.Lock()
		if !t.cancelled.Load() {
			t.t.Reset(t.period)
		}
		t.mu.Unlock()
	}
}

func (t *timer) cancel() {
	t.cancelled.Store(true)
	t.mu.Lock()
	if t.t != nil {
		t.t.Stop()
	}
	t.mu.Unlock()
}

// tick runs a timer's function.
func (in *instance) tick(t *timer) {
	t.pending.Store(false)
	if t.cancelled.Load() {
		return
	}
	if !t.every {
		in.dropTimer(t)
		defer in.sess.Release(t.fn)
	}
	in.callback(fmt.Sprintf("timer %d", t.id), func(ctx context.Context) error {
		_, err := in.sess.Call(ctx, t.fn)
		return err
	})
}

func (in *instance) dropTimer(t *timer) {
	t.cancel()
	delete(in.timers, t.id)
}

// timerFuncs are the service's Timer global: Timer.every(ms, fn) and Timer.after(ms, fn)
// return an id for Timer.cancel(id).
func (in *instance) timerFuncs() map[string]script.Func {
	add := func(every bool) script.Func {
		return func(_ context.Context, args []any) (any, error) {
			ms, ok := arg(args, 0).(float64)
			if !ok {
				return nil, fmt.Errorf("the period must be a number of milliseconds")
			}
			fn, ok := arg(args, 1).(script.Value)
			if !ok || !fn.IsFunction() {
				return nil, fmt.Errorf("the second argument must be a function")
			}
			period := time.Duration(ms * float64(time.Millisecond))
			if period < in.o.opt.MinPeriod || period > maxPeriod {
				return nil, fmt.Errorf("the period must be between %d ms and %d ms", in.o.opt.MinPeriod.Milliseconds(), maxPeriod.Milliseconds())
			}
			if len(in.timers) >= in.o.opt.MaxTimers {
				return nil, fmt.Errorf("an instance may have at most %d timers", in.o.opt.MaxTimers)
			}
			in.lastID++
			t := &timer{in: in, id: in.lastID, fn: in.sess.Keep(fn), period: period, every: every}
			in.timers[t.id] = t
			t.start()
			return float64(t.id), nil
		}
	}
	return map[string]script.Func{
		"every": add(true),
		"after": add(false),
		"cancel": func(_ context.Context, args []any) (any, error) {
			id, _ := arg(args, 0).(float64)
			t, ok := in.timers[int(id)]
			if !ok {
				return false, nil
			}
			in.dropTimer(t)
			in.sess.Release(t.fn)
			return true, nil
		},
	}
}

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}
