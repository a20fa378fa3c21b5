package script

import (
	"math/rand/v2"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// openLibs builds the environment: gopher-lua's libraries are opened into the state's own
// globals, then the allowed functions are copied (or replaced by budgeted versions) into fresh
// tables that scripts see through read-only proxies. The originals are then dropped.
func (st *state) openLibs() {
	L := st.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{"", lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	orig := L.G.Global
	origLib := func(name string) *lua.LTable { return orig.RawGetString(name).(*lua.LTable) }
	copyFns := func(dst, src *lua.LTable, names ...string) {
		for _, n := range names {
			dst.RawSetString(n, src.RawGetString(n))
		}
	}
	setFns := func(dst *lua.LTable, fns map[string]lua.LGFunction) {
		for n, fn := range fns {
			dst.RawSetString(n, L.NewFunction(fn))
		}
	}

	str := L.CreateTable(0, 16)
	copyFns(str, origLib("string"), "byte", "char", "len", "sub")
	setFns(str, map[string]lua.LGFunction{
		"find": st.strFind, "match": st.strMatch, "gmatch": st.strGmatch, "gsub": st.strGsub,
		"format": st.strFormat, "rep": st.strRep, "upper": st.strUpper, "lower": st.strLower,
		"reverse": st.strReverse,
	})

	tbl := L.CreateTable(0, 8)
	copyFns(tbl, origLib("table"), "remove", "getn", "maxn")
	origSort := origLib("table").RawGetString("sort").(*lua.LFunction).GFunction
	setFns(tbl, map[string]lua.LGFunction{"concat": st.tableConcat, "insert": st.tableInsert, "sort": st.tableSort(origSort)})

	math := L.CreateTable(0, 32)
	origMath := origLib("math")
	origMath.ForEach(func(k, v lua.LValue) { math.RawSet(k, v) })
	// The generator is shared by the whole process: seeding it is not a script's business.
	math.RawSetString("randomseed", L.NewFunction(func(*lua.LState) int { return 0 }))
	math.RawSetString("random", L.NewFunction(mathRandom))

	osTbl := L.CreateTable(0, 4)
	copyFns(osTbl, origLib("os"), "time", "clock", "difftime")
	origDate := origLib("os").RawGetString("date").(*lua.LFunction).GFunction
	osTbl.RawSetString("date", L.NewFunction(st.osDate(origDate)))

	co := L.CreateTable(0, 8)
	origCo := origLib("coroutine")
	copyFns(co, origCo, "yield", "status", "running")
	st.coOrig.create = origCo.RawGetString("create").(*lua.LFunction).GFunction
	st.coOrig.wrap = origCo.RawGetString("wrap").(*lua.LFunction).GFunction
	st.coOrig.resume = origCo.RawGetString("resume").(*lua.LFunction).GFunction
	setFns(co, map[string]lua.LGFunction{"create": st.coCreate, "wrap": st.coWrap, "resume": st.coResume})

	base := L.CreateTable(0, 40)
	copyFns(base, orig, "assert", "error", "ipairs", "rawequal", "select",
		"tonumber", "tostring", "type")
	base.RawSetString("getmetatable", L.NewFunction(st.getmetatable(orig.RawGetString("getmetatable").(*lua.LFunction).GFunction)))
	setFns(base, map[string]lua.LGFunction{
		"next": st.next, "pairs": st.pairs, "rawget": st.rawget, "rawset": st.rawset,
		"setmetatable": st.setmetatable, "unpack": st.unpack, "pcall": st.pcall, "xpcall": st.xpcall,
		"print": st.print, "load": st.load, "loadstring": st.loadstring,
		"to_json": st.toJSON, "from_json": st.fromJSON,
	})
	base.RawSetString("_VERSION", lua.LString(lua.LuaVersion))
	strProxy := st.readOnly(str)
	base.RawSetString("string", strProxy)
	base.RawSetString("table", st.readOnly(tbl))
	base.RawSetString("math", st.readOnly(math))
	base.RawSetString("os", st.readOnly(osTbl))
	base.RawSetString("coroutine", st.readOnly(co))
	base.RawSetString("Log", st.readOnly(st.logTable(L)))

	// After the run's own globals and the base library come the services.
	baseMeta := L.CreateTable(0, 1)
	baseMeta.RawSetString("__index", L.NewFunction(st.globalIndex))
	base.Metatable = baseMeta
	st.base = base
	st.envMeta = L.CreateTable(0, 2)
	st.envMeta.RawSetString("__index", base)
	st.envMeta.RawSetString("__metatable", lua.LFalse)

	// Strings index the string library. getmetatable("") shows a read-only view, so no script
	// can change what every other run's strings do.
	view := L.CreateTable(0, 1)
	view.RawSetString("__index", strProxy)
	strMeta := L.CreateTable(0, 2)
	strMeta.RawSetString("__index", strProxy)
	strMeta.RawSetString("__metatable", st.readOnly(view))
	L.SetMetatable(lua.LString(""), strMeta)

	st.lazyMeta = L.CreateTable(0, 2)
	st.lazyMeta.RawSetString("__index", L.NewFunction(st.lazyIndex))
	st.lazyMeta.RawSetString("__newindex", L.NewFunction(st.lazyNewIndex))
	st.makeFieldsFn = L.NewFunction(func(L *lua.LState) int {
		st.rd.makeFields(L, L.CheckTable(1))
		return 0
	})

	st.shared = append(st.shared, base, baseMeta, st.envMeta, strMeta, st.lazyMeta)

	// Nothing may reach gopher-lua's own tables (with os.execute, io, ...) any more.
	L.G.Global = L.CreateTable(0, 0)
	L.G.Registry = L.CreateTable(0, 0)
	L.Env = L.G.Global
	L.SetTop(0)
}

// globalIndex resolves a global that is neither the run's own nor in the base library:
// _G is the run's globals table, a service alias is that service's proxy.
func (st *state) globalIndex(L *lua.LState) int {
	r := st.run()
	key, ok := L.Get(2).(lua.LString)
	if !ok || r == nil {
		return 0
	}
	k := string(key)
	if k == "_G" {
		L.Push(r.env)
		return 1
	}
	if lv, ok := r.readLazy(L, k); ok {
		L.Push(lv)
		return 1
	}
	if r.services != nil && len(k) > 0 && k[0] >= 'A' && k[0] <= 'Z' {
		if r.services.Has(k) {
			L.Push(st.serviceProxy(k).table)
			return 1
		}
		if r.indexed[k] {
			st.noService(L, r, k)
		}
	}
	return 0
}

// run returns the run in progress on this state.
func (st *state) run() *run { return st.cur.Load() }

func (st *state) next(L *lua.LState) int {
	tb := st.seeThrough(L.CheckTable(1))
	if tb.Metatable == st.lazyMeta {
		st.rd.makeFields(L, tb)
	}
	k, v := tb.Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

func (st *state) pairs(L *lua.LState) int {
	tb := st.seeThrough(L.CheckTable(1))
	if tb.Metatable == st.lazyMeta {
		st.rd.makeFields(L, tb)
	}
	L.Push(st.base.RawGetString("next"))
	L.Push(tb)
	L.Push(lua.LNil)
	return 3
}

func (st *state) rawget(L *lua.LState) int {
	tb := st.seeThrough(L.CheckTable(1))
	if tb.Metatable == st.lazyMeta {
		st.rd.makeFields(L, tb)
	}
	L.Push(tb.RawGet(L.CheckAny(2)))
	return 1
}

func (st *state) rawset(L *lua.LState) int {
	tb := L.CheckTable(1)
	k := L.CheckAny(2)
	v := L.CheckAny(3)
	if st.isProtected(tb) {
		L.RaiseError("attempt to modify a read-only table (key '%s')", k.String())
	}
	if tb.Metatable == st.lazyMeta {
		st.rd.forgetField(tb, k)
	}
	st.store(L, tb, k, v)
	L.SetTop(1)
	return 1
}

// setmetatable is Lua 5.1's: tables only (gopher-lua would also set the metatable shared by
// every number, function or boolean of the state), never a protected one.
func (st *state) setmetatable(L *lua.LState) int {
	tb := L.CheckTable(1)
	mt := L.Get(2)
	if mt != lua.LNil {
		if _, ok := mt.(*lua.LTable); !ok {
			L.ArgError(2, "nil or table expected")
		}
	}
	if st.isProtected(tb) {
		L.RaiseError("cannot change a protected metatable")
	}
	if tb.Metatable == st.lazyMeta {
		st.rd.makeFields(L, tb)
	}
	if cur, ok := tb.Metatable.(*lua.LTable); ok && cur.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	tb.Metatable = mt
	L.SetTop(1)
	return 1
}

// unpack is Lua's, refusing more results than the stack can hold instead of filling it.
func (st *state) unpack(L *lua.LState) int {
	tb := L.CheckTable(1)
	i := L.OptInt(2, 1)
	j := L.OptInt(3, tb.Len())
	if i > j {
		return 0
	}
	n := int64(j) - int64(i) + 1
	if n >= registryMaxSize/2 || n < 0 {
		L.RaiseError("too many results to unpack")
	}
	for k := i; k <= j; k++ {
		L.Push(tb.RawGetInt(k))
	}
	return int(n)
}

// pcall is Lua's, except that it cannot catch the end of a run: a limit, a cancellation or
// a stack overflow raises again.
func (st *state) pcall(L *lua.LState) int {
	v := L.CheckAny(1)
	if v.Type() != lua.LTFunction && L.GetMetaField(v, "__call").Type() != lua.LTFunction {
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(lua.LString("attempt to call a " + v.Type().String() + " value"))
		return 2
	}
	if err := L.PCall(L.GetTop()-1, lua.MultRet, nil); err != nil {
		return st.caught(L, err)
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

func (st *state) xpcall(L *lua.LState) int {
	fn := L.CheckFunction(1)
	handler := L.CheckFunction(2)
	top := L.GetTop()
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, handler); err != nil {
		return st.caught(L, err)
	}
	L.Insert(lua.LTrue, top+1)
	return L.GetTop() - top
}

// caught finishes a pcall or xpcall that failed: false and the error, unless the run is over.
func (st *state) caught(L *lua.LState, err error) int {
	r := st.run()
	obj := errorValue(err)
	if r.err == nil && isStackOverflow(obj) {
		r.err = newLimitError(r.limits, LimitCallDepth, "")
	}
	if ae, ok := err.(*lua.ApiError); ok && ae.Type == lua.ApiErrorPanic {
		st.broken = true
	}
	if r.ended() {
		r.reraise(L)
	}
	L.Push(lua.LFalse)
	L.Push(obj)
	return 2
}

func errorValue(err error) lua.LValue {
	if ae, ok := err.(*lua.ApiError); ok {
		return ae.Object
	}
	return lua.LString(err.Error())
}

// isStackOverflow recognizes gopher-lua's error for a full call stack.
func isStackOverflow(v lua.LValue) bool {
	s, ok := v.(lua.LString)
	return ok && strings.HasSuffix(string(s), "stack overflow")
}

func (st *state) loadstring(L *lua.LState) int {
	src := L.CheckString(1)
	return st.loadSource(L, src, L.OptString(2, chunkName(src)))
}

// load accepts a string (Lua 5.2) or a reader function (Lua 5.1). Source only: bytecode is
// refused, and the code gets the same rewriting as the main chunk.
func (st *state) load(L *lua.LState) int {
	switch chunk := L.Get(1).(type) {
	case lua.LString:
		return st.loadSource(L, string(chunk), L.OptString(2, chunkName(string(chunk))))
	case *lua.LFunction:
		r := st.run()
		var b budgetBuf
		b.init(r, L)
		defer b.release()
		for {
			L.Push(chunk)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			if piece == lua.LNil {
				break
			}
			s, ok := piece.(lua.LString)
			if !ok {
				if n, isNum := piece.(lua.LNumber); isNum {
					s = lua.LString(n.String())
				} else {
					L.Push(lua.LNil)
					L.Push(lua.LString("reader function must return a string"))
					return 2
				}
			}
			if len(s) == 0 {
				break
			}
			b.writeString(string(s))
		}
		return st.loadSource(L, b.string(), L.OptString(2, "(load)"))
	default:
		L.TypeError(1, lua.LTString)
		return 0
	}
}

// chunkName is Lua's name for a chunk loaded from a string: [string "its first line"].
func chunkName(src string) string {
	line, _, more := strings.Cut(src, "\n")
	if len(line) > 40 {
		line, more = line[:40], true
	}
	if more {
		line += "..."
	}
	return `[string "` + line + `"]`
}

func (st *state) loadSource(L *lua.LState, src, name string) int {
	r := st.run()
	// Parsing and compiling take several times the source in transient memory.
	transient := int64(min(len(src), MaxLoadBytes+1)) * compileFactor
	r.hold(L, transient)
	proto, key, err := compileProto(name, src, compileLimits{source: MaxLoadBytes, work: maxLoadWork, stop: r.stopReason})
	r.release(transient)
	if err != nil {
		if _, ok := err.(*CompileError); !ok { // the run's time is up, or its caller gone
			r.fail(L, err)
		}
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	r.charge(L, r.addLoaded(proto))
	// The loaded code may read any global bare: no read can be known to be indexed any more.
	r.indexed = nil
	L.Push(&lua.LFunction{Env: r.env, Proto: proto, Upvalues: st.upvaluesFor(key)})
	return 1
}

// compileFactor is how much transient memory compiling takes per byte of source.
const compileFactor = 16

// osDate is os.date with its output budgeted: a format item expands to at most ~30 bytes.
func (st *state) osDate(orig lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		r := st.run()
		if f, ok := L.Get(1).(lua.LString); ok {
			n := int64(len(f))*16 + 64
			r.hold(L, n)
			defer r.release(n)
		}
		return orig(L)
	}
}

// tableInsert is Lua's table.insert; a position past the end goes through the budgeted store.
func (st *state) tableInsert(L *lua.LState) int {
	tb := L.CheckTable(1)
	switch L.GetTop() {
	case 2:
		tb.Append(L.Get(2))
	case 3:
		pos := L.CheckInt(2)
		v := L.Get(3)
		if pos > arrayLen(tb) || pos <= 0 {
			st.store(L, tb, lua.LNumber(pos), v)
		} else {
			tb.Insert(pos, v)
		}
	default:
		L.RaiseError("wrong number of arguments to 'insert'")
	}
	return 0
}

// mathRandom is Lua's math.random (gopher-lua's panics on an empty interval).
func mathRandom(L *lua.LState) int {
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(rand.Float64()))
	case 1:
		m := L.CheckInt64(1)
		if m < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(rand.Int64N(m) + 1))
	default:
		lo, hi := L.CheckInt64(1), L.CheckInt64(2)
		if lo > hi {
			L.ArgError(2, "interval is empty")
		}
		span := uint64(hi-lo) + 1
		var n uint64
		if span == 0 { // the whole int64 range
			n = rand.Uint64()
		} else {
			n = rand.Uint64N(span)
		}
		L.Push(lua.LNumber(lo + int64(n)))
	}
	return 1
}

// tableSort is table.sort, counting comparisons as work so a huge sort stays within the
// run's step and time limits.
func (st *state) tableSort(orig lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		tb := L.CheckTable(1)
		var cmp *lua.LFunction
		if L.Get(2) != lua.LNil {
			cmp = L.CheckFunction(2)
		}
		p, ok := partsOf(tb)
		if !ok {
			return orig(L)
		}
		sort.Sort(&luaSorter{L: L, r: &st.rd, cmp: cmp, a: p.array})
		return 0
	}
}

