package script

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

type logged struct {
	level  slog.Level
	msg    string
	fields map[string]any
}

func TestRunLog(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []logged
	}{
		{"print is info", `print("a", 1, nil)`, []logged{{slog.LevelInfo, "a\t1\tnil", nil}}},
		{"each level", `Log.debug("d") Log.info("i") Log.warn("w") Log.error("e")`,
			[]logged{{slog.LevelDebug, "d", nil}, {slog.LevelInfo, "i", nil}, {slog.LevelWarn, "w", nil}, {slog.LevelError, "e", nil}}},
		{"fields", `Log.info("user", {id = 42, tags = {"a", "b"}})`,
			[]logged{{slog.LevelInfo, "user", map[string]any{"id": 42.0, "tags": []any{"a", "b"}}}}},
		{"a list as fields", `Log.warn("l", {1, 2})`, []logged{{slog.LevelWarn, "l", map[string]any{"fields": []any{1.0, 2.0}}}}},
		{"non-string message", `Log.info(12)`, []logged{{slog.LevelInfo, "12", nil}}},
		{"long message is cut", `Log.info(string.rep("é", 3000))`,
			[]logged{{slog.LevelInfo, strings.Repeat("é", maxPrintBytes/2) + "…", nil}}},
		{"huge fields are named, not kept", `local t = {} for i = 1, 2000 do t[i] = "xxxxxxxxxx" end Log.info("big", {t = t})`,
			[]logged{{slog.LevelInfo, "big", map[string]any{"fields_left_out": "larger than 16384 bytes, nested too deeply or cyclic"}}}},
		{"cyclic fields", `local t = {} t.self = t Log.info("c", t)`,
			[]logged{{slog.LevelInfo, "c", map[string]any{"fields_left_out": "larger than 16384 bytes, nested too deeply or cyclic"}}}},
		{"Log cannot be changed", `pcall(function() Log.info = nil end) Log.info("still")`, []logged{{slog.LevelInfo, "still", nil}}},
	}
	e := newTestEngine(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []logged
			mustRun(t, e, tc.src, Run{Log: func(l slog.Level, msg string, f map[string]any) { got = append(got, logged{l, msg, f}) }})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("logged %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestLogBadFields(t *testing.T) {
	e := newTestEngine(t, Options{})
	_, err := runScript(t, e, `Log.info("x", "not a table")`, Run{Log: func(slog.Level, string, map[string]any) {}})
	wantRuntimeError(t, err, "fields must be a table, not a string")
}

func TestRuntimeErrorTrace(t *testing.T) {
	e := newTestEngine(t, Options{})
	_, err := runScript(t, e, "local function inner()\n  error('boom')\nend\nlocal function outer() inner() end\nouter()\n", Run{})
	re := wantRuntimeError(t, err, "test:2: boom")
	if re.Line != 2 || re.File != "test" {
		t.Errorf("file %q line %d, want test 2", re.File, re.Line)
	}
	for _, want := range []string{"stack traceback:", "test:2: in function 'inner'", "test:4:", "test:5:"} {
		if !strings.Contains(re.Trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, re.Trace)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"aé", 2, "a…"}, // never half a rune
		{"", 0, ""},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
