package script

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// repeated is n copies of f(i), joined.
func repeated(n int, f func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
	}
	return b.String()
}

// compileBound is how long refusing (or compiling) any source may take in these tests: far
// under the minute the unbounded compiler took, with room for a loaded machine and -race.
const compileBound = 5 * time.Second

// TestCompileBounds checks sources that would take gopher-lua's compiler minutes, or nest too
// deeply, are refused fast with an error naming the bound, and ones within them compile.
func TestCompileBounds(t *testing.T) {
	keys := func(n int) string {
		return "return {" + repeated(n, func(i int) string { return fmt.Sprintf("k%d=1,", i) }) + "}"
	}
	cases := []struct {
		name string
		src  string
		want string // in the error; "" compiles
	}{
		{"100k-key table", keys(100_000), "the main chunk has 100002 constants; the limit is 4096"},
		{"100k distinct numbers", "return {" + repeated(100_000, func(i int) string { return fmt.Sprintf("%d,", i) }) + "}",
			"constants; the limit is 4096"},
		{"too many constants in a function", "local function f()\nreturn {" + repeated(5000, func(i int) string { return fmt.Sprintf("%d,", i) }) + "}\nend",
			"test:1: function at line 1 has 5001 constants; the limit is 4096"},
		{"a constant looked up far too often", "local t = {" + repeated(4000, func(i int) string { return fmt.Sprintf("%d,", i) }) + "} local u = {" +
			strings.Repeat("3999,", 100_000) + "}", "too costly to compile"},
		{"thousands of gotos", repeated(10_000, func(i int) string { return fmt.Sprintf("goto l%d ", i) }) +
			repeated(10_000, func(i int) string { return fmt.Sprintf("::l%d:: ", i) }), "too costly to compile"},
		{"source over the limit", "return '" + strings.Repeat("x", 3<<19) + "'", "test: source is 1.5 MiB; the limit is 1 MiB"},
		{"deep parentheses", "return " + strings.Repeat("(", 100_000) + "1" + strings.Repeat(")", 100_000), ""}, // no node of their own
		{"deep tables", "return " + strings.Repeat("{", 100_000) + strings.Repeat("}", 100_000), "too many syntax levels"},
		{"deep functions", strings.Repeat("function f() ", 50_000) + strings.Repeat("end ", 50_000), "too many syntax levels"},
		{"deep ifs", strings.Repeat("if x then ", 50_000) + strings.Repeat("end ", 50_000), "too many syntax levels"},
		{"long unary chain", "return " + strings.Repeat("- ", 200_000) + "1", "too many syntax levels"},
		{"long and chain", "return " + strings.Repeat("a and ", 100_000) + "1", "too many syntax levels"},
		{"long index chain", "return a" + strings.Repeat(".b", 200_000), "too many syntax levels"},
		{"long call chain", "return f" + strings.Repeat("()", 200_000), "too many syntax levels"},
		{"long concat chain", "return " + strings.Repeat("a .. ", 100_000) + "a", "register overflow"},

		{"4000 distinct keys", keys(4000), ""},
		{"a long script", strings.Repeat("x = x + 1\n", 100_000), ""},
		{"a long string", "return '" + strings.Repeat("x", 1<<20-16) + "'", ""},
		{"nesting within the limit", "return " + strings.Repeat("{", 150) + strings.Repeat("}", 150), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Compile("test", tc.src)
			took := time.Since(start)
			t.Logf("%d bytes in %s: %v", len(tc.src), took.Round(time.Millisecond), err)
			if took > compileBound {
				t.Errorf("compile took %s", took)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *CompileError", err, err)
			}
			if !strings.Contains(ce.Message, tc.want) {
				t.Errorf("error %q, want it to contain %q", ce.Message, tc.want)
			}
		})
	}
}

// TestLoadBounds checks load() compiles within its own, smaller bounds and answers nil and a
// message naming the bound, as for any source that does not compile.
func TestLoadBounds(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name, src, want string
	}{
		{"800 KB table constructor", `local parts = {}
for i = 1, 90000 do parts[i] = "k" .. i .. "=1," end
local src = "return {" .. table.concat(parts) .. "}"
local f, err = load(src)
return tostring(f) .. " " .. err`, "nil [string \"return {k1=1,k2=1,k3=1,k4=1,k5=1,k6=1,k7...\"]: source is 780.2 KiB; the limit is 256 KiB"},
		{"20k-key table constructor", `local parts = {}
for i = 1, 20000 do parts[i] = "k" .. i .. "=1," end
local f, err = loadstring("return {" .. table.concat(parts) .. "}", "big")
return tostring(f) .. " " .. err`, "nil big: the main chunk has 20002 constants; the limit is 4096"},
		{"a constant looked up too often", `local parts = {}
for i = 1, 1500 do parts[i] = i .. "," end
local src = "local t = {" .. table.concat(parts) .. "} return {" .. string.rep("1500,", 1000) .. "}"
assert(load(src, "=deploy") == nil, "within the bounds of a deployed script")
local f, err = loadstring(src, "often")
return tostring(f) .. " " .. err`, "nil often:1: too costly to compile"},
		{"within the bounds", `return load("return {" .. string.rep("1,", 4000) .. "}")()[4000]`, "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			res, err := runScript(t, e, tc.src, Run{Limits: Limits{Timeout: 10 * time.Second, Memory: 16 << 20}})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(res.Return)
			t.Logf("in %s: %s", took.Round(time.Millisecond), got)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want it to start with %q", got, tc.want)
			}
			if took > compileBound {
				t.Errorf("the run took %s", took)
			}
		})
	}
}

// TestLoadStopsAtTheTimeLimit checks compiling in a run is work of the run: loading big
// sources over and over ends at the time limit, not long after.
func TestLoadStopsAtTheTimeLimit(t *testing.T) {
	e := newTestEngine(t, Options{})
	lim := Limits{Timeout: time.Second, Memory: 16 << 20, Steps: 1 << 40}
	src := `local src = string.rep("x = x + 1\n", 25000)
while true do load(src) end`
	start := time.Now()
	_, err := runScript(t, e, src, Run{Limits: lim})
	took := time.Since(start)
	wantLimit(t, err, LimitTime)
	t.Logf("stopped %s after the limit", (took - lim.Timeout).Round(time.Millisecond))
	if took > lim.Timeout+overrunBound {
		t.Errorf("the run took %s with a limit of %s", took, lim.Timeout)
	}
}
