package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestNoHandlerIsSaid: an event nobody subscribes to is taken and said in the solution's log,
// once a minute for a topic, whatever number of events arrive.
func TestNoHandlerIsSaid(t *testing.T) {
	var mu sync.Mutex
	var said []string
	g := New(Options{Registry: fakeRegistry{}, Auth: fakeAuth{}, Store: &fakeStore{},
		SolutionLog: func(sol string) func(slog.Level, string, map[string]any) {
			return func(level slog.Level, msg string, fields map[string]any) {
				mu.Lock()
				defer mu.Unlock()
				said = append(said, fmt.Sprint(sol, " ", level, " ", fields["topic"]))
			}
		}})
	app, _ := fakeRegistry{}.Application("demo", "shop")
	for i := range 3 {
		if _, rf := g.deliver(context.Background(), app, incoming{eventType: "order.quiet", version: "v1"}); rf != nil {
			t.Fatalf("event %d refused: %v", i, rf)
		}
	}
	if len(said) != 1 || said[0] != "demo WARN shop.order.quiet.v1" {
		t.Fatalf("said %q; want one warning for the topic", said)
	}
}

// TestEveryMinute: a key is due once a minute; the memory is bounded.
func TestEveryMinute(t *testing.T) {
	m := newEveryMinute(2)
	t0 := time.Unix(0, 0)
	for _, c := range []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true}, {"a", 30 * time.Second, false}, {"b", 30 * time.Second, true},
		{"a", 61 * time.Second, true}, // a minute on; the memory was full, so it started afresh
		{"c", 62 * time.Second, true},
		{"b", 63 * time.Second, true}, // forgotten then
	} {
		if got := m.due(c.key, t0.Add(c.at)); got != c.want {
			t.Fatalf("due(%s) at %v = %v, want %v", c.key, c.at, got, c.want)
		}
	}
	if len(m.last) > 2 {
		t.Fatalf("%d keys kept, bound 2", len(m.last))
	}
}
