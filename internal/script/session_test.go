package script

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// liveStates is how many states the engine tracks (pooled and sessions').
func liveStates(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.states)
}

// newTestSession loads src into a new session and returns it with what the chunk returned.
func newTestSession(t *testing.T, e *Engine, lim Limits, src string) (*Session, Value) {
	t.Helper()
	s := e.NewSession(SessionOptions{Solution: "test", Limits: lim})
	t.Cleanup(s.Close)
	v, err := s.Load(context.Background(), mustCompile(t, src))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s, v
}

const counterSrc = `
count = 0
local C = {}
function C:inc(n) count = count + (n or 1) return count end
function C:spin() while true do end end
function C:deep() local function f() return f() + 1 end return f() end
function C:many() local i = 0 while true do i = i + 1 end end
function C:fails() error("boom") end
return C`

// TestSessionGlobalsPersist checks a session's globals outlive each call, and that a call
// stopped by a per-call limit or its context is an error of that call only.
func TestSessionGlobalsPersist(t *testing.T) {
	e := newTestEngine(t, Options{})
	lim := Limits{Timeout: 2 * time.Second, Memory: 4 << 20, Steps: 200_000, CallDepth: 50}
	s, class := newTestSession(t, e, lim, counterSrc)
	ctx := context.Background()
	want := 0.0
	inc := func() {
		t.Helper()
		want += 2
		got, err := s.CallMethod(ctx, class, "inc", 2)
		if err != nil || got != want {
			t.Fatalf("inc = %v, %v; want %v", got, err, want)
		}
	}
	inc()
	inc()
	// The caller goes away while the call runs.
	cancelled, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	for _, tc := range []struct {
		method string
		ctx    context.Context
		check  func(error)
	}{
		{"spin", ctx, func(err error) { wantLimit(t, err, LimitTime, LimitSteps) }},
		{"many", ctx, func(err error) { wantLimit(t, err, LimitSteps) }},
		{"deep", ctx, func(err error) { wantLimit(t, err, LimitCallDepth) }},
		{"fails", ctx, func(err error) { wantRuntimeError(t, err, "boom") }},
		{"spin", cancelled, func(err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call whose context ended: %v, want its context's error", err)
			}
		}},
		{"nothere", ctx, func(err error) {
			if !errors.Is(err, ErrNoMethod) {
				t.Fatalf("missing method: %v, want ErrNoMethod", err)
			}
		}},
	} {
		start := time.Now()
		_, err := s.CallMethod(tc.ctx, class, tc.method)
		tc.check(err)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s took %v", tc.method, d)
		}
		if s.Err() != nil {
			t.Fatalf("%s killed the session: %v", tc.method, s.Err())
		}
		inc() // the state and its globals are intact
	}
}

// TestSessionMemoryBound checks the memory limit bounds what the whole session holds across
// calls (each call is small), kills it when passed, and that a killed session frees its state
// and its share of the engine's pool.
func TestSessionMemoryBound(t *testing.T) {
	e := newTestEngine(t, Options{})
	before := liveStates(e)
	lim := Limits{Timeout: 2 * time.Second, Memory: 1 << 20}
	s, class := newTestSession(t, e, lim, `
kept = {}
local C = {}
function C:grow() kept[#kept + 1] = string.rep("x", 64 * 1024) .. #kept return #kept end
return C`)
	ctx := context.Background()
	var err error
	calls := 0
	for ; calls < 100; calls++ {
		if _, err = s.CallMethod(ctx, class, "grow"); err != nil {
			break
		}
		if e.pool.used.Load() == 0 {
			t.Fatal("the session holds nothing from the engine's pool")
		}
	}
	wantLimit(t, err, LimitMemory)
	if calls < 8 || calls > 20 {
		t.Fatalf("killed after %d calls of 64 KiB each, want about 1 MiB's worth", calls)
	}
	if !errors.Is(s.Err(), err) {
		t.Fatalf("Err() = %v, want %v", s.Err(), err)
	}
	if _, err2 := s.CallMethod(ctx, class, "grow"); err2 != err {
		t.Fatalf("call on a killed session: %v, want %v", err2, err)
	}
	if n := liveStates(e); n != before {
		t.Fatalf("%d live states after the kill, want %d", n, before)
	}
	if used := e.pool.used.Load(); used != 0 {
		t.Fatalf("pool holds %d bytes after the kill", used)
	}
	if n := e.Sessions(); n != 0 {
		t.Fatalf("%d sessions open", n)
	}
}

