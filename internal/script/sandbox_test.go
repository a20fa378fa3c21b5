package script

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// TestEnvironment checks what a script can and cannot see.
func TestEnvironment(t *testing.T) {
	e := newTestEngine(t, Options{})
	absent := []string{
		"dofile", "loadfile", "module", "require", "getfenv", "setfenv", "collectgarbage", "newproxy",
		"gcinfo", "_printregs", "_GOPHER_LUA_VERSION", "io", "debug", "package", "channel",
		"os.execute", "os.exit", "os.remove", "os.rename", "os.getenv", "os.setenv", "os.tmpname",
		"os.setlocale", "string.dump", "string.gfind",
	}
	present := map[string]string{
		"assert": "function", "error": "function", "getmetatable": "function", "ipairs": "function",
		"next": "function", "pairs": "function", "pcall": "function", "print": "function",
		"rawequal": "function", "rawget": "function", "rawset": "function", "select": "function",
		"setmetatable": "function", "tonumber": "function", "tostring": "function", "type": "function",
		"unpack": "function", "xpcall": "function", "load": "function", "loadstring": "function",
		"to_json": "function", "from_json": "function", "_G": "table", "_VERSION": "string",
		"string": "table", "table": "table", "math": "table", "os": "table", "coroutine": "table",
		"os.time": "function", "os.date": "function", "os.clock": "function", "os.difftime": "function",
		"string.byte": "function", "string.char": "function", "string.find": "function",
		"string.format": "function", "string.gmatch": "function", "string.gsub": "function",
		"string.len": "function", "string.lower": "function", "string.match": "function",
		"string.rep": "function", "string.reverse": "function", "string.sub": "function",
		"string.upper": "function", "table.concat": "function", "table.insert": "function",
		"table.remove": "function", "table.sort": "function", "table.maxn": "function",
		"math.floor": "function", "math.random": "function", "math.huge": "number", "math.pi": "number",
		"coroutine.create": "function", "coroutine.resume": "function", "coroutine.yield": "function",
		"coroutine.status": "function", "coroutine.wrap": "function", "coroutine.running": "function",
	}
	for _, name := range absent {
		t.Run("no "+name, func(t *testing.T) {
			res := mustRun(t, e, "return type("+name+")", Run{})
			if res.Return != "nil" {
				t.Errorf("type(%s) = %v, want nil", name, res.Return)
			}
		})
	}
	for name, typ := range present {
		t.Run(name, func(t *testing.T) {
			res := mustRun(t, e, "return type("+name+")", Run{})
			if res.Return != typ {
				t.Errorf("type(%s) = %v, want %s", name, res.Return, typ)
			}
		})
	}
	t.Run("_VERSION", func(t *testing.T) {
		if res := mustRun(t, e, `return _VERSION`, Run{}); res.Return != "Lua 5.1" {
			t.Errorf("_VERSION = %v", res.Return)
		}
	})
	t.Run("no implicit arg table", func(t *testing.T) {
		if res := mustRun(t, e, `local function f(...) return arg end return f(1, 2) == nil`, Run{}); res.Return != true {
			t.Errorf("a vararg function got an arg table")
		}
	})
	t.Run("the main chunk gets no arguments", func(t *testing.T) {
		if res := mustRun(t, e, `return select("#", ...)`, Run{}); res.Return != float64(0) {
			t.Errorf("select('#', ...) = %v", res.Return)
		}
	})
	t.Run("_G is the run's globals", func(t *testing.T) {
		res := mustRun(t, e, `X = 1; _G.Y = 2; return {X = _G.X, Y = Y, G = _G._G == _G, s = _G.string == string}`, Run{})
		want := map[string]any{"X": float64(1), "Y": float64(2), "G": true, "s": true}
		if !reflect.DeepEqual(res.Return, want) {
			t.Errorf("got %#v, want %#v", res.Return, want)
		}
	})
}

