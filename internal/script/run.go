package script

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// run is the state of one execution. A state reuses one run value; st.mu orders its start and
// end against the watchdog.
type run struct {
	st       *state
	ctx      context.Context
	done     <-chan struct{}
	solution string
	log      RunLog // Run.Log
	services Services
	indexed  map[string]bool // Program.indexed; nil once the run loads code of its own
	limits   Limits
	deadline time.Time
	env      *lua.LTable
	gen      uint64 // counts runs on the state, so a late stop cannot hit the next run

	steps   int64
	checkIn int64 // ticks until the next check of the deadline, the context and stop
	bytesIn int64 // bytes charged or held until the next check (spendBytes)

	// Memory accounting, see budget.go.
	measured  int64  // bytes the last walk found reachable
	pinned    int64  // bytes Go code holds for the script right now (buffers being built)
	sinceWalk int64  // bytes charged and tick weight since the last walk
	left      int64  // min(next, drawn) - (measured + pinned + sinceWalk)
	next      int64  // the estimate at which the run is walked again
	drawn     int64  // bytes drawn from the engine's pool for the estimate (mempool.go)
	heldOut   int64  // bytes drawn from the pool for what the caller holds (Run.Held)
	walkIn    int64  // ticks until the next periodic walk
	allocBase uint64 // the process's allocations at the last walk (Engine.allocs)
	mem       atomic.Int64
	peak      int64 // the highest estimate the run reached (Result.Memory)

	stop atomic.Pointer[LimitError] // set by the watchdog
	err  error                      // why the run is ending; once set, it ends

	coroutines []coroutineRec
	lazy       map[string]Lazy             // Vars not read yet
	fields     map[*lua.LTable][]lazyField // table fields not read yet (body.go)
	loaded     map[*lua.FunctionProto]int64

	svcCtx    context.Context
	svcCancel context.CancelFunc
	answer    *AnswerBudget // the service answer being read, drawn from the pool (services.go)

	// session is set for the calls of a Session (session.go): what the run holds, its pool
	// share, its coroutines and loaded code outlive each call. roots holds the values Go
	// keeps in the session; the walk counts them with the globals.
	session bool
	roots   *lua.LTable
}

type coroutineRec struct {
	th *lua.LState
	fn *lua.LFunction // the body, which an unstarted coroutine holds only in its call frame
}

