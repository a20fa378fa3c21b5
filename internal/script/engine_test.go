package script

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentRuns runs many solutions' scripts at once while hostile scripts run; every
// ordinary run must succeed with its own answer.
func TestConcurrentRuns(t *testing.T) {
	e := newTestEngine(t, Options{})
	good := mustCompile(t, `
local t = {}
for i = 1, 50 do t[i] = solution .. i end
X = solution
return {first = t[1], n = #t, upper = string.upper(solution), g = X, json = to_json({s = solution})}`)
	hostile := []*Program{
		mustCompile(t, `while true do end`),
		mustCompile(t, `local s = "x" while true do s = s .. s end`),
		mustCompile(t, `local function f() return f() + 1 end f()`),
		mustCompile(t, `local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end`),
		mustCompile(t, `string.upper = nil`),
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, p := range hostile {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := e.Run(ctx, p, Run{Solution: fmt.Sprintf("evil%d", i), Limits: Limits{Timeout: 300 * time.Millisecond, Memory: 4 << 20}})
				if err == nil {
					t.Errorf("hostile script %d succeeded", i)
					return
				}
			}
		})
	}
	errs := make(chan error, 1000)
	var good_ sync.WaitGroup
	for g := range 8 {
		good_.Go(func() {
			for i := range 40 {
				sol := fmt.Sprintf("sol%d-%d", g, i)
				res, err := e.Run(ctx, good, Run{Solution: sol, Vars: map[string]any{"solution": sol}, Limits: testLimits})
				if err != nil {
					errs <- fmt.Errorf("%s: %w", sol, err)
					continue
				}
				m, _ := res.Return.(map[string]any)
				if m["first"] != sol+"1" || m["n"] != float64(50) || m["upper"] != strings.ToUpper(sol) || m["g"] != sol || m["json"] != `{"s":"`+sol+`"}` {
					errs <- fmt.Errorf("%s: got %#v", sol, m)
				}
			}
		})
	}
	good_.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWatchdog checks the watchdog stops the run holding the most memory when the process
// heap is above the limit, and leaves small runs alone.
func TestWatchdog(t *testing.T) {
	hog := `local t = {} for i = 1, 2e5 do t[i] = i end while true do end`
	lim := Limits{Timeout: 10 * time.Second, Memory: 256 << 20, Steps: 1 << 40}
	t.Run("above the heap limit", func(t *testing.T) {
		e := newTestEngine(t, Options{HeapLimit: 1}) // always above
		done := make(chan error, 1)
		go func() {
			_, err := runScript(t, e, hog, Run{Limits: lim})
			done <- err
		}()
		small := mustCompile(t, `return 1`)
		var err error
	wait:
		for {
			if _, serr := e.Run(context.Background(), small, Run{Limits: testLimits}); serr != nil {
				t.Fatalf("a small run was stopped: %v", serr)
			}
			select {
			case err = <-done:
				break wait
			default:
			}
		}
		le := wantLimit(t, err, LimitMemory)
		if !strings.Contains(le.Detail, "process heap") {
			t.Errorf("detail %q does not name the heap", le.Detail)
		}
	})
	t.Run("below the heap limit", func(t *testing.T) {
		e := newTestEngine(t, Options{HeapLimit: 1 << 40})
		_, err := runScript(t, e, hog, Run{Limits: Limits{Memory: 256 << 20, Steps: 1_000_000, Timeout: 20 * time.Second}})
		wantLimit(t, err, LimitSteps)
	})
	t.Run("close stops it", func(t *testing.T) {
		e := NewEngine(Options{HeapLimit: 1})
		e.Close()
		select {
		case <-e.done:
		default:
			t.Fatal("the watchdog is still running after Close")
		}
		e.Close() // twice is fine
	})
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"syntax error", "local x = 1\nlocal = 2", 2, "test:2:"},
		{"unfinished string", `return "abc`, 1, "test:1:"},
		{"end of input", "if true then\nreturn 1\n", 3, "near <eof>"},
		{"goto without a label", "goto nowhere", 1, "no visible label"},
		{"too deeply nested", "return " + strings.Repeat("{", 1100) + strings.Repeat("}", 1100), 1, "too many syntax levels"},
		{"bytecode", "\x1bLuaQ\x00", 0, "binary chunk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile("test", tc.src)
			var ce *CompileError
			if !errors.As(err, &ce) || p != nil {
				t.Fatalf("got %v, %v; want a *CompileError", p, err)
			}
			if ce.Line != tc.line || !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("line %d message %q, want line %d and %q", ce.Line, ce.Message, tc.line, tc.msg)
			}
		})
	}
	t.Run("a program carries its name", func(t *testing.T) {
		p, err := Compile("sol GET /x", "return 1")
		if err != nil || p.Name != "sol GET /x" {
			t.Fatalf("got %v, %v", p, err)
		}
	})
}

