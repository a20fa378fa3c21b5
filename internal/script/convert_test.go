package script

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestLuaToGo checks what a run returns, converted.
func TestLuaToGo(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name string
		src  string
		want any
		err  string // a runtime error containing this
	}{
		{"nothing", `local x = 1`, nil, ""},
		{"nil", `return nil`, nil, ""},
		{"boolean", `return true`, true, ""},
		{"number", `return 1.5`, 1.5, ""},
		{"string", `return "s"`, "s", ""},
		{"only the first value", `return 1, 2`, float64(1), ""},
		{"array", `return {1, "two", true}`, []any{float64(1), "two", true}, ""},
		{"empty table", `return {}`, map[string]any{}, ""},
		{"map", `return {a = 1, b = {c = "d"}}`, map[string]any{"a": float64(1), "b": map[string]any{"c": "d"}}, ""},
		{"array with a hole", `return {1, nil, 3}`, map[string]any{"1": float64(1), "3": float64(3)}, ""},
		{"keys not from 1", `return {[2] = "b", [3] = "c"}`, map[string]any{"2": "b", "3": "c"}, ""},
		{"mixed keys", `return {1, x = 2}`, map[string]any{"1": float64(1), "x": float64(2)}, ""},
		{"number keys", `return {[1.5] = "f", [-1] = "m", [0] = "z"}`, map[string]any{"1.5": "f", "-1": "m", "0": "z"}, ""},
		{"boolean key", `return {[true] = 1}`, map[string]any{"true": float64(1)}, ""},
		{"function becomes nil", `return print`, nil, ""},
		{"function in a table", `return {f = print, n = 1}`, map[string]any{"f": nil, "n": float64(1)}, ""},
		{"coroutine becomes nil", `return coroutine.create(print)`, nil, ""},
		{"metatable ignored", `return setmetatable({a = 1}, {__index = {b = 2}})`, map[string]any{"a": float64(1)}, ""},
		{"shared table twice", `local s = {1} return {s, s}`, []any{[]any{float64(1)}, []any{float64(1)}}, ""},
		{"cycle", `local t = {} t.self = t return t`, nil, "cycle"},
		{"deep cycle", `local a, b = {}, {} a.b = b b.a = a return a`, nil, "cycle"},
		{"nested too deeply", `local t = {} for i = 1, 300 do t = {t} end return t`, nil, "nested"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runScript(t, e, tc.src, Run{})
			if tc.err != "" {
				wantRuntimeError(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Return, tc.want) {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
		})
	}
}

type named string

type point struct{ X int }

// TestGoToLua checks the run's variables as a script sees them, and read back.
func TestGoToLua(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name string
		v    any
		src  string // returns something about v
		want any
	}{
		{"nil", nil, `return v == nil`, true},
		{"bool", true, `return v`, true},
		{"string", "s", `return v .. "!"`, "s!"},
		{"bytes", []byte("b"), `return v`, "b"},
		{"float64", 1.5, `return v * 2`, float64(3)},
		{"int", 7, `return v + 1`, float64(8)},
		{"int64", int64(-7), `return v`, float64(-7)},
		{"uint8", uint8(200), `return v`, float64(200)},
		{"float32", float32(0.5), `return v`, 0.5},
		{"json.Number", json.Number("12.5"), `return v`, 12.5},
		{"named string", named("n"), `return v`, "n"},
		{"pointer", new(int), `return v`, float64(0)},
		{"nil pointer", (*int)(nil), `return v == nil`, true},
		{"[]any", []any{1, "a", nil, true}, `return {#v, v[2], v[3] == nil, v[4]}`, []any{float64(4), "a", true, true}},
		{"[]string", []string{"a", "b"}, `return table.concat(v, ",")`, "a,b"},
		{"[]int", []int{1, 2}, `return v[1] + v[2]`, float64(3)},
		{"map[string]any", map[string]any{"a": 1, "b": map[string]any{"c": "d"}, "n": nil}, `return {v.a, v.b.c, v.n == nil}`, []any{float64(1), "d", true}},
		{"map[string]string", map[string]string{"k": "v"}, `return v.k`, "v"},
		{"map[string][]string", map[string][]string{"k": {"x", "y"}}, `return v.k[2]`, "y"},
		{"empty map", map[string]any{}, `return next(v) == nil`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, e, tc.src, Run{Vars: map[string]any{"v": tc.v}})
			if !reflect.DeepEqual(res.Return, tc.want) {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
		})
	}
	errCases := []struct {
		name string
		v    any
	}{
		{"a channel", make(chan int)},
		{"a struct", point{1}},
		{"a map with int keys", map[int]string{1: "a"}},
	}
	for _, tc := range errCases {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := runScript(t, e, `return 1`, Run{Vars: map[string]any{"v": tc.v}})
			if err == nil || !strings.Contains(err.Error(), "variable v") {
				t.Fatalf("error %v, want one naming the variable", err)
			}
		})
	}
	t.Run("a cyclic Go value", func(t *testing.T) {
		m := map[string]any{}
		m["self"] = m
		_, err := runScript(t, e, `return 1`, Run{Vars: map[string]any{"v": m}})
		if err == nil || !strings.Contains(err.Error(), "nested") {
			t.Fatalf("error %v, want one about nesting", err)
		}
	})
	t.Run("variables too large for the memory limit", func(t *testing.T) {
		big := make([]string, 1000)
		for i := range big {
			big[i] = string(make([]byte, 10_000))
		}
		_, err := runScript(t, e, `return 1`, Run{Vars: map[string]any{"v": big}, Limits: Limits{Memory: 1 << 20}})
		wantLimit(t, err, LimitMemory)
	})
}

// TestReadBack checks globals read back after the run.
func TestReadBack(t *testing.T) {
	e := newTestEngine(t, Options{})
	res := mustRun(t, e, `response.code = 201 response.headers["X-A"] = "b" created = {1} return "ok"`, Run{
		Vars:     map[string]any{"response": map[string]any{"code": float64(200), "headers": map[string]any{}}},
		ReadBack: []string{"response", "created", "missing", "string"},
	})
	want := map[string]any{
		"response": map[string]any{"code": float64(201), "headers": map[string]any{"X-A": "b"}},
		"created":  []any{float64(1)},
		"missing":  nil,
		"string":   nil, // library globals are not the run's
	}
	if !reflect.DeepEqual(res.Vars, want) || res.Return != "ok" {
		t.Errorf("got %#v, %#v; want %#v", res.Vars, res.Return, want)
	}
}