// exec runs p on st.
func (st *state) exec(ctx context.Context, p *Program, in *Run, lim Limits) (res Result, err error) {
	L := st.L
	r := &st.rd
	st.mu.Lock()
	r.reset(ctx, in.Solution, in.Log, in.Services, lim)
	r.indexed = p.indexed
	r.resetBudget()
	st.rearm()
	st.mu.Unlock()
	if !st.e.pool.take(in.Held) {
		return Result{}, r.poolError(in.Held)
	}
	r.heldOut = max(in.Held, 0)

	env := &lua.LTable{Metatable: st.envMeta}
	r.env = env
	st.cur.Store(r)
	// A failed run reports its memory too: the run API shows it either way.
	defer func() { res.Memory = max(r.peak, r.measured+r.pinned+r.sinceWalk) }()
	defer st.finish(r)

	if err := r.setVars(L, in.Vars); err != nil {
		return Result{}, err
	}
	L.Push(&lua.LFunction{Env: env, Proto: p.proto, Upvalues: st.upvaluesFor(p.upkey)})
	perr := L.PCall(0, 1, nil)
	if r.err == nil {
		r.checkEnd()
	}
	if in.Measure && r.err == nil {
		measured, _ := st.w.measure(r)
		r.peak = max(r.peak, measured+r.pinned)
	}
	if r.err != nil {
		st.broken = true
		return Result{}, r.err
	}
	if perr != nil {
		return Result{}, st.runtimeError(p.Name, perr)
	}
	if err := r.finalCheck(); err != nil {
		st.broken = true
		return Result{}, err
	}
	conv := newToGo(r.limits.Memory)
	conv.st = st
	ret, cerr := conv.value(L.Get(-1))
	if cerr != nil {
		return Result{}, r.conversionError("return value", cerr)
	}
	res.Return = ret
	if len(in.ReadBack) > 0 {
		res.Vars = make(map[string]any, len(in.ReadBack))
		for _, name := range in.ReadBack {
			lv := env.RawGetString(name)
			if mk, ok := r.lazy[name]; ok && lv == lua.LNil {
				res.Vars[name] = mk() // never read nor replaced
				continue
			}
			v, cerr := conv.value(lv)
			if cerr != nil {
				return Result{}, r.conversionError(name, cerr)
			}
			res.Vars[name] = v
		}
	}
	if in.KeepResult {
		if err := r.keepResult(&res, 2*conv.used); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// reset readies r for a new run on its state (what every run starts from but its memory);
// st.mu is held.
func (r *run) reset(ctx context.Context, solution string, log RunLog, services Services, lim Limits) {
	r.gen++
	r.ctx = ctx
	r.done = ctx.Done()
	r.solution = solution
	r.log = log
	r.services = services
	r.limits = lim
	r.deadline = time.Now().Add(lim.Timeout)
	r.steps = 0
	r.checkIn = checkEvery
	r.err = nil
	r.stop.Store(nil)
}

// keepResult moves n bytes of the run's pool share (drawing more when it has less) to res, so
// the result stays counted after the run until res.Release.
func (r *run) keepResult(res *Result, n int64) error {
	pool := &r.st.e.pool
	fromShare := min(n, r.drawn)
	if !pool.take(n - fromShare) {
		return r.poolError(n - fromShare)
	}
	r.drawn -= fromShare // not given back when the run ends
	var once sync.Once
	res.release = func() { once.Do(func() { pool.give(n) }) }
	return nil
}

// finish leaves the state ready for its next run.
func (st *state) finish(r *run) {
	st.mu.Lock()
	st.cur.Store(nil)
	if r.svcCancel != nil {
		r.svcCancel()
	}
	r.svcCtx, r.svcCancel = nil, nil
	r.answer.giveBack()
	r.answer = nil
	st.mu.Unlock()
	st.L.SetTop(0)
	st.L.G.CurrentThread = st.L
	r.ctx, r.done, r.services, r.env, r.indexed = nil, nil, nil, nil, nil
	clear(r.lazy)
	r.fields = nil
	st.w.reset()
	if r.session {
		return // the session keeps its share, coroutines and loaded code until it is closed
	}
	r.returnShare()
	clear(r.coroutines)
	r.coroutines = r.coroutines[:0]
	r.loaded = nil
}

// setVars converts the run's variables into its globals.
func (r *run) setVars(L *lua.LState, vars map[string]any) error {
	if len(vars) == 0 {
		return nil
	}
	conv := toLuaConv{L: L, limit: r.limits.Memory, fields: r}
	for name, v := range vars {
		if mk, ok := v.(Lazy); ok {
			if r.lazy == nil {
				r.lazy = map[string]Lazy{}
			}
			r.lazy[name] = mk
			continue
		}
		lv, err := conv.value(v, 0)
		if err != nil {
			if le, ok := err.(*LimitError); ok {
				le.Value = formatBytes(r.limits.Memory)
				return le
			}
			return fmt.Errorf("script: variable %s: %w", name, err)
		}
		r.env.RawSetString(name, lv)
	}
	// The variables are the run's from the start.
	r.measured = conv.used
	if !r.drawTo(conv.used) {
		return r.poolError(conv.used)
	}
	r.left = min(r.next, r.drawn) - conv.used
	return nil
}

// readLazy makes and converts a Lazy variable on its first read, charging its size to the run.
func (r *run) readLazy(L *lua.LState, name string) (lua.LValue, bool) {
	mk, ok := r.lazy[name]
	if !ok {
		return nil, false
	}
	delete(r.lazy, name)
	// Admitted as it is built (a limit raises from inside); the run keeps what was built.
	conv := toLuaConv{L: L, r: r, fields: r}
	lv, err := conv.value(mk(), 0)
	if err != nil {
		r.fail(L, fmt.Errorf("script: variable %s: %w", name, err))
	}
	r.settle(conv.used, conv.used)
	r.env.RawSetString(name, lv)
	return lv, true
}

// checkEnd catches a run that ended (or was stopped) between two checks.
func (r *run) checkEnd() {
	if le := r.stop.Load(); le != nil {
		r.err = le
		return
	}
	if err := r.st.sig.Err(); err != nil {
		r.err = err
		return
	}
	select {
	case <-r.done:
		r.err = r.ctx.Err()
	default:
	}
}

// ended reports whether the run is over: failed, or signalled to end (the VM raised the
// signal's error as a Lua error, which must not be mistaken for the script's own).
func (r *run) ended() bool {
	if r.err == nil {
		if err := r.st.sig.Err(); err != nil {
			r.err = err
		}
	}
	return r.err != nil
}

// runtimeError turns the error of the main call (of the chunk name) into a *RuntimeError or a
// limit.
func (st *state) runtimeError(name string, err error) error {
	r := &st.rd
	ae, ok := err.(*lua.ApiError)
	if !ok {
		st.broken = true
		return &RuntimeError{Message: name + ": " + err.Error()}
	}
	if ae.Type == lua.ApiErrorPanic {
		st.broken = true
		st.e.log.Error("script run ended by a panic", "solution", r.solution, "script", name, "panic", ae.Object.String())
		return &RuntimeError{Message: name + ": internal error"}
	}
	if isStackOverflow(ae.Object) {
		// gopher-lua unwinds its call stack on the error (PCall restores it): a session's state
		// stays usable, a pooled one is dropped all the same.
		st.broken = !r.session
		return newLimitError(r.limits, LimitCallDepth, "")
	}
	msg := ae.Object.String()
	if len(msg) > maxErrorBytes {
		msg = msg[:maxErrorBytes] + "…"
	}
	re := &RuntimeError{Message: msg, Line: errorLine(msg, name), Trace: truncate(ae.StackTrace, maxTraceBytes)}
	if re.Line > 0 {
		re.File = name
	}
	return re
}

const (
	maxErrorBytes = 4 << 10
	maxTraceBytes = 8 << 10
)

// truncate cuts s to at most n bytes (on a rune boundary), marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// errorLine finds the line in "name:line: message" (0 when the error is not positioned in
// the program itself, e.g. raised in code it loaded).
func errorLine(msg, name string) int {
	rest, ok := strings.CutPrefix(msg, name+":")
	if !ok {
		return 0
	}
	if i := strings.IndexByte(rest, ':'); i > 0 {
		if n, err := strconv.Atoi(rest[:i]); err == nil {
			return n
		}
	}
	return 0
}

func (r *run) conversionError(what string, err error) error {
	if le, ok := err.(*LimitError); ok {
		le.Value = formatBytes(r.limits.Memory)
		return le
	}
	return &RuntimeError{Message: fmt.Sprintf("cannot convert %s: %v", what, err)}
}

// serviceContext is the context service calls get: the caller's, ending at the run's deadline
// or when the watchdog stops the run. Made on first use, so runs without calls pay nothing.
func (r *run) serviceContext() context.Context {
	st := r.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if r.svcCtx == nil {
		r.svcCtx, r.svcCancel = context.WithDeadline(r.ctx, r.deadline)
		if r.limits.Memory > 0 {
			r.answer = &AnswerBudget{limit: r.limits.Memory, pool: &st.e.pool}
			r.svcCtx = WithAnswerBudget(r.svcCtx, r.answer)
		}
		if r.stop.Load() != nil {
			r.svcCancel()
		}
	}
	return r.svcCtx
}

// kill stops run generation gen with le, if it is still going; the watchdog calls it.
func (st *state) kill(gen uint64, le *LimitError) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := &st.rd
	if st.cur.Load() != r || r.gen != gen {
		return false
	}
	r.stop.Store(le)
	st.raiseLocked(le)
	if r.svcCancel != nil {
		r.svcCancel()
	}
	return true
}
