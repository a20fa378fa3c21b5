package script

import (
	"context"
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

type answerBudgetKey struct{}

// AnswerBudget is what a script run lets a service's answer take while it is read: at most its
// memory limit (no larger answer could fit), drawn from the engine's memory pool as it is read,
// so the answers being read for all runs count with the runs. The run gives it back once the
// call's result is decoded. One run makes one call at a time, so it needs no lock.
type AnswerBudget struct {
	limit int64
	pool  *memPool // nil: only the limit bounds
	taken int64
}

// NewAnswerBudget is a budget of limit bytes drawn from no pool (for callers outside a run).
func NewAnswerBudget(limit int64) *AnswerBudget { return &AnswerBudget{limit: limit} }

// WithAnswerBudget is ctx carrying b.
func WithAnswerBudget(ctx context.Context, b *AnswerBudget) context.Context {
	return context.WithValue(ctx, answerBudgetKey{}, b)
}

// AnswerBudgetOf is the budget ctx carries, or nil: no bound but the reader's own.
func AnswerBudgetOf(ctx context.Context) *AnswerBudget {
	b, _ := ctx.Value(answerBudgetKey{}).(*AnswerBudget)
	return b
}

// Limit is the most bytes an answer may take.
func (b *AnswerBudget) Limit() int64 { return b.limit }

// Take draws n more bytes for the answer being read, before they are allocated. Past the limit
// it fails with an error wrapping ErrAnswerTooLarge; when the pool has not got them, with a
// *LimitError for the server's memory.
func (b *AnswerBudget) Take(n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if b.taken+n > 2*b.limit+readSlack {
		// The text and the buffers it grew through: past twice the limit, the text is over it.
		return fmt.Errorf("over %d bytes: %w", b.limit, ErrAnswerTooLarge)
	}
	if b.pool != nil && !b.pool.take(n) {
		return &LimitError{Limit: LimitServerMemory, Value: formatBytes(b.pool.size), Detail: fmt.Sprintf(
			"reading a service's answer: the runs in progress hold %s", formatBytes(b.pool.used.Load()))}
	}
	b.taken += n
	return nil
}

// readSlack is room for a reader's first buffer beyond what the limit strictly needs.
const readSlack = 64 << 10

// giveBack returns what the budget drew; the answer is done with.
func (b *AnswerBudget) giveBack() {
	if b == nil {
		return
	}
	if b.pool != nil {
		b.pool.give(b.taken)
	}
	b.taken = 0
}

// ErrAnswerTooLarge is a service's answer over its AnswerBudget's limit: the calling run ends
// at its memory limit.
var ErrAnswerTooLarge = errors.New("the answer is larger than the calling run's memory limit")

// A service global (Keystore, Config, ...) is a read-only proxy made once per state and alias;
// indexing it gives a Go function per operation that calls the current run's Services with
// the run's context. Both are cached, so a run pays nothing to look them up again.

// maxCachedOps bounds the operation functions kept per service: operation names come from
// scripts, and the cache outlives runs.
const maxCachedOps = 64

type serviceProxy struct {
	alias string
	table *lua.LTable
	ops   map[string]*lua.LFunction
}

func (st *state) serviceProxy(alias string) *serviceProxy {
	if sp, ok := st.svc[alias]; ok {
		return sp
	}
	L := st.L
	sp := &serviceProxy{alias: alias, ops: map[string]*lua.LFunction{}}
	sp.table = L.CreateTable(0, 0)
	mt := L.CreateTable(0, 3)
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		op, ok := L.Get(2).(lua.LString)
		if !ok {
			return 0
		}
		L.Push(st.serviceOp(sp, string(op)))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(refuseWrite))
	mt.RawSetString("__metatable", lua.LFalse)
	sp.table.Metatable = mt
	st.proxies[sp.table] = sp.table
	st.shared = append(st.shared, sp.table, mt)
	st.svc[alias] = sp
	return sp
}

