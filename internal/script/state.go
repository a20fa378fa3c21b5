package script

import (
	"sync"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// Sizes of a Lua state's value stack, in slots (16 bytes each). The stack may grow to
// registryMaxSize, which bounds what unpack, string.byte and deep recursion can put on it.
const (
	registrySize     = 1024
	registryGrowStep = 1024
	registryMaxSize  = 64 * 1024
	// callSlack is room in the call stack beyond CallDepth for the sandbox's own frames
	// (the main function and a hidden call in progress).
	callSlack = 2
)

// state is one pooled Lua state and the sandbox built around it. Everything a script can reach
// that outlives a run (library tables, the string metatable, service proxies) is read-only;
// everything a run can change (its globals) is made fresh for each run.
type state struct {
	e      *Engine
	L      *lua.LState
	depth  int  // the CallDepth this state was built for
	broken bool // a run ended in a way that may have left the state inconsistent

	// cur is the run in progress (nil between runs); the watchdog reads it.
	cur atomic.Pointer[run]
	// mu orders a run's start and end against the watchdog stopping it.
	mu sync.Mutex
	rd run // the run data, reused

	sig *signal // the context the VM checks before each instruction (signal.go)

	base         *lua.LTable                 // globals every run falls back to
	envMeta      *lua.LTable                 // metatable of each run's globals table
	lazyMeta     *lua.LTable                 // metatable of tables with fields not made yet (body.go)
	makeFieldsFn *lua.LFunction              // makes a table's pending fields, for protected calls
	proxies      map[*lua.LTable]*lua.LTable // read-only proxy → the table it shows
	shared       []*lua.LTable               // tables the memory walk does not count

	hidden [4]*lua.Upvalue           // the hidden functions, by hiddenNames index
	upvals map[string][]*lua.Upvalue // Program.upkey → the main function's upvalues
	svc    map[string]*serviceProxy  // alias → its proxy
	coOrig struct{ create, wrap, resume lua.LGFunction }

	w walker
}

func newState(e *Engine, depth int) *state {
	L := lua.NewState(lua.Options{
		CallStackSize:    depth + callSlack,
		RegistrySize:     registrySize,
		RegistryGrowStep: registryGrowStep,
		RegistryMaxSize:  registryMaxSize,
		SkipOpenLibs:     true,
	})
	st := &state{
		e:       e,
		L:       L,
		depth:   depth,
		proxies: map[*lua.LTable]*lua.LTable{},
		upvals:  map[string][]*lua.Upvalue{},
		svc:     map[string]*serviceProxy{},
	}
	st.rd.st = st
	st.sig = &signal{}
	for i, fn := range []lua.LGFunction{st.tick, st.concat, st.set, st.sized} {
		uv := &lua.Upvalue{}
		uv.Close()
		uv.SetValue(L.NewFunction(fn))
		st.hidden[i] = uv
	}
	st.openLibs()
	L.SetContext(st.sig)
	return st
}

func (st *state) close() {
	if !st.L.IsClosed() {
		st.L.Close()
	}
}

// upvaluesFor returns the main function's upvalues for a program's key. They are closed
// upvalues holding Go functions; no script can name them, so they are shared by every run.
func (st *state) upvaluesFor(key string) []*lua.Upvalue {
	if ups, ok := st.upvals[key]; ok {
		return ups
	}
	ups := make([]*lua.Upvalue, len(key))
	for i := 0; i < len(key); i++ {
		ups[i] = st.hidden[key[i]]
	}
	st.upvals[key] = ups
	return ups
}

// readOnly returns a proxy that shows real but refuses every change: reads go to real through
// __index, writes fail in __newindex, and __metatable hides and protects the metatable.
func (st *state) readOnly(real *lua.LTable) *lua.LTable {
	L := st.L
	p := L.CreateTable(0, 0)
	mt := L.CreateTable(0, 3)
	mt.RawSetString("__index", real)
	mt.RawSetString("__newindex", L.NewFunction(refuseWrite))
	mt.RawSetString("__metatable", lua.LFalse)
	p.Metatable = mt
	st.proxies[p] = real
	st.shared = append(st.shared, p, mt, real)
	return p
}

func refuseWrite(L *lua.LState) int {
	L.RaiseError("attempt to modify a read-only table (key '%s')", L.Get(2).String())
	return 0
}

// seeThrough returns the table a read-only proxy shows, or tb itself.
func (st *state) seeThrough(tb *lua.LTable) *lua.LTable {
	if real, ok := st.proxies[tb]; ok {
		return real
	}
	return tb
}

// isProtected reports whether tb is shared between runs (and so must not change).
func (st *state) isProtected(tb *lua.LTable) bool {
	_, ok := st.proxies[tb]
	return ok
}