type luaSorter struct {
	L    *lua.LState
	r    *run
	cmp  *lua.LFunction
	a    []lua.LValue
	work int
}

func (s *luaSorter) Len() int      { return len(s.a) }
func (s *luaSorter) Swap(i, j int) { s.a[i], s.a[j] = s.a[j], s.a[i] }
func (s *luaSorter) Less(i, j int) bool {
	if s.cmp == nil {
		// Comparing strings takes time in their length (gopher-lua compares byte by byte).
		units := 1
		if a, ok := s.a[i].(lua.LString); ok {
			if b, ok := s.a[j].(lua.LString); ok {
				units += min(len(a), len(b)) / bytesPerUnit
			}
		}
		s.r.spendWork(s.L, &s.work, units)
		return s.L.LessThan(s.a[i], s.a[j])
	}
	s.r.spendWork(s.L, &s.work, 1)
	s.L.Push(s.cmp)
	s.L.Push(s.a[i])
	s.L.Push(s.a[j])
	s.L.Call(2, 1)
	v := s.L.Get(-1)
	s.L.Pop(1)
	return lua.LVAsBool(v)
}

// coroutineCost is what a coroutine's own stacks take.
func (st *state) coroutineCost() int64 {
	return int64(registrySize)*16 + int64(st.depth+callSlack)*callFrameBytes + 1024
}