func (st *state) serviceOp(sp *serviceProxy, op string) *lua.LFunction {
	if fn, ok := sp.ops[op]; ok {
		return fn
	}
	fn := st.L.NewFunction(func(L *lua.LState) int { return st.callService(L, sp, op) })
	if len(sp.ops) < maxCachedOps {
		sp.ops[op] = fn
	}
	return fn
}

// callService runs alias.op(arg) (or alias:op(arg)) and returns its result, or
// {error=message, status=code} when it failed. It raises only when the run is over.
func (st *state) callService(L *lua.LState, sp *serviceProxy, op string) int {
	r := st.run()
	arg := L.Get(1)
	if arg == sp.table { // Alias:op(arg)
		arg = L.Get(2)
	}
	args, held, err := r.argsToGo(L, arg)
	defer r.release(held)
	if err != nil {
		L.Push(st.failedCall(L, 400, "invalid argument to "+sp.alias+"."+op+": "+err.Error()))
		return 1
	}
	if r.services == nil {
		L.Push(st.failedCall(L, 404, "no service "+sp.alias))
		return 1
	}
	ctx := r.serviceContext()
	// What the answer drew while it was read is given back once it is decoded (or dropped).
	defer r.answer.giveBack()
	res, err := r.services.Call(ctx, sp.alias, op, args)
	// A call that outlived the run (deadline, cancellation, watchdog) ends it.
	r.check(L)
	var le *LimitError
	switch {
	case errors.Is(err, ErrAnswerTooLarge):
		r.fail(L, &LimitError{Limit: LimitMemory, Value: formatBytes(r.limits.Memory), Detail: sp.alias + "." + op + ": " + err.Error()})
	case errors.As(err, &le) && le.Limit == LimitServerMemory:
		r.fail(L, le)
	}
	if err != nil {
		r.logUnknownOperation(sp.alias, op, err)
		status := 500
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) {
			status = sc.StatusCode()
		}
		L.Push(st.failedCall(L, status, err.Error()))
		return 1
	}
	if b, ok := res.(Body); ok && b.JSON {
		// A service's JSON answer comes undecoded: decoded here, each value charged to the run
		// before it is made, so an answer larger than the run may hold ends it at its limit.
		// The answer's text is held while it is decoded.
		r.hold(L, int64(stringBytes+len(b.Data)))
		v, err := decodeJSON(L, r, b.Data)
		r.release(int64(stringBytes + len(b.Data)))
		if err != nil {
			L.Push(st.failedCall(L, 502, sp.alias+"."+op+" returned JSON scripts cannot use: "+err.Error()))
			return 1
		}
		L.Push(v)
		return 1
	}
	conv := toLuaConv{L: L, r: r}
	v, err := conv.value(res, 0)
	if err != nil {
		r.release(conv.used)
		L.Push(st.failedCall(L, 500, sp.alias+"."+op+" returned a value scripts cannot use: "+err.Error()))
		return 1
	}
	r.settle(conv.used, conv.used)
	L.Push(v)
	return 1
}

func (st *state) failedCall(L *lua.LState, status int, msg string) *lua.LTable {
	t := L.CreateTable(0, 2)
	t.RawSetString("error", lua.LString(msg))
	t.RawSetString("status", lua.LNumber(status))
	return t
}

// argsToGo converts a service call's argument to Go within what the run may still hold (after
// a walk, when it does not fit at first), and holds it while the call lasts: the argument is
// in memory next to the run's own values.
func (r *run) argsToGo(L *lua.LState, arg lua.LValue) (any, int64, error) {
	conv := newToGo(max(r.room(), 0))
	v, err := conv.value(arg)
	if _, ok := err.(*LimitError); ok {
		r.hold(L, conv.used) // walks; ends the run if even then it is over its limit
		r.release(conv.used)
		conv = newToGo(max(r.room(), 0))
		v, err = conv.value(arg)
	}
	if err != nil {
		return nil, 0, err
	}
	r.hold(L, conv.used)
	return v, conv.used, nil
}
