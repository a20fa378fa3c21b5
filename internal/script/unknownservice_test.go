package script

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/service"
)

// listedServices is fakeServices that also lists its aliases.
type listedServices struct{ *fakeServices }

func (l listedServices) Aliases() []string { return []string{"Config", "Keystore"} }

// unknownOp is a service's refusal of an operation it does not have.
type unknownOp struct{ msg string }

func (u unknownOp) Error() string        { return u.msg }
func (unknownOp) StatusCode() int        { return 404 }
func (unknownOp) UnknownOperation() bool { return true }

type logEntry struct {
	level  slog.Level
	msg    string
	fields map[string]any
}

func TestUnknownService(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name    string
		src     string
		wantErr string // "" for a run that ends well
		want    any
		wantLog string // the message logged at error level, if any
	}{
		{name: "a call", src: "local x = 1\nreturn Nosuch.op{}",
			wantErr: `test:2: no service "Nosuch" in this solution; added services: Config, Keystore`,
			wantLog: `no service "Nosuch" in this solution; added services: Config, Keystore`},
		{name: "a method call", src: `return Nosuch:op()`, wantErr: `no service "Nosuch"`},
		{name: "caught by pcall", src: `local ok, err = pcall(function() return Sms.send{} end) return {ok, err}`,
			want:    []any{false, `test:1: no service "Sms" in this solution; added services: Config, Keystore`},
			wantLog: `no service "Sms" in this solution; added services: Config, Keystore`},
		{name: "a bare read stays nil", src: `if Sms then return Sms.send{} end return "none"`, want: "none"},
		{name: "a global the script sets", src: `Util = {f = function() return 1 end} return Util.f()`, want: float64(1)},
		{name: "set after an indexed read elsewhere", src: `local function f() return Later.x end Later = {x = 2} return f()`, want: float64(2)},
		{name: "named through _G", src: `if _G.Sms == nil then return "none" end return Sms.send{}`, want: "none"},
		{name: "named as a string", src: `if rawget(_G, "Sms") == nil then return "none" end return Sms.send{}`, want: "none"},
		{name: "a lower-case global keeps Lua's message", src: `return nosuch.op{}`, wantErr: "attempt to index"},
		{name: "a known service", src: `return Keystore.get{key = "a"}.op`, want: "get"},
		{name: "loaded code reads bare", src: `local f = load("return Sms == nil") return {f(), pcall(function() return Sms.send{} end)}`,
			want: []any{true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logged []logEntry
			res, err := runScript(t, e, tc.src, Run{
				Services: listedServices{newFake(nil)},
				Log: func(level slog.Level, msg string, fields map[string]any) {
					logged = append(logged, logEntry{level, msg, fields})
				},
			})
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr == "" {
				got := res.Return
				if arr, ok := tc.want.([]any); ok && len(arr) == 2 {
					if g, ok := got.([]any); ok && len(g) > 2 {
						got = g[:2] // pcall's error message, when not compared
					}
				}
				if !equalJSONish(got, tc.want) {
					t.Fatalf("returned %#v, want %#v", got, tc.want)
				}
			}
			if tc.wantLog == "" {
				return
			}
			if len(logged) != 1 || logged[0].level != slog.LevelError || logged[0].msg != tc.wantLog {
				t.Fatalf("logged %+v, want one error entry %q", logged, tc.wantLog)
			}
		})
	}
}

func equalJSONish(a, b any) bool {
	aa, ok1 := a.([]any)
	bb, ok2 := b.([]any)
	if ok1 != ok2 {
		return false
	}
	if !ok1 {
		return a == b
	}
	if len(aa) != len(bb) {
		return false
	}
	for i := range aa {
		if !equalJSONish(aa[i], bb[i]) {
			return false
		}
	}
	return true
}

func TestUnknownOperationLogged(t *testing.T) {
	e := newTestEngine(t, Options{})
	fail := func(err error) *fakeServices {
		return newFake(func(context.Context, string, string, any) (any, error) { return nil, err })
	}
	cases := []struct {
		name    string
		svc     *fakeServices
		wantLog bool
	}{
		{"an unknown operation", fail(unknownOp{`Keystore has no operation "gte"; did you mean "get"?`}), true},
		{"another failure", fail(service.Errorf(404, "no such key")), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logged []logEntry
			res := mustRun(t, e, `return Keystore.gte{key = "a"}.status`, Run{Services: tc.svc,
				Log: func(level slog.Level, msg string, fields map[string]any) {
					logged = append(logged, logEntry{level, msg, fields})
				}})
			if res.Return != float64(404) {
				t.Fatalf("status %v, want 404 (the call answers, it does not raise)", res.Return)
			}
			if !tc.wantLog {
				if len(logged) != 0 {
					t.Fatalf("logged %+v, want nothing", logged)
				}
				return
			}
			if len(logged) != 1 || logged[0].level != slog.LevelError || !strings.Contains(logged[0].msg, `no operation "gte"`) ||
				logged[0].fields["service"] != "Keystore" || logged[0].fields["operation"] != "gte" {
				t.Fatalf("logged %+v", logged)
			}
		})
	}
}

func TestResultMemory(t *testing.T) {
	e := newTestEngine(t, Options{})
	small := mustRun(t, e, `return 1`, Run{Measure: true})
	big := mustRun(t, e, `local t = {} for i = 1, 20000 do t[i] = "x" .. i end return #t`, Run{Measure: true})
	if small.Memory <= 0 || big.Memory <= small.Memory || big.Memory > testLimits.Memory*5/4 {
		t.Fatalf("memory: small run %d, big run %d", small.Memory, big.Memory)
	}
	res, err := runScript(t, e, `local t = {} for i = 1, 20000 do t[i] = "x" .. i end error("late")`, Run{})
	if err == nil || res.Memory <= small.Memory {
		t.Fatalf("failed run: err %v, memory %d", err, res.Memory)
	}
}
