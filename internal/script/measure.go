package script

import (
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// The memory walk: everything a run can still reach — its globals, the value stacks of its
// main thread and coroutines, upvalues, metatables — is visited once and sized from gopher-lua's
// actual layout (including capacity a table keeps after its contents shrink). Tables,
// functions, threads and long strings are counted once however often they are referenced.
// The shared, read-only tables of the state are not the run's and are skipped.

// Sizes of gopher-lua's objects, in bytes (64-bit).
const (
	tableBytes    = 96  // LTable
	slotBytes     = 16  // an LValue in an array or on the stack
	stringBytes   = 16  // a string header boxed in an LValue
	numberBytes   = 8   // a boxed number
	funcBytes     = 72  // LFunction
	upvalueBytes  = 48  // Upvalue
	userdataBytes = 64  // LUserData
	threadBytes   = 512 // LState, its allocator block and bookkeeping
	mapBytes      = 48  // a map header
	// strdictHint is the capacity gopher-lua gives a table's string map when it makes it for
	// the first string key; a constructor's may be smaller, but the walk cannot tell them apart.
	strdictHint = 32
	// dedupStrings is the length from which strings are counted once however often they are
	// referenced (shorter ones are counted per reference: cheaper than remembering them).
	dedupStrings = 64
)

type strKey struct {
	p *byte
	n int
}

// walker measures what a run holds. It is reused: its maps keep their capacity between walks.
type walker struct {
	seen  map[unsafe.Pointer]struct{}
	strs  map[strKey]struct{}
	work  []lua.LValue
	bytes int64
	items int64
	// sig is the run's signal: a walk of a large heap takes a while, so it gives up when the
	// run must end; stopped says the last walk did.
	sig     *signal
	stopped bool
}

// walkStopped unwinds a walk given up.
type walkStopped struct{}

// keepWalker is the size up to which the walker's maps and work list are kept between walks;
// larger ones are dropped, so an idle pooled state does not hold a big run's bookkeeping.
const keepWalker = 4096

func (w *walker) reset() {
	if len(w.seen) > keepWalker || len(w.strs) > keepWalker {
		w.seen, w.strs = nil, nil
	} else {
		clear(w.seen)
		clear(w.strs)
	}
	if cap(w.work) > keepWalker {
		w.work = nil
	} else {
		clear(w.work[:cap(w.work)])
		w.work = w.work[:0]
	}
}

// measure returns the bytes r can reach and the number of items the walk visited; it gives
// up (with stopped set) when the run is signalled to end.
func (w *walker) measure(r *run) (bytes, items int64) {
	w.reset()
	w.sig, w.stopped = r.st.sig, false
	defer func() {
		if rec := recover(); rec != nil {
			if _, ok := rec.(walkStopped); !ok {
				panic(rec)
			}
			bytes, items = w.bytes, w.items
			w.reset()
			w.stopped = true
		}
	}()
	if w.seen == nil {
		w.seen = map[unsafe.Pointer]struct{}{}
		w.strs = map[strKey]struct{}{}
	}
	w.bytes, w.items = 0, 0
	st := r.st
	for _, t := range st.shared {
		w.seen[unsafe.Pointer(t)] = struct{}{}
	}
	w.seen[unsafe.Pointer(st.L)] = struct{}{}
	for _, uv := range st.hidden {
		w.seen[unsafe.Pointer(uv.Value().(*lua.LFunction))] = struct{}{}
	}
	w.push(r.env)
	if r.roots != nil {
		w.push(r.roots)
	}
	w.stack(st.L, false) // the pooled state's own stack capacity is not the run's
	r.pruneCoroutines()  // a finished coroutine is the script's only if it still refers to it
	for _, c := range r.coroutines {
		w.push(c.th)
		w.push(c.fn)
	}
	for len(w.work) > 0 {
		v := w.work[len(w.work)-1]
		w.work[len(w.work)-1] = nil
		w.work = w.work[:len(w.work)-1]
		w.visit(r, v)
	}
	bytes, items = w.bytes, w.items
	w.reset()
	return bytes, items
}

// push counts a value, and queues a container not seen yet.
func (w *walker) push(v lua.LValue) {
	w.items++
	if w.items%4096 == 0 && w.sig != nil && w.sig.Err() != nil {
		panic(walkStopped{})
	}
	switch x := v.(type) {
	case lua.LString:
		n := len(x)
		if n >= dedupStrings {
			k := strKey{unsafe.StringData(string(x)), n}
			if _, ok := w.strs[k]; ok {
				return
			}
			w.strs[k] = struct{}{}
		}
		w.bytes += stringBytes + int64(n)
	case lua.LNumber:
		w.bytes += numberBytes
	case *lua.LTable:
		w.queue(unsafe.Pointer(x), v)
	case *lua.LFunction:
		w.queue(unsafe.Pointer(x), v)
	case *lua.LUserData:
		w.queue(unsafe.Pointer(x), v)
	case *lua.LState:
		w.queue(unsafe.Pointer(x), v)
	case lua.LChannel:
		w.bytes += userdataBytes
	}
}

func (w *walker) queue(p unsafe.Pointer, v lua.LValue) {
	if p == nil {
		return
	}
	if _, ok := w.seen[p]; ok {
		return
	}
	w.seen[p] = struct{}{}
	w.work = append(w.work, v)
}

func (w *walker) visit(r *run, v lua.LValue) {
	switch x := v.(type) {
	case *lua.LTable:
		w.table(x)
	case *lua.LFunction:
		w.bytes += funcBytes + int64(len(x.Upvalues))*(8+upvalueBytes)
		if x.Env != nil {
			w.push(x.Env)
		}
		for _, uv := range x.Upvalues {
			if uv != nil {
				w.push(uv.Value())
			}
		}
		if !x.IsG && x.Proto != nil {
			if n, ok := r.loaded[x.Proto]; ok {
				if _, counted := w.seen[unsafe.Pointer(x.Proto)]; !counted {
					w.seen[unsafe.Pointer(x.Proto)] = struct{}{}
					w.bytes += n
				}
			}
		}
	case *lua.LUserData:
		w.bytes += userdataBytes
		if x.Env != nil {
			w.push(x.Env)
		}
		w.push(x.Metatable)
		if lv, ok := x.Value.(lua.LValue); ok {
			w.push(lv)
		}
	case *lua.LState:
		w.bytes += threadBytes + int64(x.Options.CallStackSize)*callFrameBytes
		if x.Env != nil {
			w.push(x.Env)
		}
		w.stack(x, true)
	}
}

// stack counts a thread's value stack: the values in use, and its capacity if asked.
func (w *walker) stack(L *lua.LState, withCapacity bool) {
	values, capacity := stackValues(L)
	if withCapacity {
		w.bytes += int64(capacity) * slotBytes
	} else {
		w.bytes += int64(len(values)) * slotBytes
	}
	for _, v := range values {
		if v != nil {
			w.push(v)
		}
	}
}

func (w *walker) table(tb *lua.LTable) {
	w.bytes += tableBytes
	if tb.Metatable != nil {
		w.push(tb.Metatable)
	}
	p, ok := partsOf(tb)
	if !ok {
		// Without the layout, count what iteration shows.
		for k, v := tb.Next(lua.LNil); k != lua.LNil; k, v = tb.Next(k) {
			w.bytes += 4 * slotBytes
			w.push(k)
			w.push(v)
		}
		return
	}
	w.bytes += int64(cap(p.array)) * slotBytes
	for _, v := range p.array {
		if v != nil {
			w.push(v)
		}
	}
	if p.strdict != nil {
		w.bytes += mapSize(max(len(p.strdict), strdictHint), 2*slotBytes)
		for _, v := range p.strdict {
			w.push(v)
		}
	}
	if p.dict != nil {
		w.bytes += mapSize(len(p.dict), 2*slotBytes)
		for _, v := range p.dict {
			w.push(v)
		}
	}
	// keys and k2i remember every key ever set, deleted ones too: they hold the key values.
	w.bytes += int64(cap(p.keys)) * slotBytes
	for _, k := range p.keys {
		if k != nil {
			w.push(k)
		}
	}
	if p.k2iLen > 0 {
		w.bytes += mapSize(p.k2iLen, slotBytes+8)
	}
}

// mapSize estimates a Go map holding n entries of slot bytes: groups of 8 slots with a control
// word, filled to at most 7/8, in tables that double.
func mapSize(n, slot int) int64 {
	if n <= 8 {
		return mapBytes + 8*int64(slot) + 8
	}
	slots := 16
	for slots*7/8 < n {
		slots *= 2
	}
	return mapBytes + 32 + int64(slots)*int64(slot) + int64(slots)
}
