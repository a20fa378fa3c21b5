package script

import (
	"cmp"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// TestInternalsLayout fails loudly if gopher-lua's unexported layout (its value stack and its
// table parts) is not what the memory walk reads: after an upgrade of gopher-lua, check
// internals.go against the new sources.
func TestInternalsLayout(t *testing.T) {
	if !internals.ok {
		t.Fatalf("gopher-lua's layout changed; the memory walk cannot see stacks and tables: %v", internals.err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	L.Push(lua.LString("a"))
	L.Push(lua.LNumber(2))
	values, capacity := stackValues(L)
	if len(values) != 2 || values[0] != lua.LString("a") || values[1] != lua.LNumber(2) || capacity < 2 {
		t.Fatalf("stack read as %v (capacity %d), want [a 2]", values, capacity)
	}
	tb := L.NewTable()
	tb.RawSetInt(1, lua.LString("one"))
	tb.RawSetString("k", lua.LTrue)
	tb.RawSet(lua.LNumber(1.5), lua.LFalse)
	tb.RawSetString("gone", lua.LTrue)
	tb.RawSetString("gone", lua.LNil)
	p, ok := partsOf(tb)
	switch {
	case !ok:
		t.Fatal("partsOf failed")
	case len(p.array) != 1 || p.array[0] != lua.LString("one"):
		t.Errorf("array read as %v", p.array)
	case len(p.strdict) != 1 || p.strdict["k"] != lua.LTrue:
		t.Errorf("strdict read as %v", p.strdict)
	case len(p.dict) != 1 || p.dict[lua.LNumber(1.5)] != lua.LFalse:
		t.Errorf("dict read as %v", p.dict)
	case len(p.keys) != 3 || p.k2iLen != 3:
		t.Errorf("keys read as %v (k2i %d), want the 3 keys ever set", p.keys, p.k2iLen)
	case arrayLen(tb) != 1:
		t.Errorf("arrayLen = %d", arrayLen(tb))
	}
}

// TestMemoryAccounting checks the walk's sizes are close to what gopher-lua really uses: each
// script holds about real bytes, and must fail under half of that and pass with three times
// (four for tables given string keys in a constructor, which the walk counts at about 3.3
// times their use: a run of them passes with three times only when no walk happens before it
// ends, which depends on how fast the machine is). Each case gets an engine of its own.
func TestMemoryAccounting(t *testing.T) {
	cases := []struct {
		name string
		src  string
		real int64 // measured with runtime.MemStats around the same code in plain gopher-lua
		over int64 // how many times real the walk may count; 3 when 0
	}{
		{"an array of integers", `local t = {} for i = 1, 1e5 do t[i] = i end return #t`, 3_500_000, 0},
		{"tables given a string key after creation", `local t = {} for i = 1, 1e4 do local x = {} x.a = 1 t[i] = x end return #t`, 28_000_000, 0},
		{"tables with string keys from a constructor", `local t = {} for i = 1, 1e4 do t[i] = {a = i} end return #t`, 7_500_000, 4},
		{"strings", `local t = {} for i = 1, 1e5 do t[i] = "abcdefgh" .. i end return #t`, 5_000_000, 0},
		{"string keys", `local t = {} for i = 1, 1e5 do t["k" .. i] = true end return 1`, 15_000_000, 0},
		{"closures", `local t = {} for i = 1, 1e4 do t[i] = function() return i end end return #t`, 1_500_000, 0},
		{"coroutines", `local t = {} for i = 1, 50 do t[i] = coroutine.create(print) end return #t`, 1_700_000, 0},
		{"a long string", `local s = string.rep("x", 3e6) return #s`, 3_000_000, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			_, err := runScript(t, e, tc.src, Run{Limits: Limits{Memory: tc.real / 2}})
			wantLimit(t, err, LimitMemory)
			over := cmp.Or(tc.over, 3)
			if _, err := runScript(t, e, tc.src, Run{Limits: Limits{Memory: tc.real * over}}); err != nil {
				t.Fatalf("with %s: %v", formatBytes(tc.real*over), err)
			}
		})
	}
}