// TestForbidden tries what a sandbox must refuse; each must fail with a clear error or get
// nothing, and nothing may happen outside.
func TestForbidden(t *testing.T) {
	e := newTestEngine(t, Options{})
	dir := t.TempDir()
	mark := filepath.Join(dir, "created")
	q := strconv.Quote
	cases := []struct {
		name string
		src  string
		want string // in the runtime error; "" means the script returns "refused"
	}{
		{"os.execute", fmt.Sprintf(`os.execute("touch %s")`, mark), "attempt to call"},
		{"os.exit", `os.exit(3)`, "attempt to call"},
		{"io.open", fmt.Sprintf(`io.open(%s, "w")`, q(mark)), "attempt to index"},
		{"require os", `local o = require "os" o.execute("true")`, "attempt to call"},
		{"dofile", `dofile("/etc/passwd")`, "attempt to call"},
		{"loadfile", `loadfile("/etc/passwd")()`, "attempt to call"},
		{"load of string.dump", `load(string.dump(function() end))`, "attempt to call"},
		{"string.dump as a method", `return ("").dump(print)`, "attempt to call"},
		{"debug.getinfo", `return debug.getinfo(1).source`, "attempt to index"},
		{"getfenv", `return getfenv(0).io`, "attempt to call"},
		{"os through rawget", `return rawget(_G, "os").execute("true")`, "attempt to index"},
		{"setmetatable on a number", `setmetatable(1, {__index = function() return "leaked" end})`, "bad argument"},
		{"loadstring of bytecode", `local f, err = loadstring("\27LuaQ\0\1\4\8\4\8\0") if f == nil and err:find("binary") then return "refused" end`, ""},
		{"load of bytecode", `local f, err = load("\27LuaQ\0") if f == nil and err:find("binary") then return "refused" end`, ""},
		{"load of bytecode by a reader", `local sent local f, err = load(function() if sent then return nil end sent = true return "\27Lua" end)
if f == nil and err:find("binary") then return "refused" end`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runScript(t, e, tc.src, Run{})
			if tc.want == "" {
				if err != nil || res.Return != "refused" {
					t.Fatalf("got %v, %v; want the script to see the refusal", res.Return, err)
				}
			} else {
				wantRuntimeError(t, err, tc.want)
			}
			if _, err := os.Stat(mark); err == nil {
				t.Fatalf("the script created %s", mark)
			}
		})
	}
}

// onlyState returns the pooled state of an engine whose pool holds exactly one.
func onlyState(t *testing.T, e *Engine, depth int) *state {
	t.Helper()
	v, ok := e.pools.Load(depth)
	if !ok {
		t.Fatal("no pool")
	}
	ch := v.(chan *state)
	if len(ch) != 1 {
		t.Fatalf("pool holds %d states, want 1", len(ch))
	}
	st := <-ch
	ch <- st
	return st
}

// TestIsolation changes what a script could try to change for the runs after it, then checks
// the next run on the same pooled state — of the same solution or another — sees none of it.
func TestIsolation(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	const check = `
local function try(f) local ok, v = pcall(f) if ok then return v end return "error: " .. tostring(v) end
return {
  up = try(function() return string.upper("a") end),
  method = try(function() return ("b"):upper() end),
  low = try(function() return string.lower("C") end),
  ins = try(function() local t = {} table.insert(t, "i") return t[1] end),
  floor = try(function() return math.floor(1.5) end),
  x = X == nil, y = Y == nil, z = Z == nil,
  raw = rawget(string, "x") == nil,
  meta = getmetatable("").__index == string,
  gmeta = getmetatable(_G) == false,
  co = type(coroutine.create) == "function",
  nummeta = getmetatable(1) == nil,
  keys = (function() local n = 0 for k in pairs(_G) do n = n + 1 end return n end)(),
}`
	want := map[string]any{
		"up": "A", "method": "B", "low": "c", "ins": "i", "floor": float64(1),
		"x": true, "y": true, "z": true, "raw": true, "meta": true, "gmeta": true, "co": true,
		"nummeta": true, "keys": float64(0),
	}
	mustRun(t, e, check, Run{}) // warm: the pool now holds one state
	st := onlyState(t, e, testLimits.WithDefaults().CallDepth)

	cases := []struct {
		name   string
		src    string
		raises bool
	}{
		{"string.upper = nil", `string.upper = nil`, true},
		{"replace string.lower", `string.lower = function() return "pwned" end`, true},
		{"getmetatable('').__index = {}", `getmetatable("").__index = {}`, true},
		{"string metatable's __index.upper", `getmetatable("").__index.upper = function() return "pwned" end`, true},
		{"rawset the string metatable", `rawset(getmetatable(""), "__index", {})`, true},
		{"setmetatable(string, nil)", `setmetatable(string, nil)`, true},
		{"rawset(string, 'x', 1)", `rawset(string, "x", 1)`, true},
		{"table.insert = nil", `table.insert = nil`, true},
		{"math.floor replaced", `math.floor = function() return -1 end`, true},
		{"coroutine.create = nil", `coroutine.create = nil`, true},
		{"setmetatable on _G", `setmetatable(_G, {__index = function(_, k) return "leaked " .. k end})`, true},
		{"setmetatable on a number", `setmetatable(1, {})`, true},
		{"X = 1", `X = 1`, false},
		{"_G.Y = 2", `_G.Y = 2`, false},
		{"rawset(_G, 'Z', 3)", `rawset(_G, "Z", 3)`, false},
		{"string = nil", `string = nil; X = 1`, false},
		{"everything under pcall", `
X = 1
pcall(function() string.upper = nil end)
pcall(function() getmetatable("").__index = {} end)
pcall(function() setmetatable(string, nil) end)
pcall(function() rawset(string, "x", 1) end)
_G.Y = 2`, false},
	}
	for _, tc := range cases {
		for _, sol := range []string{"same", "other"} {
			t.Run(tc.name+"/"+sol, func(t *testing.T) {
				_, err := runScript(t, e, tc.src, Run{Solution: "same"})
				if tc.raises {
					wantRuntimeError(t, err, "")
				} else if err != nil {
					t.Fatalf("the change failed: %v", err)
				}
				if got := onlyState(t, e, st.depth); got != st {
					t.Fatal("the pool holds a different state: the test would prove nothing")
				}
				res := mustRun(t, e, check, Run{Solution: sol})
				if !reflect.DeepEqual(res.Return, want) {
					t.Errorf("after %q the next run saw %#v, want %#v", tc.src, res.Return, want)
				}
			})
		}
	}
}