// TestSessionHostileLoad checks a hostile main chunk is stopped: time and steps end that call,
// memory kills the session.
func TestSessionHostileLoad(t *testing.T) {
	e := newTestEngine(t, Options{})
	before := liveStates(e)
	lim := Limits{Timeout: 300 * time.Millisecond, Memory: 2 << 20, Steps: 1_000_000}
	for _, tc := range []struct {
		src    string
		limits []string
		killed bool
	}{
		{`while true do end`, []string{LimitTime, LimitSteps}, false},
		{`local s = "x" while true do s = s .. s end`, []string{LimitMemory}, true},
		{`local s = string.rep("x", 2^31)`, []string{LimitMemory}, true},
		{`big = {} for i = 1, 1e7 do big[i] = i end`, []string{LimitMemory, LimitSteps, LimitTime}, false},
		{`t = {} t[6e7] = 1`, []string{LimitMemory}, true},
	} {
		s := e.NewSession(SessionOptions{Limits: lim})
		start := time.Now()
		_, err := s.Load(context.Background(), mustCompile(t, tc.src))
		le := wantLimit(t, err, tc.limits...)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: stopped after %v", tc.src, d)
		}
		if killed := s.Err() != nil; killed != (le.Limit == LimitMemory) {
			t.Errorf("%s: %v; killed = %v", tc.src, err, killed)
		}
		s.Close()
	}
	if n := liveStates(e); n != before {
		t.Fatalf("%d live states, want %d", n, before)
	}
	if used := e.pool.used.Load(); used != 0 {
		t.Fatalf("pool holds %d bytes after the sessions closed", used)
	}
}

// TestSessionObjectMethods checks Go methods on an object, the class's methods through it, and
// functions a Func receives and keeps.
func TestSessionObjectMethods(t *testing.T) {
	e := newTestEngine(t, Options{})
	s, class := newTestSession(t, e, testLimits, `
local C = {}
function C:Start()
  self.n = 0
  local ok, err = pcall(function() return self:Fail() end)
  self.caught = err
  self:Remember(function(x) self.n = self.n + x return self.n end)
  return self:Echo("hi", {a = 1})
end
function C:bad() return self.Echo("no self") end
function C:state() return {n = self.n, caught = self.caught} end
return C`)
	var kept Value
	obj, err := s.Object(class, map[string]Func{
		"Echo": func(ctx context.Context, args []any) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("a Func's context has no deadline")
			}
			return args, nil
		},
		"Fail": func(context.Context, []any) (any, error) { return nil, errors.New("refused") },
		"Remember": func(_ context.Context, args []any) (any, error) {
			v, ok := args[0].(Value)
			if !ok || !v.IsFunction() {
				return nil, fmt.Errorf("want a function, got %T", args[0])
			}
			kept = s.Keep(v)
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := s.CallMethod(ctx, obj, "Start")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[hi map[a:1]]" {
		t.Fatalf("Echo returned %v", got)
	}
	for i := 1; i <= 3; i++ {
		n, err := s.Call(ctx, kept, 10)
		if err != nil || n != float64(10*i) {
			t.Fatalf("kept function: %v, %v", n, err)
		}
	}
	st, err := s.CallMethod(ctx, obj, "state")
	if err != nil {
		t.Fatal(err)
	}
	m := st.(map[string]any)
	if m["n"] != float64(30) || !strings.Contains(fmt.Sprint(m["caught"]), "refused") {
		t.Fatalf("state %v", m)
	}
	_, err = s.CallMethod(ctx, obj, "bad")
	wantRuntimeError(t, err, "Echo is a method: call it as self:Echo(...)")
	s.Release(kept)
	if _, err := s.CallMethod(ctx, obj, "getmetatable"); !errors.Is(err, ErrNoMethod) {
		t.Fatalf("got %v", err)
	}
}

// TestSessionGlobalAndArgs checks SetGlobal tables are read-only and that an argument larger
// than the session may hold fails the call, not the session.
func TestSessionGlobalAndArgs(t *testing.T) {
	e := newTestEngine(t, Options{})
	s := e.NewSession(SessionOptions{Limits: Limits{Timeout: time.Second, Memory: 1 << 20}})
	defer s.Close()
	calls := 0
	if err := s.SetGlobal("Counter", map[string]Func{"add": func(_ context.Context, args []any) (any, error) {
		calls++
		return float64(calls), nil
	}}); err != nil {
		t.Fatal(err)
	}
	class, err := s.Load(context.Background(), mustCompile(t, `
local C = {}
function C:use() return Counter.add() end
function C:change() Counter.add = nil end
function C:size(s) return #s end
return C`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n, err := s.CallMethod(ctx, class, "use"); err != nil || n != float64(1) {
		t.Fatalf("use: %v %v", n, err)
	}
	_, err = s.CallMethod(ctx, class, "change")
	wantRuntimeError(t, err, "read-only")
	_, err = s.CallMethod(ctx, class, "size", strings.Repeat("x", 2<<20))
	wantRuntimeError(t, err, "does not fit in the memory")
	if s.Err() != nil {
		t.Fatalf("a large argument killed the session: %v", s.Err())
	}
	if n, err := s.CallMethod(ctx, class, "size", "abc"); err != nil || n != float64(3) {
		t.Fatalf("size: %v %v", n, err)
	}
}
