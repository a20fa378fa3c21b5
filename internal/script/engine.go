// Package script runs solutions' Lua 5.1 scripts in a sandbox: a restricted environment, and
// per-run limits on wall time, memory, call depth, steps and coroutines that end a hostile run
// without affecting the process or any other run. docs/scripts.md describes what scripts see;
// docs/limits.md how the limits are enforced.
package script

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Services resolves the service globals a run sees (Keystore, Config, ...).
type Services interface {
	// Has reports whether alias (capitalized, e.g. "Keystore") is a service this run may call.
	Has(alias string) bool
	// Call runs alias.operation with args = the script's argument converted to Go
	// (map[string]any, []any, string, float64, bool, nil). An error whose type has
	// `StatusCode() int` (service.Error) becomes the Lua table {error=msg, status=code};
	// any other error becomes {error=msg, status=500}. It never raises in Lua.
	Call(ctx context.Context, alias, operation string, args any) (any, error)
}

// Options configure an Engine.
type Options struct {
	// MaxIdleStates is how many Lua states are kept for reuse (per call-depth limit in use);
	// default 128. Runs wait on service calls while holding their state, so the pool must cover
	// the requests in flight, not just the CPUs; an idle state costs about 100 KiB.
	MaxIdleStates int
	// HeapLimit is the process heap size above which the watchdog stops the run holding the
	// most memory; default 1 GiB; negative disables stopping runs (the watchdog goroutine
	// still samples the process's allocations for the runs' memory accounting).
	HeapLimit int64
	// RunsMemory bounds the memory all runs together may hold (their estimates, and the bytes
	// callers hold for them, Run.Held); default DefaultRunsMemory (256 MiB); negative: unbounded.
	// A run that cannot get its share stops with a *LimitError of LimitServerMemory.
	RunsMemory int64
	// Logger receives print() output (debug level) and the watchdog's reports; default discards.
	Logger *slog.Logger
}

// DefaultHeapLimit is Options.HeapLimit's default.
const DefaultHeapLimit = 1 << 30

// Engine runs programs. It is safe for concurrent use.
type Engine struct {
	opt Options
	log *slog.Logger

	pools sync.Map // call depth → chan *state (idle states)

	mu     sync.Mutex
	states map[*state]struct{} // live states, for the watchdog

	allocs atomic.Uint64 // bytes the process has allocated, as the watchdog last read it
	pool   memPool       // what all runs together may hold (mempool.go)

	sessions atomic.Int64 // sessions open (session.go)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// DefaultMaxIdleStates is Options.MaxIdleStates when not set.
const DefaultMaxIdleStates = 128

// NewEngine returns an engine and starts its watchdog.
func NewEngine(o Options) *Engine {
	if o.MaxIdleStates <= 0 {
		o.MaxIdleStates = DefaultMaxIdleStates
	}
	if o.HeapLimit == 0 {
		o.HeapLimit = DefaultHeapLimit
	}
	if o.RunsMemory == 0 {
		o.RunsMemory = DefaultRunsMemory
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		pool:   memPool{size: o.RunsMemory},
		opt:    o,
		log:    o.Logger,
		states: map[*state]struct{}{},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if !internals.ok {
		e.log.Warn("script memory accounting cannot see gopher-lua's stack and tables; limits are looser", "err", internals.err)
	}
	go e.watch()
	return e
}

// Close stops the watchdog, waits for it and drops the idle states. Runs still going finish.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		e.pools.Range(func(_, v any) bool {
			ch := v.(chan *state)
			for {
				select {
				case st := <-ch:
					e.dropState(st)
				default:
					return true
				}
			}
		})
	})
}

// Running is how many runs are in progress.
func (e *Engine) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for st := range e.states {
		if st.cur.Load() != nil {
			n++
		}
	}
	return n
}

// Lazy is a Vars value made and converted only when the script first reads that global, so a
// script that never looks at (say) request pays nothing for it. A ReadBack of a Lazy global the
// script never read returns the Go value as made, unconverted.
type Lazy func() any

// Run is one execution of a program.
type Run struct {
	Solution string // the solution's id, for the log lines the run causes
	Limits   Limits
	Services Services       // may be nil: no services
	Vars     map[string]any // globals set before the run (e.g. request, response, event); a Lazy value is made on first read
	// Held is memory the caller keeps for the run (e.g. its raw request body): drawn from the
	// engine's pool for the length of the run, not from the run's own memory limit.
	Held     int64
	ReadBack []string // globals read back after the run (e.g. "response"), converted to Go
	// Log receives what the run writes to its solution's log (print, at info); nil sends
	// print() to the engine's logger at debug level.
	Log RunLog
	// KeepResult keeps the result's memory drawn from the engine's pool after the run, until
	// Result.Release: twice its converted size, for its Go values and the JSON the caller makes
	// of them. Callers that set it must call Release once they are done with the result.
	KeepResult bool
	// Measure walks what the run holds when it ends, so Result.Memory counts it even when the
	// run was too short to be walked before (a walk costs time: for runs shown to people).
	Measure bool
}

// RunLog receives one entry a run writes to its solution's log. fields may be nil; the
// function must not keep msg or fields' maps beyond the call unless it copies them, and must
// not block: it is called on the run's goroutine.
type RunLog func(level slog.Level, msg string, fields map[string]any)

// Result is what a run produced.
type Result struct {
	Return any            // first returned value converted to Go (nil if none)
	Vars   map[string]any // the ReadBack globals
	// Memory is the most the run was taken to hold, in bytes: the highest of the estimates its
	// memory limit was checked against (an upper bound of what it really held). It is set
	// when the run failed as well.
	Memory int64

	release func()
}

// Release gives back to the engine's pool what the result holds (Run.KeepResult); later calls
// do nothing.
func (r Result) Release() {
	if r.release != nil {
		r.release()
	}
}

// Run executes p. Errors: *LimitError when a limit stopped the run, *RuntimeError for a Lua
// error, the context's error when ctx ended first.
func (e *Engine) Run(ctx context.Context, p *Program, r Run) (Result, error) {
	if p == nil || p.proto == nil {
		return Result{}, errors.New("script: run of a nil program")
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	lim := r.Limits.WithDefaults()
	st := e.getState(lim.CallDepth)
	return e.runOn(ctx, st, p, &r, lim)
}

// runOn runs p on st and returns st to the pool. Lua errors never panic out of a run; a panic
// here is a bug in the sandbox, reported as an error rather than taking the process down.
func (e *Engine) runOn(ctx context.Context, st *state, p *Program, r *Run, lim Limits) (res Result, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			st.broken = true
			e.log.Error("script run panicked", "solution", r.Solution, "script", p.Name, "panic", rec)
			res, err = Result{}, fmt.Errorf("script %s: internal error: %v", p.Name, rec)
		}
		e.putState(st)
	}()
	return st.exec(ctx, p, r, lim)
}