func TestRuntimeErrors(t *testing.T) {
	e := newTestEngine(t, Options{})
	cases := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"error", `error("boom")`, 1, "test:1: boom"},
		{"error on a later line", "local x = 1\n\nerror('late')", 3, "test:3: late"},
		{"error without position", `error("bare", 0)`, 0, "bare"},
		{"error in a function", "local function f()\n  error('deep')\nend\nf()", 2, "test:2: deep"},
		{"index nil", "local t = nil\nreturn t.field", 2, "field"},
		{"arithmetic on a string", `return "x" + 1`, 1, "cannot perform add"},
		{"call a number", "local n = 5\nn()", 2, "attempt to call"},
		{"error with a table", `error({code = 7})`, 0, "table: "},
		{"a huge message is cut", `error(string.rep("x", 1e6))`, 1, "…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runScript(t, e, tc.src, Run{})
			re := wantRuntimeError(t, err, tc.msg)
			if re.Line != tc.line {
				t.Errorf("line %d, want %d (%q)", re.Line, tc.line, re.Message)
			}
			if len(re.Message) > 8<<10 || strings.Contains(re.Message, "goroutine") || strings.Contains(re.Message, "stack traceback") {
				t.Errorf("message carries more than the Lua error: %.200q", re.Message)
			}
		})
	}
	t.Run("a failed run leaves the state usable", func(t *testing.T) {
		e := newTestEngine(t, Options{MaxIdleStates: 1})
		for i := range 3 {
			if _, err := runScript(t, e, `error("x")`, Run{}); err == nil {
				t.Fatal("no error")
			}
			if res := mustRun(t, e, `return 1`, Run{}); res.Return != float64(1) {
				t.Fatalf("run %d after an error returned %v", i, res.Return)
			}
		}
	})
}

// records is a slog handler that keeps what it is given.
type records struct {
	mu    sync.Mutex
	level slog.Level
	recs  []slog.Record
}

func (h *records) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func TestPrint(t *testing.T) {
	cases := []struct {
		name    string
		level   slog.Level
		src     string
		message string // "" means nothing is logged
	}{
		{"values joined by tabs", slog.LevelDebug, `print("a", 1, nil, true)`, "a\t1\tnil\ttrue"},
		{"__tostring", slog.LevelDebug, `print(setmetatable({}, {__tostring = function() return "T" end}))`, "T"},
		{"long output is cut", slog.LevelDebug, `print(string.rep("x", 1e5))`, strings.Repeat("x", maxPrintBytes) + "…"},
		{"not at info level", slog.LevelInfo, `print("hidden")`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &records{level: tc.level}
			e := newTestEngine(t, Options{Logger: slog.New(h)})
			mustRun(t, e, tc.src, Run{Solution: "printer"})
			if tc.message == "" {
				if len(h.recs) != 0 {
					t.Fatalf("logged %d records", len(h.recs))
				}
				return
			}
			if len(h.recs) != 1 {
				t.Fatalf("logged %d records, want 1", len(h.recs))
			}
			r := h.recs[0]
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			if r.Level != slog.LevelDebug || attrs["solution"] != "printer" || attrs["message"] != tc.message {
				t.Errorf("record %v %q %v", r.Level, r.Message, attrs)
			}
		})
	}
}

// TestPool checks states are reused, and that a state whose run hit a limit is not.
func TestPool(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	mustRun(t, e, `return 1`, Run{})
	depth := testLimits.WithDefaults().CallDepth
	first := onlyState(t, e, depth)
	mustRun(t, e, `return 1`, Run{})
	if onlyState(t, e, depth) != first {
		t.Fatal("an ordinary run did not reuse the pooled state")
	}
	_, err := runScript(t, e, `while true do end`, Run{Limits: Limits{Steps: 1000}})
	wantLimit(t, err, LimitSteps)
	mustRun(t, e, `return 1`, Run{})
	if onlyState(t, e, depth) == first {
		t.Fatal("a state whose run hit a limit went back to the pool")
	}
	t.Run("per call depth", func(t *testing.T) {
		mustRun(t, e, `return 1`, Run{Limits: Limits{CallDepth: 17}})
		if st := onlyState(t, e, 17); st.depth != 17 {
			t.Fatalf("state for depth %d in the pool for 17", st.depth)
		}
	})
	t.Run("nil program", func(t *testing.T) {
		if _, err := e.Run(context.Background(), nil, Run{}); err == nil {
			t.Fatal("no error")
		}
	})
}
