package script

import (
	"context"
	"errors"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// processAllocs is the bytes the process has allocated so far.
func processAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestLimits runs one hostile script per case; each must end with the named limit (and would
// run away without the protection it tests). Memory cases also check the process did not
// allocate far more than the limit on the way.
func TestLimits(t *testing.T) {
	e := newTestEngine(t, Options{})
	fast := Limits{Timeout: 300 * time.Millisecond, Memory: 4 << 20, Steps: 1 << 40}
	cases := []struct {
		name   string
		src    string
		limits Limits // zero: testLimits
		want   []string
	}{
		// 1. Endless loops.
		{"endless loop hits the time limit", `while true do end`, fast, []string{LimitTime}},
		{"endless loop hits the steps limit", `while true do end`, Limits{Steps: 100_000, Memory: 4 << 20}, []string{LimitSteps}},
		{"endless repeat", `repeat until false`, fast, []string{LimitTime}},
		{"endless numeric for", `for i = 1, math.huge do end`, fast, []string{LimitTime}},
		{"endless generic for", `local function it() return 1 end for x in it do end`, fast, []string{LimitTime}},
		{"endless goto loop", `::top:: goto top`, fast, []string{LimitTime}},
		{"endless tail calls", `local function f() return f() end f()`, fast, []string{LimitTime}},
		{"endless loop under pcall", `while true do pcall(function() while true do end end) end`, fast, []string{LimitTime}},
		{"endless loop in a coroutine", `coroutine.wrap(function() while true do end end)()`, fast, []string{LimitTime}},
		{"endless loop in a resumed coroutine", `local co = coroutine.create(function() while true do end end)
local ok, err = coroutine.resume(co) error("resume returned: " .. tostring(err))`, fast, []string{LimitTime}},
		{"endless loop in an error handler", `xpcall(error, function() while true do end end)`, fast, []string{LimitTime}},
		{"endless loop in a __concat", `local t = setmetatable({}, {__concat = function() while true do end end}) return t .. "x"`, fast, []string{LimitTime}},
		{"endless loop in a sort comparator", `table.sort({3, 2, 1}, function() while true do end end)`, fast, []string{LimitTime}},
		{"endless loop in a gsub callback", `string.gsub("abc", ".", function() while true do end end)`, fast, []string{LimitTime}},
		{"a long sort", `local t = {string.byte(string.rep("x", 60000), 1, -1)} table.sort(t) table.sort(t, function(a, b) return a > b end)`, Limits{Steps: 500, Memory: 4 << 20}, []string{LimitSteps}},
		{"catastrophic pattern", `return string.find(string.rep("a", 2000), string.rep("a-", 60) .. "b")`, fast, []string{LimitTime}},

		// 2. Unbounded recursion.
		{"unbounded recursion", `local function f() return f() + 1 end f()`, Limits{}, []string{LimitCallDepth}},
		{"recursion through pcall", `local function f() pcall(f) end f()`, Limits{}, []string{LimitCallDepth}},
		{"recursion through xpcall", `local function f() xpcall(f, print) end f()`, Limits{}, []string{LimitCallDepth}},
		{"recursion through __index", `local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x`, Limits{}, []string{LimitCallDepth}},
		{"recursion in a coroutine", `local co = coroutine.create(function() local function f() return 1 + f() end return f() end)
local ok, err = coroutine.resume(co) return err`, Limits{}, []string{LimitCallDepth}},
		{"recursion with a small depth limit", `local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end return f(100)`,
			Limits{CallDepth: 50, Memory: 4 << 20}, []string{LimitCallDepth}},

		// 3. and 4. Memory held by tables and strings.
		{"table grown without end", `local t = {} local i = 0 while true do i = i + 1 t[i] = i end`, Limits{}, []string{LimitMemory}},
		{"table of tables", `local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end`, Limits{}, []string{LimitMemory}},
		{"tables given a string key without end", `local t = {} local i = 0 while true do i = i + 1 local x = {} x.a = i t[i] = x end`, Limits{}, []string{LimitMemory}},
		{"hash keys without end", `local t = {} local i = 0 while true do i = i + 1 t["k" .. i] = true end`, Limits{}, []string{LimitMemory}},
		// Slow to fill memory (one string and a dead key a turn): time enough for a loaded machine.
		{"deleted keys remembered", `local t = {} local i = 0 while true do i = i + 1 t["k" .. i] = true t["k" .. i] = nil end`, Limits{Timeout: 8 * time.Second}, []string{LimitMemory}},
		{"closures without end", `local t = {} local i = 0 while true do i = i + 1 local j = i t[i] = function() return j end end`, Limits{}, []string{LimitMemory}},
		{"strings kept in a table", `local t = {} local i = 0 while true do i = i + 1 t[i] = "item " .. i end`, Limits{}, []string{LimitMemory}},
		{"string doubling", `local s = "x" while true do s = s .. s end`, Limits{}, []string{LimitMemory}},
		{"string doubling under pcall", `while true do pcall(function() local s = "x" while true do s = s .. s end end) end`, Limits{}, []string{LimitMemory}},
		{"string doubling in a coroutine", `coroutine.wrap(function() local s = "x" while true do s = s .. s end end)()`, Limits{}, []string{LimitMemory}},
		{"strings held on the stack", `local function f(s, ...) return f(s .. s, s, ...) end f("x")`, Limits{CallDepth: 1000, Memory: 4 << 20}, []string{LimitMemory}},
		{"strings held in varargs", `local function f(n, ...) if n == 0 then while true do end end return (f(n - 1, string.rep("x", 2^19), ...)) end f(100)`,
			Limits{}, []string{LimitMemory}},
		{"string doubling in loaded code", `load("local s = 'x' while true do s = s .. s end")()`, Limits{}, []string{LimitMemory}},

		// 5. Library functions that would allocate far more than their arguments.
		{"string.rep of 2^31", `return #string.rep("x", 2^31)`, Limits{}, []string{LimitMemory}},
		{"string.rep with a separator", `return #string.rep("abc", 1e9, ",")`, Limits{}, []string{LimitMemory}},
		{"string.rep as a method", `return #("x"):rep(2^40)`, Limits{}, []string{LimitMemory}},
		{"string.format of a huge width", `return string.format("%099999999d", 1)`, Limits{}, []string{LimitMemory}},
		{"string.format of a huge precision", `return string.format("%.99999999f", 1)`, Limits{}, []string{LimitMemory}},
		{"table.concat of a huge result", `local s = string.rep("x", 2^20) local t = {} for i = 1, 2048 do t[i] = s end return #table.concat(t)`, Limits{}, []string{LimitMemory}},
		{"table.concat with a huge separator", `local t = {} for i = 1, 100 do t[i] = "x" end return #table.concat(t, string.rep(",", 2^20))`, Limits{}, []string{LimitMemory}},
		{"gsub expanding to gigabytes", `return #string.rep("x", 1e6):gsub(".", string.rep("y", 1e4))`, Limits{}, []string{LimitMemory}},
		{"gsub with a callback expanding", `local y = string.rep("y", 1e4) return #string.rep("x", 1e6):gsub(".", function() return y end)`, Limits{}, []string{LimitMemory}},
		{"string.upper of a big string", `local s = string.rep("x", 3e6) return #s:upper()`, Limits{}, []string{LimitMemory}},
		{"string.lower of a big string", `local s = string.rep("X", 3e6) return #s:lower()`, Limits{}, []string{LimitMemory}},
		{"string.reverse of a big string", `local s = string.rep("xy", 1.5e6) return #s:reverse()`, Limits{}, []string{LimitMemory}},
		{"sparse array index", `local t = {} t[6e7] = 1`, Limits{}, []string{LimitMemory}},
		{"sparse array index in a constructor", `local k = 6e7 return {[k] = 1}`, Limits{}, []string{LimitMemory}},
		{"sparse array index by rawset", `rawset({}, 6e7, 1)`, Limits{}, []string{LimitMemory}},
		{"sparse array index by table.insert", `table.insert({}, 6e7, 1)`, Limits{}, []string{LimitMemory}},
		{"sparse array index through __newindex", `local t = setmetatable({}, {__newindex = {}}) t[6e7] = 1`, Limits{}, []string{LimitMemory}},
		{"sparse array indexes in a loop", `local t = {} local i = 0 while true do i = i + 1 local u = {} u[1e5] = i t[i] = u end`, Limits{}, []string{LimitMemory}},
		{"to_json of a shared table", `local t = {} for i = 1, 40 do t = {t, t} end return #to_json(t)`, Limits{}, []string{LimitMemory}},
		{"from_json of a huge document", `return from_json("[" .. string.rep("[],", 1e6) .. "[]]")`, Limits{}, []string{LimitMemory}},
		{"returning a shared table", `local t = {} for i = 1, 40 do t = {t, t} end return t`, Limits{}, []string{LimitMemory}},

		// 6. Coroutines.
		{"thousands of coroutines", `for i = 1, 1e6 do coroutine.create(function() end) end`, Limits{}, []string{LimitCoroutines}},
		{"thousands of wrapped coroutines", `for i = 1, 1e6 do coroutine.wrap(function() end) end`, Limits{}, []string{LimitCoroutines}},
		{"thousands of suspended coroutines", `local cs = {} for i = 1, 1e6 do local co = coroutine.create(function() coroutine.yield() end) coroutine.resume(co) cs[i] = co end`,
			Limits{}, []string{LimitCoroutines}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := processAllocs()
			start := time.Now()
			_, err := runScript(t, e, tc.src, Run{Limits: tc.limits})
			le := wantLimit(t, err, tc.want...)
			if !strings.Contains(le.Error(), le.Limit+" limit") {
				t.Errorf("message %q does not name the limit", le.Error())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the run took %s to stop", d)
			}
			if le.Limit == LimitMemory {
				// The limit is 4 MiB: the run must have been refused long before gigabytes.
				if got := processAllocs() - before; got > 512<<20 {
					t.Errorf("the process allocated %s during the run", formatBytes(int64(got)))
				}
			}
		})
	}
}

// TestLimitsAllowOrdinaryScripts checks the limits do not stop what they should not: each case
// is close to a limit but within it.
func TestLimitsAllowOrdinaryScripts(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name   string
		src    string
		limits Limits
		want   any
	}{
		{"loop just within steps", `local n = 0 for i = 1, 9000 do n = n + 1 end return n`, Limits{Steps: 10_000}, float64(9000)},
		{"recursion within depth", `local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end return f(100)`, Limits{CallDepth: 150}, float64(100)},
		{"a string of half the memory", `return #string.rep("x", 2^21)`, Limits{Memory: 4 << 20}, float64(2 << 20)},
		{"garbage many times the memory", `local n = 0 for i = 1, 200 do local s = string.rep("x", 2^20) n = n + #s end return n`, Limits{Memory: 4 << 20}, float64(200 << 20)},
		{"tables made and dropped", `local n = 0 for i = 1, 100000 do local t = {i, i, i} n = n + #t end return n`, Limits{Memory: 4 << 20}, float64(300000)},
		{"coroutines run to the end", `local n = 0 for i = 1, 1000 do local co = coroutine.wrap(function() return 1 end) n = n + co() end return n`, Limits{Coroutines: 4}, float64(1000)},
		{"a limit error caught is not a limit", `local ok, err = pcall(error, "memory limit of 1 byte exceeded") return ok`, Limits{}, false},
		{"a script's own stack overflow message", `local ok = pcall(error, "not a stack overflow!") return ok`, Limits{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, e, tc.src, Run{Limits: tc.limits})
			if res.Return != tc.want {
				t.Errorf("returned %#v, want %#v", res.Return, tc.want)
			}
		})
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   Limits
		want Limits
	}{
		{"zero", Limits{}, Limits{Timeout: 5 * time.Second, Memory: 16 << 20, CallDepth: 200, Steps: 10_000_000, Coroutines: 64}},
		{"set fields kept", Limits{Timeout: time.Second, Memory: 1 << 20, CallDepth: 10, Steps: 5, Coroutines: 2},
			Limits{Timeout: time.Second, Memory: 1 << 20, CallDepth: 10, Steps: 5, Coroutines: 2}},
		{"negative means default", Limits{Timeout: -1, Memory: -1, CallDepth: -1, Steps: -1, Coroutines: -1},
			Limits{Timeout: 5 * time.Second, Memory: 16 << 20, CallDepth: 200, Steps: 10_000_000, Coroutines: 64}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaults(); got != tc.want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLimitErrorMessage(t *testing.T) {
	lim := Limits{}.WithDefaults()
	cases := []struct {
		name, limit, detail, want string
	}{
		{"memory", LimitMemory, "", "memory limit of 16 MiB exceeded"},
		{"time", LimitTime, "", "time limit of 5s exceeded"},
		{"call depth", LimitCallDepth, "", "call depth limit of 200 exceeded"},
		{"steps", LimitSteps, "", "steps limit of 10000000 exceeded"},
		{"coroutines", LimitCoroutines, "", "coroutines limit of 64 exceeded"},
		{"with detail", LimitMemory, "holding 17 MiB", "memory limit of 16 MiB exceeded (holding 17 MiB)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := newLimitError(lim, tc.limit, tc.detail).Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	cases := []struct {
		in   int64
		want string
	}{
		{512, "512 bytes"}, {1 << 10, "1 KiB"}, {16 << 20, "16 MiB"}, {3 << 29, "1.5 GiB"}, {1 << 40, "1 TiB"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatBytes(tc.in); got != tc.want {
				t.Errorf("formatBytes(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestCancellation checks the caller's context ends a run, with the context's error.
func TestCancellation(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline before the time limit", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"canceled before the run", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	p := mustCompile(t, `while true do end`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := e.Run(ctx, p, Run{Limits: Limits{Timeout: 10 * time.Second, Steps: 1 << 40}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}
