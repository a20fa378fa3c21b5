package script

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/service"
)

// fakeServices has the services in names; Call records what it got and answers with fn.
type fakeServices struct {
	names map[string]bool
	fn    func(ctx context.Context, alias, op string, args any) (any, error)

	mu    sync.Mutex
	calls []fakeCall
}

type fakeCall struct {
	alias, op string
	args      any
	deadline  bool
}

func (f *fakeServices) Has(alias string) bool { return f.names[alias] }

func (f *fakeServices) Call(ctx context.Context, alias, op string, args any) (any, error) {
	_, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{alias, op, args, hasDeadline})
	f.mu.Unlock()
	if f.fn == nil {
		return map[string]any{"alias": alias, "op": op}, nil
	}
	return f.fn(ctx, alias, op, args)
}

func newFake(fn func(ctx context.Context, alias, op string, args any) (any, error)) *fakeServices {
	return &fakeServices{names: map[string]bool{"Keystore": true, "Config": true}, fn: fn}
}

func TestServices(t *testing.T) {
	e := newTestEngine(t, Options{})
	echo := func(_ context.Context, _, _ string, args any) (any, error) { return map[string]any{"args": args}, nil }
	fail := func(err error) func(context.Context, string, string, any) (any, error) {
		return func(context.Context, string, string, any) (any, error) { return nil, err }
	}
	cases := []struct {
		name     string
		fn       func(ctx context.Context, alias, op string, args any) (any, error)
		src      string
		want     any
		wantCall *fakeCall // the call the service got, if any
	}{
		{name: "a table argument", fn: echo, src: `return Keystore.get({key = "a"}).args.key`, want: "a",
			wantCall: &fakeCall{"Keystore", "get", map[string]any{"key": "a"}, true}},
		{name: "method syntax", fn: echo, src: `return Keystore:get({key = "a"}).args.key`, want: "a",
			wantCall: &fakeCall{"Keystore", "get", map[string]any{"key": "a"}, true}},
		{name: "no argument", fn: echo, src: `return Config.solution().args == nil`, want: true,
			wantCall: &fakeCall{"Config", "solution", nil, true}},
		{name: "a string argument", fn: echo, src: `return Keystore.get("k").args`, want: "k",
			wantCall: &fakeCall{"Keystore", "get", "k", true}},
		{name: "an array argument", fn: echo, src: `return #Keystore.mget({"a", "b"}).args`, want: float64(2),
			wantCall: &fakeCall{"Keystore", "mget", []any{"a", "b"}, true}},
		{name: "any operation name", fn: echo, src: `return type(Config.noSuchOperation)`, want: "function"},
		{name: "a service error", fn: fail(service.Errorf(404, "no such key")), src: `local r = Keystore.get({}) return {r.error, r.status}`,
			want: []any{"no such key", float64(404)}},
		{name: "a wrapped service error", fn: fail(fmt.Errorf("keystore: %w", service.Errorf(409, "conflict"))), src: `return Keystore.set({}).status`,
			want: float64(409)},
		{name: "a plain error", fn: fail(errors.New("boom")), src: `local r = Keystore.get({}) return {r.error, r.status}`,
			want: []any{"boom", float64(500)}},
		{name: "errors do not raise", fn: fail(errors.New("boom")), src: `local ok = pcall(Keystore.get, {}) return ok`, want: true},
		{name: "a result of Go values", fn: func(context.Context, string, string, any) (any, error) {
			return map[string]any{"list": []string{"x", "y"}, "n": 3, "m": map[string]string{"k": "v"}}, nil
		}, src: `local r = Keystore.get({}) return r.list[2] .. r.n .. r.m.k`, want: "y3v"},
		{name: "a result scripts cannot use", fn: func(context.Context, string, string, any) (any, error) { return struct{}{}, nil },
			src: `return Keystore.get({}).status`, want: float64(500)},
		{name: "a cyclic argument", fn: echo, src: `local t = {} t.t = t local r = Keystore.get(t) return {r.status, r.error:find("cycle") ~= nil}`,
			want: []any{float64(400), true}},
		{name: "unknown services are nil", src: `return Nope == nil and keystore == nil`, want: true},
		{name: "operations are cached", src: `return Keystore.get == Keystore.get`, want: true},
		{name: "the proxy is read-only", src: `local ok = pcall(function() Keystore.get = 1 end) return ok`, want: false},
		{name: "a global shadows a service", src: `Keystore = 1 return Keystore`, want: float64(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(tc.fn)
			res := mustRun(t, e, tc.src, Run{Services: f})
			if !reflect.DeepEqual(res.Return, tc.want) {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
			if tc.wantCall != nil {
				if len(f.calls) != 1 || !reflect.DeepEqual(f.calls[0], *tc.wantCall) {
					t.Errorf("calls %#v, want one %#v", f.calls, *tc.wantCall)
				}
			}
		})
	}
	t.Run("no services", func(t *testing.T) {
		if res := mustRun(t, e, `return Keystore == nil`, Run{}); res.Return != true {
			t.Error("Keystore is visible without services")
		}
	})
}

// TestServiceCallEndsWithTheRun checks a run blocked in a service call ends when it should.
func TestServiceCallEndsWithTheRun(t *testing.T) {
	e := newTestEngine(t, Options{})
	block := func(ctx context.Context, _, _ string, _ any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	p := mustCompile(t, `local r = Keystore.get({}) return r`)
	t.Run("the time limit", func(t *testing.T) {
		_, err := e.Run(context.Background(), p, Run{Services: newFake(block), Limits: Limits{Timeout: 100 * time.Millisecond}})
		wantLimit(t, err, LimitTime)
	})
	t.Run("the caller's cancellation", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		f := newFake(func(ctx context.Context, a, o string, args any) (any, error) {
			close(started)
			return block(ctx, a, o, args)
		})
		go func() {
			<-started
			cancel()
		}()
		_, err := e.Run(ctx, p, Run{Services: f, Limits: Limits{Timeout: 10 * time.Second}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("a result larger than the memory limit", func(t *testing.T) {
		big := func(context.Context, string, string, any) (any, error) { return strings.Repeat("x", 8<<20), nil }
		_, err := e.Run(context.Background(), p, Run{Services: newFake(big), Limits: Limits{Memory: 4 << 20}})
		wantLimit(t, err, LimitMemory)
	})
}

// TestServicesOfTheCurrentRun checks cached proxies call the services of the run in progress.
func TestServicesOfTheCurrentRun(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	p := mustCompile(t, `return Keystore.get({}).who`)
	for _, who := range []string{"first", "second", "third"} {
		t.Run(who, func(t *testing.T) {
			f := newFake(func(context.Context, string, string, any) (any, error) { return map[string]any{"who": who}, nil })
			res, err := e.Run(context.Background(), p, Run{Solution: who, Services: f})
			if err != nil || res.Return != who {
				t.Fatalf("got %v, %v; want %s", res.Return, err, who)
			}
		})
	}
}

// TestServiceJSONAnswer: a service's JSON answer handed over undecoded (a Body) becomes tables
// decoded by the run, charged to it: an answer larger than the run may hold ends it at its
// memory limit having made about that much; JSON the run cannot hold is a failure table.
func TestServiceJSONAnswer(t *testing.T) {
	e := newTestEngine(t, Options{})
	answer := func(data string) *fakeServices {
		return newFake(func(context.Context, string, string, any) (any, error) { return Body{Data: data, JSON: true}, nil })
	}
	t.Run("small", func(t *testing.T) {
		res := mustRun(t, e, `local r = Keystore.get({}) return {r.a[2], r.b}`, Run{Services: answer(`{"a":[1,2],"b":"x"}`)})
		if want := []any{float64(2), "x"}; !reflect.DeepEqual(res.Return, want) {
			t.Errorf("got %#v, want %#v", res.Return, want)
		}
	})
	t.Run("nested deeper than scripts may hold", func(t *testing.T) {
		deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)
		res := mustRun(t, e, `local r = Keystore.get({}) return {r.status, r.error}`, Run{Services: answer(deep)})
		got, _ := res.Return.([]any)
		if len(got) != 2 || got[0] != float64(502) || !strings.Contains(fmt.Sprint(got[1]), "nested too deeply") {
			t.Errorf("got %#v, want {502, ...nested too deeply...}", res.Return)
		}
	})
	t.Run("over the run's answer limit", func(t *testing.T) {
		var seen int64
		f := newFake(func(ctx context.Context, _, _ string, _ any) (any, error) {
			seen = AnswerBudgetOf(ctx).Limit()
			return nil, fmt.Errorf("service svc: over 1 bytes: %w", ErrAnswerTooLarge)
		})
		_, err := runScript(t, e, `local r = Keystore.get({}) return r`, Run{Services: f, Limits: Limits{Memory: 1 << 20}})
		wantLimit(t, err, LimitMemory)
		if seen != 1<<20 {
			t.Errorf("the call's AnswerLimit was %d, want the run's 1 MiB", seen)
		}
	})
	t.Run("drawn from the pool while read", func(t *testing.T) {
		e := newTestEngine(t, Options{RunsMemory: 4 << 20})
		var during int64
		f := newFake(func(ctx context.Context, _, _ string, _ any) (any, error) {
			if err := AnswerBudgetOf(ctx).Take(1 << 20); err != nil {
				return nil, err
			}
			during = e.pool.used.Load()
			return Body{Data: `[1,2]`, JSON: true}, nil
		})
		res := mustRun(t, e, `return #Keystore.get({}) + #Keystore.get({})`, Run{Services: f, Limits: Limits{Memory: 2 << 20}})
		if res.Return != float64(4) || during < 1<<20 {
			t.Errorf("got %v with %d bytes of the pool drawn while reading; want 4 and over 1 MiB", res.Return, during)
		}
		if used := e.pool.used.Load(); used != 0 {
			t.Errorf("after the run the pool holds %d bytes, want 0", used)
		}
		// An answer the pool has no room for ends the run as the server's memory.
		big := newFake(func(ctx context.Context, _, _ string, _ any) (any, error) {
			return nil, AnswerBudgetOf(ctx).Take(3 << 20)
		})
		_, err := runScript(t, e, `return Keystore.get({})`, Run{Services: big, Limits: Limits{Memory: 2 << 20}, Held: 2 << 20})
		wantLimit(t, err, LimitServerMemory)
		if used := e.pool.used.Load(); used != 0 {
			t.Errorf("after the refused answer the pool holds %d bytes, want 0", used)
		}
	})
	t.Run("larger than the memory limit", func(t *testing.T) {
		n := (8 << 20) / 3
		hostile := "[" + strings.Repeat("{},", n-1) + "{}]"
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := runScript(t, e, `local r = Keystore.get({}) return #r`, Run{Services: answer(hostile), Limits: Limits{Memory: 1 << 20}})
		runtime.ReadMemStats(&after)
		wantLimit(t, err, LimitMemory)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("an 8 MiB answer of empty objects to a run with a 1 MiB limit: %.1f MiB allocated", float64(alloc)/(1<<20))
		// Decoded whole, it would be about 400 MiB of tables.
		if alloc > 64<<20 {
			t.Errorf("allocated %d MiB, want the run stopped near its 1 MiB", alloc>>20)
		}
	})
}
