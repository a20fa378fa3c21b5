package script

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// testLimits are small, so hostile scripts end fast.
var testLimits = Limits{Timeout: 2 * time.Second, Memory: 4 << 20, Steps: 2_000_000}

// newTestEngine is an engine closed when the test ends.
func newTestEngine(t testing.TB, o Options) *Engine {
	t.Helper()
	if o.HeapLimit == 0 {
		o.HeapLimit = -1 // tests that want the watchdog set their own limit
	}
	e := NewEngine(o)
	t.Cleanup(e.Close)
	return e
}

func mustCompile(t testing.TB, src string) *Program {
	t.Helper()
	p, err := Compile("test", src)
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return p
}

// runScript compiles and runs src with testLimits unless r sets limits.
func runScript(t testing.TB, e *Engine, src string, r Run) (Result, error) {
	t.Helper()
	if r.Limits == (Limits{}) {
		r.Limits = testLimits
	}
	if r.Solution == "" {
		r.Solution = "test"
	}
	return e.Run(context.Background(), mustCompile(t, src), r)
}

// mustRun runs src and fails the test on an error.
func mustRun(t testing.TB, e *Engine, src string, r Run) Result {
	t.Helper()
	res, err := runScript(t, e, src, r)
	if err != nil {
		t.Fatalf("run %q: %v", src, err)
	}
	return res
}

// wantLimit checks err is a *LimitError for one of limits.
func wantLimit(t testing.TB, err error, limits ...string) *LimitError {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want a limit error (%s)", err, err, strings.Join(limits, " or "))
	}
	for _, l := range limits {
		if le.Limit == l {
			return le
		}
	}
	t.Fatalf("limit %q (%v), want %s", le.Limit, le, strings.Join(limits, " or "))
	return nil
}

// wantRuntimeError checks err is a *RuntimeError whose message contains want.
func wantRuntimeError(t testing.TB, err error, want string) *RuntimeError {
	t.Helper()
	var re *RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want a runtime error containing %q", err, err, want)
	}
	if !strings.Contains(re.Message, want) {
		t.Fatalf("runtime error %q, want it to contain %q", re.Message, want)
	}
	return re
}
