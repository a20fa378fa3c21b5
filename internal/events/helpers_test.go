package events

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/script"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openBus(t *testing.T, dir string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: dir, Name: "test"})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	return b
}

func openStore(t *testing.T, b *bus.Bus) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), b, quietLog())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func newEngine(t *testing.T) *script.Engine {
	t.Helper()
	e := script.NewEngine(script.Options{HeapLimit: -1})
	t.Cleanup(e.Close)
	return e
}

// eventually waits for cond, checking it every few milliseconds, and fails the test when it
// does not hold within the deadline: views fed by watches and consumers settle asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 10*time.Second, what, cond)
}

// eventuallyWithin is eventually with a deadline of its own, for waits on many runs one after
// another (slower still under the race detector).
func eventuallyWithin(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func mustPut(t *testing.T, s *Store, h Handler) Handler {
	t.Helper()
	got, _, err := s.Put(context.Background(), h)
	if err != nil {
		t.Fatalf("put handler %s/%s: %v", h.Solution, h.Name, err)
	}
	return got
}

// recorder is the Recorder service: it counts calls by operation and answers with what it got.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
}

func newRecorder() *recorder { return &recorder{calls: map[string]int{}} }

func (r *recorder) Has(alias string) bool { return alias == "Recorder" }

func (r *recorder) Call(_ context.Context, _, op string, args any) (any, error) {
	r.mu.Lock()
	r.calls[op]++
	r.mu.Unlock()
	return map[string]any{"op": op, "args": args}, nil
}

func (r *recorder) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[op]
}

// anySolution says every solution exists except "ghost".
func anySolution(sol string) (script.Limits, bool) {
	return script.Limits{Timeout: 2 * time.Second, Memory: 4 << 20}, sol != "ghost"
}

func newDispatcher(t *testing.T, b *bus.Bus, s *Store, rec *recorder, tweak func(*DispatcherOptions)) *Dispatcher {
	t.Helper()
	o := DispatcherOptions{
		Store:    s,
		Runner:   newEngine(t),
		Services: func(string) script.Services { return rec },
		Limits:   anySolution,
		Bus:      b,
		Logger:   quietLog(),
	}
	if tweak != nil {
		tweak(&o)
	}
	d := NewDispatcher(o)
	t.Cleanup(d.Close)
	return d
}
