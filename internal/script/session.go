package script

import (
	"context"
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// A Session is one long-lived Lua state for one script instance (a hosted service): unlike a
// run, its globals and everything they hold persist from one call to the next. It is the same
// sandbox — the state is built like a pooled one, with the same libraries and rewriting, and
// each call is a run on it — except that the state is never pooled and the run's memory
// accounting carries over between calls:
//
//   - every call gets the per-call limits of a run: time, steps, call depth, coroutines;
//   - Limits.Memory bounds what the whole session holds (its globals, the values Go keeps in
//     it, its live coroutines), checked during each call as a run's memory is;
//   - what the session holds is drawn from the engine's memory pool while it lives, not only
//     during calls.
//
// A call stopped by its time, steps, call-depth or coroutine limit, or by its context, is an
// error of that call only: the session stays usable. A session over its memory limit (its own
// or the watchdog's), or whose state a panic may have left inconsistent, is killed: the call
// returns the error, every later call returns it too (Err), and its state is closed.
//
// A session is used by one goroutine at a time; Close must not run during a call (end the
// call's context first: the call then ends within a few milliseconds).
type Session struct {
	e   *Engine
	st  *state
	opt SessionOptions
	lim Limits

	env  *lua.LTable // the session's globals
	refs *lua.LTable // values Go keeps (Value), by reference number
	free []int       // reference numbers given back
	last int         // the highest reference number in use so far
	name string      // the chunk name of the loaded program, for errors

	begun bool  // the accounting has been set up by a first call
	dead  error // why the session was killed
	shut  bool  // Close was called

	tramp *lua.LFunction // runs the call in hand under the sandbox (trampoline)
	call  pendingCall
}

// SessionOptions configure a Session.
type SessionOptions struct {
	Solution string // for the log lines the session causes
	// Limits bound each call; Memory bounds the whole session (default DefaultMemory).
	Limits Limits
	// Log receives print() and Log.* output; nil sends it to the engine's logger at debug.
	Log RunLog
}

// Value is a Lua value a session keeps for Go: its class table, an instance object, a
// function given to a Func. A Value a Func receives is valid during that call only; Keep
// makes one that lasts (and counts in the session's memory) until Release.
type Value struct {
	lv  lua.LValue
	ref int // 0: not kept
}

// IsFunction reports whether v is a Lua function.
func (v Value) IsFunction() bool {
	_, ok := v.lv.(*lua.LFunction)
	return ok
}

// IsTable reports whether v is a Lua table.
func (v Value) IsTable() bool {
	_, ok := v.lv.(*lua.LTable)
	return ok
}

// Func is a Go function a session's script can call. args are the Lua arguments converted to
// Go as a service call's are (nil, bool, float64, string, []any, map[string]any), except that a
// function argument is a Value; conversion is bounded by what the session may still hold. ctx
// ends at the call's deadline, or when the call is stopped. The result is converted to Lua and
// charged to the session; an error is raised in Lua with its message (pcall can catch it).
type Func func(ctx context.Context, args []any) (any, error)

// ErrNoMethod is a CallMethod of a method the object does not have.
var ErrNoMethod = errors.New("no such method")

// ErrSessionClosed is a call on a closed session.
var ErrSessionClosed = errors.New("script: session closed")

// maxFuncErrorBytes bounds the message a Func's error raises.
const maxFuncErrorBytes = 4 << 10

type pendingCall struct {
	fn      lua.LValue // the function, or the object of a method
	method  string     // "" for a function
	args    []any
	missing bool // the object had no such method
}

// NewSession makes a session with a state of its own.
func (e *Engine) NewSession(o SessionOptions) *Session {
	lim := o.Limits.WithDefaults()
	st := newState(e, lim.CallDepth)
	e.mu.Lock()
	e.states[st] = struct{}{}
	e.mu.Unlock()
	s := &Session{e: e, st: st, opt: o, lim: lim, name: "session"}
	s.env = &lua.LTable{Metatable: st.envMeta}
	s.refs = st.L.CreateTable(8, 0)
	s.tramp = st.L.NewFunction(s.trampoline)
	st.rd.session = true
	st.rd.roots = s.refs
	e.sessions.Add(1)
	return s
}

// Sessions is how many of the engine's sessions are open (not closed nor killed).
func (e *Engine) Sessions() int { return int(e.sessions.Load()) }

// Err is why the session was killed (a *LimitError of LimitMemory, or an internal error), or
// ErrSessionClosed once closed; nil while it is usable.
func (s *Session) Err() error {
	if s.dead != nil {
		return s.dead
	}
	if s.shut {
		return ErrSessionClosed
	}
	return nil
}

// Memory is the session's current estimate of what it holds, in bytes.
func (s *Session) Memory() int64 {
	if s.st == nil {
		return 0
	}
	r := &s.st.rd
	return r.measured + r.pinned + r.sinceWalk
}

// Close frees the session's state and gives its memory back to the engine's pool. Later
// calls do nothing.
func (s *Session) Close() {
	if s.shut {
		return
	}
	s.shut = true
	s.release()
}

// release frees the state of a session closed or killed.
func (s *Session) release() {
	if s.st == nil {
		return
	}
	s.st.rd.returnShare()
	s.e.dropState(s.st)
	s.st = nil
	s.env, s.refs, s.tramp, s.free = nil, nil, nil, nil
	s.e.sessions.Add(-1)
}

// Keep makes v last until Release; v may be one a Func received or returned.
func (s *Session) Keep(v Value) Value {
	if v.ref != 0 || s.refs == nil || v.lv == nil {
		return v
	}
	var ref int
	if n := len(s.free); n > 0 {
		ref, s.free = s.free[n-1], s.free[:n-1]
	} else {
		s.last++
		ref = s.last
	}
	s.refs.RawSetInt(ref, v.lv)
	return Value{lv: v.lv, ref: ref}
}

// Release lets the session drop v (made by Keep, Load or Object).
func (s *Session) Release(v Value) {
	if v.ref == 0 || s.refs == nil {
		return
	}
	s.refs.RawSetInt(v.ref, lua.LNil)
	s.free = append(s.free, v.ref)
}

// SetGlobal makes name a global of the session: a read-only table of the Go functions fns.
func (s *Session) SetGlobal(name string, fns map[string]Func) error {
	if err := s.Err(); err != nil {
		return err
	}
	t := s.st.L.CreateTable(0, len(fns))
	for n, fn := range fns {
		t.RawSetString(n, s.st.L.NewFunction(s.goFunc(name+"."+n, fn, nil)))
	}
	s.env.RawSetString(name, s.st.readOnly(t))
	return nil
}

// Object makes a table whose methods are methods (Go functions, called as obj:name(...)) and
// then the fields of class, as if class were its metatable's __index: obj.x is obj's own x,
// else methods[x], else class.x. The object's metatable is hidden and protected, so a script
// can shadow a method on its object but never change what methods are. The object is kept.
func (s *Session) Object(class Value, methods map[string]Func) (Value, error) {
	if err := s.Err(); err != nil {
		return Value{}, err
	}
	L := s.st.L
	obj := L.CreateTable(0, 0)
	m := L.CreateTable(0, len(methods))
	for n, fn := range methods {
		m.RawSetString(n, L.NewFunction(s.goFunc(n, fn, obj)))
	}
	if _, ok := class.lv.(*lua.LTable); ok {
		mm := L.CreateTable(0, 1)
		mm.RawSetString("__index", class.lv)
		m.Metatable = mm
	}
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", m)
	mt.RawSetString("__metatable", lua.LFalse)
	obj.Metatable = mt
	return s.Keep(Value{lv: obj}), nil
}

// Load runs p's main chunk in the session (its globals become the session's) and returns its
// first result, kept. The error is a call's (see Call).
func (s *Session) Load(ctx context.Context, p *Program) (Value, error) {
	if p == nil || p.proto == nil {
		return Value{}, errors.New("script: load of a nil program")
	}
	if err := s.Err(); err != nil {
		return Value{}, err
	}
	s.name = p.Name
	s.st.rd.indexed = nil
	fn := &lua.LFunction{Env: s.env, Proto: p.proto, Upvalues: s.st.upvaluesFor(p.upkey)}
	v, err := s.invoke(ctx, pendingCall{fn: fn}, false)
	if err != nil {
		return Value{}, err
	}
	return s.Keep(v.(Value)), nil
}

// Call calls the Lua function fn with args (Go values, converted as a run's variables are, or
// Values) and returns its first result converted to Go. Errors: *LimitError when a limit
// stopped the call (the session is killed when it is the memory limit: see Err),
// *RuntimeError for a Lua error, the context's error when ctx ended first.
func (s *Session) Call(ctx context.Context, fn Value, args ...any) (any, error) {
	if !fn.IsFunction() {
		return nil, errors.New("script: call of a value that is not a function")
	}
	return s.invoke(ctx, pendingCall{fn: fn.lv, args: args}, true)
}

// CallMethod calls obj:name(args...) (see Call). An object without such a method (looked up
// as Lua would, __index included) gives an error wrapping ErrNoMethod.
func (s *Session) CallMethod(ctx context.Context, obj Value, name string, args ...any) (any, error) {
	if !obj.IsTable() {
		return nil, errors.New("script: method call on a value that is not a table")
	}
	return s.invoke(ctx, pendingCall{fn: obj.lv, method: name, args: args}, true)
}

// invoke runs c as one run of the session's state: a Value result when toGo is false (Load),
// the first result converted to Go otherwise.
func (s *Session) invoke(ctx context.Context, c pendingCall, toGo bool) (res any, err error) {
	if err := s.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := s.st
	r := &st.rd
	defer func() {
		if rec := recover(); rec != nil {
			st.broken = true
			s.e.log.Error("script session call panicked", "solution", s.opt.Solution, "script", s.name, "panic", rec)
			res, err = nil, fmt.Errorf("script %s: internal error: %v", s.name, rec)
		}
		if st.broken {
			s.kill(err)
		}
	}()
	s.begin(ctx)
	defer st.finish(r)
	s.call = c
	defer func() { s.call = pendingCall{} }()
	L := st.L
	L.Push(s.tramp)
	perr := L.PCall(0, 1, nil)
	if r.err == nil {
		r.checkEnd()
	}
	if r.err == nil && r.sinceWalk > r.limits.Memory/4 {
		s.settle() // a call that made a lot: the next one starts from a fresh figure
	}
	if r.err != nil {
		var le *LimitError
		if errors.As(r.err, &le) && le.Limit == LimitMemory {
			st.broken = true
		}
		return nil, r.err
	}
	if perr != nil {
		return nil, st.runtimeError(s.name, perr)
	}
	if s.call.missing {
		return nil, fmt.Errorf("%w %q", ErrNoMethod, c.method)
	}
	lv := L.Get(-1)
	if !toGo {
		return Value{lv: lv}, nil
	}
	conv := newToGo(r.limits.Memory)
	conv.st = st
	ret, cerr := conv.value(lv)
	if cerr != nil {
		return nil, r.conversionError("return value", cerr)
	}
	return ret, nil
}

// begin readies the state's run for a call. The first call sets the memory accounting up;
// later ones carry it over: what the session holds is what the last call left.
func (s *Session) begin(ctx context.Context) {
	st := s.st
	r := &st.rd
	st.mu.Lock()
	r.reset(ctx, s.opt.Solution, s.opt.Log, nil, s.lim)
	r.indexed = nil
	if !s.begun {
		r.resetBudget()
		s.begun = true
	} else {
		r.pinned = 0 // Go buffers of an earlier call are gone
		r.bytesIn = checkBytes
		r.left = min(r.next, r.drawn) - r.measured - r.sinceWalk
		r.mem.Store(r.measured + r.sinceWalk)
	}
	st.rearm()
	st.mu.Unlock()
	r.env = s.env
	st.cur.Store(r)
}

// settle walks the session after a call that charged much, so the figure the next call starts
// from (and the pool share it holds meanwhile) is what is really reachable.
func (s *Session) settle() {
	r := &s.st.rd
	measured, items := s.st.w.measure(r)
	if s.st.w.stopped {
		return
	}
	r.measured, r.sinceWalk = measured, 0
	r.allocBase = s.e.allocs.Load()
	r.walkIn = max(minWalkEvery, 2*items)
	r.peak = max(r.peak, measured)
	r.mem.Store(measured)
	if measured > r.limits.Memory {
		r.err = newLimitError(r.limits, LimitMemory, "holding "+formatBytes(measured)+" at the end of a call")
		return
	}
	r.next = max(r.limits.Memory, measured+r.limits.Memory/4)
	r.trimTo(measured)
}

// kill ends a session that cannot go on.
func (s *Session) kill(err error) {
	if err == nil {
		err = errors.New("script: session ended")
	}
	if s.dead == nil {
		s.dead = err
	}
	s.release()
}

// trampoline runs on the session's state inside PCall, so everything it does (looking the
// method up, converting the arguments, the call) is under the run's limits.
func (s *Session) trampoline(L *lua.LState) int {
	c := &s.call
	r := s.st.run()
	fn := c.fn
	n := 0
	if c.method != "" {
		fn = L.GetField(c.fn, c.method)
		if _, ok := fn.(*lua.LFunction); !ok {
			c.missing = true
			return 0
		}
		L.Push(fn)
		L.Push(c.fn)
		n = 1
	} else {
		L.Push(fn)
	}
	for i, a := range c.args {
		if v, ok := a.(Value); ok {
			L.Push(v.lv)
			n++
			continue
		}
		lv := s.argToLua(L, r, i+1, a)
		L.Push(lv)
		n++
	}
	L.Call(n, 1)
	return 1
}

// argToLua converts a Go argument within what the session may still hold: a value that does
// not fit even after a walk fails the call (not the session).
func (s *Session) argToLua(L *lua.LState, r *run, i int, a any) lua.LValue {
	avail := func() int64 {
		return max(min(r.next, r.limits.Memory)-r.measured-r.pinned-r.sinceWalk, 0)
	}
	conv := toLuaConv{L: L, limit: avail()}
	lv, err := conv.value(a, 0)
	if _, over := err.(*LimitError); over {
		r.walk(L, 0)
		conv = toLuaConv{L: L, limit: avail()}
		lv, err = conv.value(a, 0)
	}
	if err != nil {
		if _, over := err.(*LimitError); over {
			L.RaiseError("argument %d does not fit in the memory the script has left (%s of %s held)",
				i, formatBytes(r.measured+r.pinned), formatBytes(r.limits.Memory))
		}
		L.RaiseError("argument %d: %s", i, err.Error())
	}
	r.charge(L, conv.used)
	return lv
}

// goFunc wraps fn for Lua. For a method (self set), the first argument must be the object:
// obj:name(...), not obj.name(...).
func (s *Session) goFunc(name string, fn Func, self *lua.LTable) lua.LGFunction {
	return func(L *lua.LState) int {
		r := s.st.run()
		if r == nil {
			L.RaiseError("%s called outside a call", name)
		}
		first := 1
		if self != nil {
			if L.Get(1) != self {
				L.RaiseError("%s is a method: call it as self:%s(...)", name, name)
			}
			first = 2
		}
		top := L.GetTop()
		args := make([]any, 0, max(top-first+1, 0))
		var held int64
		defer func() { r.release(held) }()
		for i := first; i <= top; i++ {
			lv := L.Get(i)
			if f, ok := lv.(*lua.LFunction); ok {
				args = append(args, Value{lv: f})
				continue
			}
			v, n, err := r.argsToGo(L, lv)
			held += n
			if err != nil {
				L.RaiseError("invalid argument %d to %s: %s", i-first+1, name, err.Error())
			}
			args = append(args, v)
		}
		res, err := fn(r.serviceContext(), args)
		// A call that outlived the run (deadline, cancellation, watchdog) ends it.
		r.check(L)
		if err != nil {
			L.RaiseError("%s", truncate(err.Error(), maxFuncErrorBytes))
		}
		if v, ok := res.(Value); ok {
			L.Push(v.lv)
			return 1
		}
		conv := toLuaConv{L: L, r: r}
		lv, err := conv.value(res, 0)
		if err != nil {
			r.release(conv.used)
			L.RaiseError("%s returned a value scripts cannot use: %s", name, err.Error())
		}
		r.settle(conv.used, conv.used)
		L.Push(lv)
		return 1
	}
}