// TestLoad checks code loaded at run time: it works, sees the run's globals, and gets the same
// rewriting (so the same limits) as the main chunk.
func TestLoad(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name  string
		src   string
		want  any
		limit string
	}{
		{"loadstring", `return loadstring("return 1 + 1")()`, float64(2), ""},
		{"load of a string", `return load("return ...")(7)`, float64(7), ""},
		{"load by a reader", `local parts = {"return ", "'a' .. ", "'b'"} local i = 0
return load(function() i = i + 1 return parts[i] end)()`, "ab", ""},
		{"loaded code sees globals", `G = 5 return load("return G * 2")()`, float64(10), ""},
		{"loaded code sets globals", `load("H = 3")() return H`, float64(3), ""},
		{"a syntax error", `local f, err = loadstring("return +") return f == nil and err:find('%[string "return %+"%]:1:') ~= nil`, true, ""},
		{"a chunk name", `local f, err = loadstring("error('x')", "mine") local ok, msg = pcall(f) return msg`, "mine:1: x", ""},
		{"endless loop in loaded code", `load("while true do end")()`, nil, LimitSteps},
		{"recursion in loaded code", `load("local function f() return f() + 1 end f()")()`, nil, LimitCallDepth},
		{"sparse index in loaded code", `load("local t = {} t[6e7] = 1")()`, nil, LimitMemory},
		{"loading without end", `local src = "return " .. string.rep("1 + ", 1e5) .. "1" while true do load(src) end`, nil, LimitMemory},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runScript(t, e, tc.src, Run{Limits: Limits{Memory: 4 << 20, Steps: 200_000}})
			if tc.limit != "" {
				wantLimit(t, err, tc.limit, LimitTime)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Return != tc.want {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
		})
	}
}

// TestProtectedTables checks the read-only library tables behave as tables for reading.
func TestProtectedTables(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name, src string
		want      any
	}{
		{"pairs over a library", `local n = 0 for k, v in pairs(string) do n = n + 1 end return n > 10`, true},
		{"next over a library", `return next(math) ~= nil`, true},
		{"rawget from a library", `return rawget(string, "upper") == string.upper`, true},
		{"getmetatable of a library", `return getmetatable(string)`, false},
		{"writing says read-only", `local ok, err = pcall(function() table.x = 1 end) return err:find("read%-only") ~= nil`, true},
		{"string methods", `return ("%d-%s"):format(3, "x")`, "3-x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if res := mustRun(t, e, tc.src, Run{}); res.Return != tc.want {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
		})
	}
}
