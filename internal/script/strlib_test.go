package script

import (
	"reflect"
	"strings"
	"testing"
)

// luaCase is a script with the values it returns (as a list) or the error it raises.
type luaCase struct {
	name string
	src  string
	want []any  // the script's results, wrapped as {...}
	err  string // a runtime error containing this, instead of results
}

// runLuaCases runs each case's script wrapped so that all its results come back as a list.
func runLuaCases(t *testing.T, cases []luaCase) {
	t.Helper()
	e := newTestEngine(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "local function __case() " + tc.src + "\nend\nlocal r = {__case()} r.n = select('#', __case()) return r"
			if tc.err != "" {
				src = tc.src
			}
			res, err := runScript(t, e, src, Run{})
			if tc.err != "" {
				wantRuntimeError(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := results(res.Return)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// results turns {v1, v2, ..., n = count} back into a list (holes as nil).
func results(v any) []any {
	var n int
	var get func(i int) any
	switch x := v.(type) {
	case map[string]any:
		f, _ := x["n"].(float64)
		n = int(f)
		get = func(i int) any { return x[itoa(i)] }
	case []any:
		n = len(x)
		get = func(i int) any { return x[i-1] }
	default:
		return nil
	}
	out := make([]any, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, get(i))
	}
	return out
}

func itoa(i int) string { return numberString(float64(i)) }

func list(vs ...any) []any {
	for i, v := range vs {
		if n, ok := v.(int); ok {
			vs[i] = float64(n)
		}
	}
	return vs
}

func TestStringLibrary(t *testing.T) {
	runLuaCases(t, []luaCase{
		// find
		{name: "find plain text", src: `return string.find("hello world", "o w")`, want: list(5, 7)},
		{name: "find a pattern", src: `return string.find("hello", "l+")`, want: list(3, 4)},
		{name: "find nothing", src: `return string.find("hello", "xyz")`, want: list(nil)},
		{name: "find from init", src: `return string.find("hello", "l", 4)`, want: list(4, 4)},
		{name: "find from a negative init", src: `return string.find("hello", "l", -2)`, want: list(4, 4)},
		{name: "find plain special characters", src: `return string.find("a+b", "+", 1, true)`, want: list(2, 2)},
		{name: "find with captures", src: `return string.find("key = value", "(%w+)%s*=%s*(%w+)")`, want: list(1, 11, "key", "value")},
		{name: "find the empty string", src: `return string.find("abc", "")`, want: list(1, 0)},
		{name: "find anchored", src: `return string.find("aaa", "^a"), string.find("baa", "^a")`, want: list(1, nil)},
		// match
		{name: "match digits", src: `return string.match("hello 123 world", "%d+")`, want: list("123")},
		{name: "match two captures", src: `return string.match("key=val", "(%w+)=(%w+)")`, want: list("key", "val")},
		{name: "match position captures", src: `return string.match("hello", "()ll()")`, want: list(3, 5)},
		{name: "match escaped parentheses", src: `return string.match("THE (quick) fox", "%((%a+)%)")`, want: list("quick")},
		{name: "match balanced", src: `return string.match("f(a(b)c)d", "%b()")`, want: list("(a(b)c)")},
		{name: "match frontier", src: `return string.match("THE (quick) fox", "%f[%a]%a+", 5)`, want: list("quick")},
		{name: "match a back reference", src: `return string.match("hello hello", "(h%a+) %1")`, want: list("hello")},
		{name: "match trim", src: `return string.match("  trim me  ", "^%s*(.-)%s*$")`, want: list("trim me")},
		{name: "match a date", src: `return string.match("2024-01-15", "(%d+)-(%d+)-(%d+)")`, want: list("2024", "01", "15")},
		{name: "match a negated set", src: `return string.match("abc", "[^a]+")`, want: list("bc")},
		{name: "match a set with an escape", src: `return string.match("a-b", "[a%-]+")`, want: list("a-")},
		{name: "match a set holding ]", src: `return string.match("x]y", "[]]")`, want: list("]")},
		{name: "match a range", src: `return string.match("xyz123", "[a-y]+")`, want: list("xy")},
		{name: "match lazy", src: `return string.match("hello", ".-l")`, want: list("hel")},
		{name: "match greedy", src: `return string.match("hello", ".*l")`, want: list("hell")},
		{name: "match optional", src: `return string.match("b", "a?b")`, want: list("b")},
		{name: "match classes", src: `return string.match("A1b2 ", "%u%d%l%d%s")`, want: list("A1b2 ")},
		{name: "match nothing", src: `return string.match("hello", "xyz")`, want: list(nil)},
		{name: "match at the end", src: `return string.match("hello", "lo$"), string.match("hello", "l$")`, want: list("lo", nil)},
		{name: "a back reference to a position capture", src: `return string.find("abc", "()%1")`, want: list(nil)},
		{name: "match an unfinished capture", src: `return string.match("x", "(x")`, err: "unfinished capture"},
		{name: "match a malformed pattern", src: `return string.match("x", "[x")`, err: "malformed pattern"},
		{name: "match a pattern ending in %", src: `return string.match("x", "x%")`, err: "malformed pattern"},
		// gmatch
		{name: "gmatch words", src: `local t = {} for w in string.gmatch("one two  three", "%a+") do t[#t+1] = w end return unpack(t)`, want: list("one", "two", "three")},
		{name: "gmatch pairs", src: `local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t+1] = k .. v end return unpack(t)`, want: list("a1", "b2")},
		{name: "gmatch empty matches", src: `local n = 0 for m in ("abc"):gmatch("x*") do n = n + 1 end return n`, want: list(4)},
		// gsub
		{name: "gsub a string", src: `return ("hello world"):gsub("o", "0")`, want: list("hell0 w0rld", 2)},
		{name: "gsub with a capture", src: `return ("hello world"):gsub("(%w+)", "<%1>")`, want: list("<hello> <world>", 2)},
		{name: "gsub the empty pattern", src: `return ("hello"):gsub("", "-")`, want: list("-h-e-l-l-o-", 6)},
		{name: "gsub %0 and %%", src: `return ("abc"):gsub("%w", "%0%0"), ("ab"):gsub("%w", "%%")`, want: list("aabbcc", "%%", 2)},
		{name: "gsub with a table", src: `return ("hello world"):gsub("%w+", {hello = "HI"})`, want: list("HI world", 2)},
		{name: "gsub with a function", src: `return ("hello world"):gsub("%w+", function(w) return w:upper() end)`, want: list("HELLO WORLD", 2)},
		{name: "gsub keeping text", src: `return ("a b"):gsub("%w", function(w) if w == "b" then return false end return "x" end)`, want: list("x b", 2)},
		{name: "gsub at most n", src: `return ("aaa"):gsub("a", "b", 2)`, want: list("bba", 2)},
		{name: "gsub anchored", src: `return ("aaa"):gsub("^a", "b")`, want: list("baa", 1)},
		{name: "gsub a magic character", src: `return ("$1,000"):gsub("%$", "USD")`, want: list("USD1,000", 1)},
		{name: "gsub an invalid capture", src: `return ("a"):gsub("a", "%2")`, err: "invalid capture index"},
		{name: "gsub an invalid replacement", src: `return ("a"):gsub("a", {a = true})`, err: "invalid replacement value (a boolean)"},
		{name: "gsub a trailing %", src: `return ("a"):gsub("a", "%")`, err: "invalid use of '%'"},
		// format
		{name: "format a float", src: `return string.format("%5.2f", 3.14159)`, want: list(" 3.14")},
		{name: "format integers", src: `return string.format("%d|%5d|%-5d|%05d|%+d", 3.7, 42, 42, 42, 5)`, want: list("3|   42|42   |00042|+5")},
		{name: "format hex and octal", src: `return string.format("%x %X %o %#x", 255, 255, 8, 255)`, want: list("ff FF 10 0xff")},
		{name: "format %#x of zero", src: `return string.format("%#x|%#o", 0, 0)`, want: list("0|0")},
		{name: "format exponent", src: `return string.format("%e", 12345.678)`, want: list("1.234568e+04")},
		{name: "format %g like C", src: `return string.format("%g %g %g %g", 0.1, 1e20, 100000, 1e6)`, want: list("0.1 1e+20 100000 1e+06")},
		{name: "format strings", src: `return string.format("%s %s|%10s|%-10s|%.3s", "a", 1, "hi", "hi", "abcdef")`, want: list("a 1|        hi|hi        |abc")},
		{name: "format %q", src: `return string.format("%q", 'a\nb"c\\\0')`, want: list("\"a\\\nb\\\"c\\\\\\000\"")},
		{name: "format %c", src: `return string.format("%c%c%c", 76, 117, 97)`, want: list("Lua")},
		{name: "format %%", src: `return string.format("%5.1f%%", 99.5)`, want: list(" 99.5%")},
		{name: "format infinity", src: `return string.format("%f %f %.1f", 1/0, -1/0, 0/0)`, want: list("inf -inf nan")},
		{name: "format a missing argument", src: `return string.format("%d")`, err: "no value"},
		{name: "format an unknown option", src: `return string.format("%z", 1)`, err: "invalid option '%z'"},
		{name: "format a three-digit width", src: `return string.format("%100d", 1)`, err: "width or precision too long"},
		// rep, upper, lower, reverse
		{name: "rep", src: `return string.rep("ab", 3), string.rep("ab", 3, ","), string.rep("x", 0), string.rep("x", -1)`, want: list("ababab", "ab,ab,ab", "", "")},
		{name: "rep of nothing many times", src: `return #string.rep("", 1e12)`, want: list(0)},
		{name: "upper and lower are ASCII", src: `return ("Hello, Wörld"):upper(), ("ÀB"):lower()`, want: list("HELLO, WöRLD", "Àb")},
		{name: "upper of a number", src: `return string.upper(12)`, want: list("12")},
		{name: "reverse", src: `return ("abc"):reverse(), (""):reverse()`, want: list("cba", "")},
		// table
		{name: "table.concat", src: `return table.concat({1, 2, 3}, ", "), table.concat({"a", "b", "c"}, "", 2, 3), table.concat({})`, want: list("1, 2, 3", "bc", "")},
		{name: "table.concat of a table", src: `return table.concat({1, {}, 3})`, err: "invalid value (at index 2) in table for 'concat'"},
		{name: "table.insert", src: `local t = {1, 2, 3} table.insert(t, 2, "x") table.insert(t, "y") return table.concat(t, ",")`, want: list("1,x,2,3,y")},
		{name: "table.insert past the end", src: `local t = {} table.insert(t, 3, "x") return t[3], #t`, want: list("x", 3)},
		{name: "table.sort", src: `local t = {3, 1, 2} table.sort(t) return unpack(t)`, want: list(1, 2, 3)},
		{name: "table.sort with a comparator", src: `local t = {"b", "c", "a"} table.sort(t, function(a, b) return a > b end) return unpack(t)`, want: list("c", "b", "a")},
		{name: "table.sort of mixed types", src: `table.sort({1, "x", 2})`, err: "attempt to compare"},
		{name: "math.random", src: `local x, y, z = math.random(3), math.random(5, 5), math.random() return x >= 1 and x <= 3 and x % 1 == 0, y, z >= 0 and z < 1`, want: list(true, 5, true)},
		{name: "math.random of an empty interval", src: `return math.random(0)`, err: "interval is empty"},
		{name: "math.random of a reversed interval", src: `return math.random(5, 1)`, err: "interval is empty"},
		{name: "unpack", src: `return select("#", unpack({1, 2, 3})), unpack({1, 2, 3}, 2)`, want: list(3, 2, 3)},
		{name: "unpack of a huge range", src: `return unpack({}, 1, 1e8)`, err: "too many results to unpack"},
	})
}

func TestConcat(t *testing.T) {
	runLuaCases(t, []luaCase{
		{name: "numbers", src: `return 1 .. 2, 1.5 .. "x", -3 .. ""`, want: list("12", "1.5x", "-3")},
		{name: "numbers as tostring shows them", src: `local x = 2^53 return x .. "" == tostring(x), 0.1 .. "" == tostring(0.1)`, want: list(true, true)},
		{name: "a call gives its first value", src: `local function f() return "x", "y" end return "a" .. f(), f() .. "b"`, want: list("ax", "xb")},
		{name: "nil", src: `return "a" .. nil`, err: "attempt to concatenate a nil value"},
		{name: "nil on the left", src: `local x return x .. "a"`, err: "attempt to concatenate a nil value"},
		{name: "a table", src: `return {} .. "x"`, err: "attempt to concatenate a table value"},
		{name: "a boolean", src: `return "x" .. true`, err: "attempt to concatenate a boolean value"},
		{name: "__concat on either side", src: `local t = setmetatable({}, {__concat = function(a, b) return "cat" end}) return t .. "x", "x" .. t, t .. t`, want: list("cat", "cat", "cat")},
		{name: "__concat right to left", src: `local t = setmetatable({}, {__concat = function(a, b) return "[" .. type(a) .. "+" .. type(b) .. "]" end})
return "a" .. t .. "b"`, want: list("a[table+string]")},
		{name: "a long chain", src: `local x = "x" return #(` + strings.Repeat("x .. ", 99) + `x)`, want: list(100)},
		{name: "a long chain keeps its order", src: `local s = ` + strings.Repeat(`"a" .. "b" .. `, 70) + `"c" return #s, s:sub(-3)`, want: list(141, "abc")},
		{name: "in a loop", src: `local s = "" for i = 1, 5 do s = s .. i end return s`, want: list("12345")},
	})
}

// TestAssignments checks the rewritten stores keep Lua's meaning.
func TestAssignments(t *testing.T) {
	runLuaCases(t, []luaCase{
		{name: "computed key", src: `local t = {} local k = 3 t[k] = "x" return t[3], #t`, want: list("x", 3)},
		{name: "append", src: `local t = {} for i = 1, 5 do t[#t + 1] = i end return #t, t[5]`, want: list(5, 5)},
		{name: "swap", src: `local t = {1, 2, 3} local i, j = 1, 3 t[i], t[j] = t[j], t[i] return table.concat(t, ",")`, want: list("3,2,1")},
		{name: "mixed targets", src: `local t = {} local k = "k" local a a, t[k], t.x = 1, 2, 3 return a, t.k, t.x`, want: list(1, 2, 3)},
		{name: "more values than targets", src: `local t = {} local k = 1 local n = 0 local function f() n = n + 1 return n end t[k] = f(), f() return t[1], n`, want: list(1, 2)},
		{name: "a call filling targets", src: `local t = {} local i, j = 1, 2 local function f() return "a", "b" end t[i], t[j] = f() return t[1], t[2]`, want: list("a", "b")},
		{name: "__newindex function", src: `local log = {} local t = setmetatable({}, {__newindex = function(t, k, v) log[#log + 1] = k .. "=" .. v end})
local k = "a" t[k] = 1 return log[1], rawget(t, "a")`, want: list("a=1", nil)},
		{name: "__newindex table", src: `local inner = {} local t = setmetatable({}, {__newindex = inner}) local k = 5 t[k] = "v" return inner[5], rawget(t, 5)`, want: list("v", nil)},
		{name: "existing key skips __newindex", src: `local t = setmetatable({a = 1}, {__newindex = function() error("called") end}) local k = "a" t[k] = 2 return t.a`, want: list(2)},
		{name: "nil key", src: `local t = {} local k = nil t[k] = 1`, err: "table index is nil"},
		{name: "NaN key", src: `local t = {} t[0/0] = 1`, err: "table index is NaN"},
		{name: "index a string", src: `local s, k = "abc", "x" s[k] = 1`, err: "attempt to index"},
		{name: "constructor with computed keys", src: `local k = "x" local t = {[k] = 1, [k .. "y"] = 2, z = 3} return t.x, t.xy, t.z`, want: list(1, 2, 3)},
		{name: "constructor truncates a call before keys", src: `local function f() return 1, 2, 3 end local k = "key" local t = {f(), [k] = true} return #t, t.key`, want: list(1, true)},
		{name: "constructor spreads a last call", src: `local function f() return 1, 2, 3 end local t = {0, f()} return #t`, want: list(4)},
		{name: "constructor with varargs", src: `local function f(...) return {...} end return #f(1, 2, 3)`, want: list(3)},
		{name: "float and huge keys", src: `local t = {} local a, b = 1.5, 2^53 t[a] = "f" t[b] = "h" return t[1.5], t[2^53]`, want: list("f", "h")},
		{name: "deleting a missing far key", src: `local t = {} local k = 1e9 t[k] = nil return next(t)`, want: list(nil)},
		{name: "goto loop", src: `local n = 0 ::top:: n = n + 1 if n < 10 then goto top end return n`, want: list(10)},
		{name: "goto continue", src: `local s = 0 for i = 1, 10 do if i % 2 == 0 then goto continue end s = s + i ::continue:: end return s`, want: list(25)},
	})
}

// TestSteps checks what counts as a step: each loop iteration and each function call.
func TestSteps(t *testing.T) {
	e := newTestEngine(t, Options{})
	// main chunk 1 + 10 iterations + 10 calls of f = 21 steps.
	const src = `local function f() end for i = 1, 10 do f() end return "done"`
	cases := []struct {
		name  string
		steps int64
		ok    bool
	}{
		{"exactly enough", 21, true},
		{"one short", 20, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runScript(t, e, src, Run{Limits: Limits{Steps: tc.steps}})
			if tc.ok && err != nil {
				t.Fatalf("error %v", err)
			}
			if !tc.ok {
				wantLimit(t, err, LimitSteps)
			}
		})
	}
}
