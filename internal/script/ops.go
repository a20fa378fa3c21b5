package script

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The hidden functions the rewriter puts into every chunk (see rewrite.go).

// tick starts every loop body and function body: it counts a step and the body's allocation
// weight, and every checkEvery ticks (or when the weight may have used up the memory left)
// takes the slow path that checks the deadline, the context and the watchdog, and walks.
func (st *state) tick(L *lua.LState) int {
	r := &st.rd
	var cost int64
	if L.GetTop() > 0 {
		if n, ok := L.Get(1).(lua.LNumber); ok {
			cost = int64(n) * weightBytes
		}
	}
	r.steps++
	r.checkIn--
	r.walkIn--
	r.sinceWalk += cost
	r.left -= cost
	if r.checkIn <= 0 || r.left < 0 || r.walkIn <= 0 || r.steps > r.limits.Steps {
		r.slowTick(L)
	}
	return 0
}

// concat is the .. operator over its arguments (a .. b .. c → concat(a, b, c)), with Lua's
// rules: strings and numbers join, right to left; anything else needs a __concat metamethod.
// The result's size is admitted before it is built.
func (st *state) concat(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	acc := L.Get(n)
	for i := n - 1; i >= 1; {
		lhs := L.Get(i)
		if isStringLike(lhs) && isStringLike(acc) {
			j := i
			for j > 1 && isStringLike(L.Get(j-1)) {
				j--
			}
			acc = st.join(L, j, i, acc)
			i = j - 1
			continue
		}
		acc = concatMeta(L, lhs, acc)
		i--
	}
	L.Push(acc)
	return 1
}

// join concatenates the string-like arguments j..i and then last.
func (st *state) join(L *lua.LState, j, i int, last lua.LValue) lua.LValue {
	var small [8]string
	parts := small[:0]
	total := 0
	for k := j; k <= i; k++ {
		s := toStringLike(L.Get(k))
		parts = append(parts, s)
		total += len(s)
	}
	s := toStringLike(last)
	parts = append(parts, s)
	total += len(s)
	st.rd.charge(L, int64(total))
	var b strings.Builder
	b.Grow(total)
	for _, p := range parts {
		b.WriteString(p)
	}
	return lua.LString(b.String())
}

func concatMeta(L *lua.LState, lhs, rhs lua.LValue) lua.LValue {
	mm := L.GetMetaField(lhs, "__concat")
	if mm == lua.LNil {
		mm = L.GetMetaField(rhs, "__concat")
	}
	fn, ok := mm.(*lua.LFunction)
	if !ok {
		bad := lhs
		if isStringLike(lhs) {
			bad = rhs
		}
		L.RaiseError("attempt to concatenate a %s value", bad.Type().String())
	}
	L.Push(fn)
	L.Push(lhs)
	L.Push(rhs)
	L.Call(2, 1)
	v := L.Get(-1)
	L.Pop(1)
	return v
}

func isStringLike(v lua.LValue) bool {
	switch v.(type) {
	case lua.LString, lua.LNumber:
		return true
	}
	return false
}

// toStringLike converts a string or number as Lua's concatenation does (numbers as tostring
// shows them).
func toStringLike(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return numberString(float64(x))
	}
	return ""
}

// numberString formats a number as gopher-lua's tostring does.
func numberString(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// set is t[k] = v for keys that could grow an array (see rewrite.go); it returns t.
func (st *state) set(L *lua.LState) int {
	obj, key, val := L.Get(1), L.Get(2), L.Get(3)
	if tb, ok := obj.(*lua.LTable); ok && tb.Metatable == lua.LNil {
		st.store(L, tb, key, val)
	} else {
		st.setSlow(L, obj, key, val)
	}
	L.SetTop(1)
	return 1
}

// setSlow follows __newindex like gopher-lua's settable, storing through store.
func (st *state) setSlow(L *lua.LState, obj, key, val lua.LValue) {
	cur := obj
	for i := 0; i < lua.MaxTableGetLoop; i++ {
		tb, isTable := cur.(*lua.LTable)
		if isTable && tb.RawGet(key) != lua.LNil {
			st.store(L, tb, key, val)
			return
		}
		mm := L.GetMetaField(cur, "__newindex")
		if mm == lua.LNil {
			if !isTable {
				L.RaiseError("attempt to index a non-table object(%v) with key '%s'", cur.Type().String(), key.String())
			}
			st.store(L, tb, key, val)
			return
		}
		if fn, ok := mm.(*lua.LFunction); ok {
			L.Push(fn)
			L.Push(cur)
			L.Push(key)
			L.Push(val)
			L.Call(3, 0)
			return
		}
		cur = mm
	}
	L.RaiseError("too many recursions in settable")
}

// store is a raw t[k] = v. gopher-lua fills the array part with nils up to an integer key,
// so a far key is an allocation of its own: the gap is charged before it is made.
func (st *state) store(L *lua.LState, tb *lua.LTable, key, val lua.LValue) {
	switch k := key.(type) {
	case lua.LNumber:
		f := float64(k)
		if math.IsNaN(f) {
			L.RaiseError("table index is NaN")
		}
		if f >= 1 && f < float64(lua.MaxArrayIndex) && f == math.Trunc(f) {
			idx := int(f)
			n := arrayLen(tb)
			if idx > n+1 {
				if val == lua.LNil {
					return // nothing there to delete, and nothing to grow
				}
				if gap := idx - 1 - n; gap > safeIndex {
					st.rd.charge(L, int64(gap)*16)
				}
			}
			tb.RawSetInt(idx, val)
			return
		}
	case *lua.LNilType:
		L.RaiseError("table index is nil")
	}
	tb.RawSet(key, val)
}

// sized wraps a constructor that ends in a call or ...: it received as many values as the
// call returned, so they are charged now.
func (st *state) sized(L *lua.LState) int {
	if tb, ok := L.Get(1).(*lua.LTable); ok {
		st.rd.charge(L, int64(arrayLen(tb))*16)
	}
	return 1
}