func (st *state) coCreate(L *lua.LState) int {
	fn := L.CheckFunction(1)
	r := st.run()
	r.admitCoroutine(L)
	var n int
	st.withoutSignal(L, func() { n = st.coOrig.create(L) })
	if th, ok := L.Get(-1).(*lua.LState); ok {
		th.SetContext(st.sig)
		r.coroutines = append(r.coroutines, coroutineRec{th: th, fn: fn})
	}
	return n
}

func (st *state) coWrap(L *lua.LState) int {
	fn := L.CheckFunction(1)
	r := st.run()
	r.admitCoroutine(L)
	var n int
	st.withoutSignal(L, func() { n = st.coOrig.wrap(L) })
	if w, ok := L.Get(-1).(*lua.LFunction); ok && len(w.Upvalues) > 0 {
		if th, ok := w.Upvalues[0].Value().(*lua.LState); ok {
			th.SetContext(st.sig)
			r.coroutines = append(r.coroutines, coroutineRec{th: th, fn: fn})
		}
	}
	return n
}

// coResume is coroutine.resume; a coroutine that ended the run ends its resumer too.
func (st *state) coResume(L *lua.LState) int {
	n := st.coOrig.resume(L)
	r := st.run()
	if r.err == nil && n >= 2 && L.Get(-n) == lua.LFalse && isStackOverflow(L.Get(-n+1)) {
		r.err = newLimitError(r.limits, LimitCallDepth, "in a coroutine")
	}
	if r.ended() {
		r.reraise(L)
	}
	return n
}
