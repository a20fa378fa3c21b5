package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/service"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// openBus starts an embedded server on dir.
func openBus(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	return b
}

// newStore returns a Store on a fresh embedded server, closed at the end of the test.
func newStore(t testing.TB, o Options) *Store {
	t.Helper()
	b := openBus(t, t.TempDir())
	s := New(b, o)
	t.Cleanup(func() {
		s.Close()
		b.Close()
	})
	return s
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// args builds a converted Lua table from name, value pairs.
func args(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// list builds a converted Lua array.
func arr(v ...any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// call runs an operation that must succeed.
func call(t testing.TB, s *Store, solution, op string, a any) any {
	t.Helper()
	res, err := s.Call(tctx(t), solution, op, a)
	if err != nil {
		t.Fatalf("%s %s(%s): %v", solution, op, js(a), err)
	}
	return res
}

// callErr runs an operation that must fail and returns its error.
func callErr(t testing.TB, s *Store, solution, op string, a any) *service.Error {
	t.Helper()
	res, err := s.Call(tctx(t), solution, op, a)
	if err == nil {
		t.Fatalf("%s %s(%s) = %s, want an error", solution, op, js(a), js(res))
	}
	var se *service.Error
	if !errors.As(err, &se) {
		t.Fatalf("%s %s(%s): error %T %v is not a *service.Error", solution, op, js(a), err, err)
	}
	return se
}

// cmd runs a Redis command and returns its value.
func cmd(t testing.TB, s *Store, solution, key, name string, a ...any) any {
	t.Helper()
	res := call(t, s, solution, "command", args("key", key, "command", name, "args", arr(a...)))
	return res.(map[string]any)["value"]
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func equal(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %s (%#v), want %s (%#v)", what, js(got), got, js(want), want)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keyRev is the revision b's index holds for key.
func keyRev(b *bucket, key string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys[key].rev
}
