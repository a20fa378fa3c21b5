package script

import (
	"reflect"
	"strings"
	"testing"
)

func TestToJSON(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name, src, want string
		err             string // to_json returns nil and a message containing this
	}{
		{name: "scalars", src: `return to_json(nil) .. to_json(true) .. to_json(1) .. to_json(1.5) .. to_json("s")`, want: `nulltrue11.5"s"`},
		{name: "array", src: `return to_json({1, "a", false})`, want: `[1,"a",false]`},
		{name: "object with sorted keys", src: `return to_json({b = 1, a = {c = 2}})`, want: `{"a":{"c":2},"b":1}`},
		{name: "empty table", src: `return to_json({})`, want: `{}`},
		{name: "array with a hole", src: `return to_json({1, nil, 3})`, want: `{"1":1,"3":3}`},
		{name: "number keys", src: `return to_json({[2] = "b", [1.5] = "f"})`, want: `{"1.5":"f","2":"b"}`},
		{name: "escapes", src: `return to_json("q\"b\\n\n\t\1<")`, want: `"q\"b\\n\n\t\u0001<"`},
		{name: "invalid UTF-8", src: `return to_json("a\255b")`, want: `"a\ufffdb"`},
		{name: "unicode", src: `return to_json("héllo ✓")`, want: `"héllo ✓"`},
		{name: "big and small numbers", src: `return to_json({1e21, 0.1, -0, 2^53})`, want: `[1e+21,0.1,0,9007199254740992]`},
		{name: "a function", src: `return to_json({f = print})`, err: "cannot encode a function"},
		{name: "NaN", src: `return to_json(0/0)`, err: "cannot encode NaN"},
		{name: "infinity", src: `return to_json({1/0})`, err: "cannot encode"},
		{name: "a cycle", src: `local t = {} t[1] = t return to_json(t)`, err: "cycle"},
		{name: "too deep", src: `local t = {} for i = 1, 300 do t = {t} end return to_json(t)`, err: "nested"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if tc.err != "" {
				src = "local s, err = (function() " + tc.src + " end)() return {s == nil, err}"
			}
			res := mustRun(t, e, src, Run{})
			if tc.err != "" {
				got, _ := res.Return.([]any)
				if len(got) != 2 || got[0] != true || !strings.Contains(got[1].(string), tc.err) {
					t.Fatalf("got %#v, want nil and a message containing %q", res.Return, tc.err)
				}
				return
			}
			if res.Return != tc.want {
				t.Errorf("got %s, want %s", res.Return, tc.want)
			}
		})
	}
}

func TestFromJSON(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name, json string
		want       any
		err        string // from_json returns nil and a message containing this
	}{
		{name: "object", json: `{"x":[1,2],"y":"z","n":null,"t":true}`, want: map[string]any{"x": []any{float64(1), float64(2)}, "y": "z", "t": true}},
		{name: "array with null", json: `[1,null,3]`, want: map[string]any{"1": float64(1), "3": float64(3)}},
		{name: "empty array", json: `[]`, want: map[string]any{}},
		{name: "nested", json: ` { "a" : { "b" : [ { } ] } } `, want: map[string]any{"a": map[string]any{"b": []any{map[string]any{}}}}},
		{name: "numbers", json: `[0,-1,1.5,1e3,-2.5E-1]`, want: []any{float64(0), float64(-1), 1.5, float64(1000), -0.25}},
		{name: "escapes", json: `"a\"b\\c\/d\n\u00e9\ud83d\ude00"`, want: "a\"b\\c/d\né😀"},
		{name: "lone surrogate", json: `"\ud83d"`, want: "\ufffd"},
		{name: "null", json: `null`, want: nil},
		{name: "string", json: `"s"`, want: "s"},
		{name: "duplicate keys", json: `{"a":1,"a":2}`, want: map[string]any{"a": float64(2)}},
		{name: "bad json", json: `{"a":}`, err: "invalid character"},
		{name: "trailing data", json: `[1] x`, err: "after the value"},
		{name: "unterminated", json: `{"a":[1,2`, err: "end of input"},
		{name: "leading zeros", json: `01`, err: "after the value"},
		{name: "bad number", json: `-`, err: "invalid number"},
		{name: "control character", json: "\"a\nb\"", err: "control character"},
		{name: "bad escape", json: `"\x"`, err: "invalid escape"},
		{name: "empty", json: ``, err: "end of input"},
		{name: "too deep", json: strings.Repeat("[", 300) + strings.Repeat("]", 300), err: "nested too deeply"},
		{name: "single quotes", json: `{'a':1}`, err: "expected a string key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, e, `local v, err = from_json(s) return {v = v, err = err}`, Run{Vars: map[string]any{"s": tc.json}})
			got := res.Return.(map[string]any)
			if tc.err != "" {
				msg, _ := got["err"].(string)
				if got["v"] != nil || !strings.Contains(msg, tc.err) {
					t.Fatalf("got %#v, want nil and a message containing %q", got, tc.err)
				}
				return
			}
			if got["err"] != nil || !reflect.DeepEqual(got["v"], tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	t.Run("round trip", func(t *testing.T) {
		res := mustRun(t, e, `local v = {a = {1, 2, {b = "c"}}, d = "é\n", e = false} return to_json(from_json(to_json(v))) == to_json(v)`, Run{})
		if res.Return != true {
			t.Errorf("round trip changed the value")
		}
	})
}
