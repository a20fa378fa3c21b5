package script

import (
	"context"
	"testing"
)

func benchRun(b *testing.B, src string, r Run) {
	b.Helper()
	e := NewEngine(Options{MaxIdleStates: 4, HeapLimit: -1})
	b.Cleanup(e.Close)
	p, err := Compile("bench", src)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Run(ctx, p, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Run(ctx, p, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunTrivial is a pooled run of `return 1`.
func BenchmarkRunTrivial(b *testing.B) {
	benchRun(b, `return 1`, Run{Solution: "bench"})
}

// BenchmarkRunRequest is a run shaped like an HTTP endpoint's.
func BenchmarkRunRequest(b *testing.B) {
	benchRun(b, `return {value = request.parameters.id}`, Run{
		Solution: "bench",
		Vars: map[string]any{
			"request": map[string]any{
				"method":     "GET",
				"uri":        "/items/42?x=1",
				"route":      "/items/{id}",
				"path":       "/items/42",
				"parameters": map[string]any{"id": "42", "x": "1"},
				"headers":    map[string]any{"accept": "application/json", "user-agent": "bench", "host": "example.test"},
				"request_id": "0123456789abcdef",
				"timestamp":  1.7e9,
			},
			"response": map[string]any{"code": float64(200), "headers": map[string]any{}},
		},
		ReadBack: []string{"response"},
	})
}

// BenchmarkConcatLoop builds a string piece by piece (each .. is a budgeted call).
func BenchmarkConcatLoop(b *testing.B) {
	benchRun(b, `local s = "" for i = 1, 1000 do s = s .. "x" end return #s`, Run{Solution: "bench"})
}

// BenchmarkLoop is a tight loop of a million iterations, each a tick.
func BenchmarkLoop(b *testing.B) {
	benchRun(b, `local n = 0 for i = 1, 1e6 do n = n + i end return n`, Run{Solution: "bench"})
}

// BenchmarkTableFill fills an array with computed keys (each store a budgeted call).
func BenchmarkTableFill(b *testing.B) {
	benchRun(b, `local t = {} for i = 1, 1e5 do t[i] = i end return #t`, Run{Solution: "bench"})
}

// BenchmarkNewState is the cost of building one sandboxed Lua state (what the pool saves).
func BenchmarkNewState(b *testing.B) {
	e := newTestEngine(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		newState(e, DefaultCallDepth).close()
	}
}
