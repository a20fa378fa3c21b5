package script

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// bigWork is a loop whose every iteration runs `per` copies of stmt, each a single VM
// instruction whose cost grows with its operands: two equal, distinct 4 MiB strings a and b,
// and a table t keyed by a.
func bigWork(stmt string, per int) string {
	return `local a = string.rep("x", 4 * 2^20)
local b = string.rep("x", 4 * 2^20 - 1) .. "x"
local t = {[a] = 1}
local c
while true do
` + strings.Repeat(stmt+"\n", per) + `end`
}

// overrunBound is how long past its limit a run may go in these tests: far under what the
// old per-tick check allowed (minutes), with room for a loaded machine and -race.
const overrunBound = 1500 * time.Millisecond

// TestTimeLimitBoundsEveryInstruction checks a run stops at its time limit even when one
// statement holds thousands of instructions that each compare or hash megabytes.
func TestTimeLimitBoundsEveryInstruction(t *testing.T) {
	e := newTestEngine(t, Options{})
	lim := Limits{Timeout: time.Second, Memory: 64 << 20, Steps: 1 << 40}
	cases := []struct{ name, stmt string }{
		{"equal strings compared", `c = a == b`},
		{"strings compared for order", `c = a < b`},
		{"strings compared for inequality", `c = a ~= b`},
		{"table indexed by a long key", `c = t[b]`},
		{"table stored at a long key", `t[b] = 1`},
		{"raw equality", `c = rawequal(a, b)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, bigWork(tc.stmt, 2000))
			start := time.Now()
			_, err := e.Run(context.Background(), p, Run{Limits: lim})
			took := time.Since(start)
			wantLimit(t, err, LimitTime)
			t.Logf("stopped %s after the limit of %s", (took - lim.Timeout).Round(time.Millisecond), lim.Timeout)
			if took > lim.Timeout+overrunBound {
				t.Errorf("the run took %s with a limit of %s", took, lim.Timeout)
			}
		})
	}
}

// TestTimeLimitUnderPcall checks the stop at the next instruction cannot be caught.
func TestTimeLimitUnderPcall(t *testing.T) {
	e := newTestEngine(t, Options{})
	lim := Limits{Timeout: 500 * time.Millisecond, Memory: 64 << 20, Steps: 1 << 40}
	src := `local a = string.rep("x", 4 * 2^20)
local b = string.rep("x", 4 * 2^20 - 1) .. "x"
local caught = 0
while true do
  local ok = pcall(function() local c
` + strings.Repeat("c = a == b\n", 1000) + `end)
  if not ok then caught = caught + 1 end
  coroutine.wrap(function() local c
` + strings.Repeat("c = a == b\n", 1000) + `end)()
end`
	start := time.Now()
	_, err := e.Run(context.Background(), mustCompile(t, src), Run{Limits: lim})
	took := time.Since(start)
	wantLimit(t, err, LimitTime)
	t.Logf("stopped %s after the limit", (took - lim.Timeout).Round(time.Millisecond))
	if took > lim.Timeout+overrunBound {
		t.Errorf("the run took %s with a limit of %s", took, lim.Timeout)
	}
}

// TestCancellationBoundsEveryInstruction checks a run ends soon after its caller's context
// does, however long its instructions are.
func TestCancellationBoundsEveryInstruction(t *testing.T) {
	e := newTestEngine(t, Options{})
	lim := Limits{Timeout: time.Minute, Memory: 64 << 20, Steps: 1 << 40}
	p := mustCompile(t, bigWork(`c = a == b`, 2000))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var canceled time.Time
	time.AfterFunc(300*time.Millisecond, func() {
		canceled = time.Now()
		cancel()
	})
	_, err := e.Run(ctx, p, Run{Limits: lim})
	after := time.Since(canceled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want %v", err, context.Canceled)
	}
	t.Logf("stopped %s after the cancellation", after.Round(time.Millisecond))
	if after > overrunBound {
		t.Errorf("the run went on for %s after its context ended", after)
	}
}

// TestLongLibraryWork checks library calls that compare or copy by size keep to the limit.
func TestLongLibraryWork(t *testing.T) {
	e := newTestEngine(t, Options{})
	lim := Limits{Timeout: time.Second, Memory: 64 << 20, Steps: 1 << 40}
	cases := []struct{ name, src string }{
		{"one sort of long strings", `local s = string.rep("x", 2^18)
local t = {}
for i = 1, 20000 do t[i] = s end
table.sort(t)`},
		{"to_json of long strings", `local s = string.rep("x", 2^20)
local t = {}
for i = 1, 8 do t[i] = s end
while true do local j = to_json(t) end`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := runScript(t, e, tc.src, Run{Limits: lim})
			took := time.Since(start)
			wantLimit(t, err, LimitTime)
			t.Logf("stopped %s after the limit", (took - lim.Timeout).Round(time.Millisecond))
			if took > lim.Timeout+overrunBound {
				t.Errorf("the run took %s with a limit of %s", took, lim.Timeout)
			}
		})
	}
}

// TestWalkGivesUpWhenSignalled checks a memory walk, which can take a good part of a second
// over a large heap, ends soon after the run is signalled to end instead of finishing.
func TestWalkGivesUpWhenSignalled(t *testing.T) {
	e := newTestEngine(t, Options{})
	st := e.getState(DefaultCallDepth)
	defer e.putState(st)
	r := &st.rd
	big := st.L.CreateTable(1<<20, 0)
	for i := 1; i <= 1<<20; i++ {
		big.RawSetInt(i, st.L.CreateTable(0, 0))
	}
	r.env = st.L.CreateTable(0, 1)
	r.env.RawSetString("big", big)
	defer func() { r.env = nil }()

	_, items := st.w.measure(r)
	if st.w.stopped || items < 1<<20 {
		t.Fatalf("a walk of a running run visited %d items (stopped %v), want all of them", items, st.w.stopped)
	}
	st.mu.Lock()
	st.raiseLocked(newLimitError(Limits{Timeout: time.Second}, LimitTime, ""))
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.rearm()
		st.mu.Unlock()
	}()
	_, items = st.w.measure(r)
	t.Logf("a signalled walk stopped after %d items", items)
	if !st.w.stopped || items > 10_000 {
		t.Errorf("a walk of a signalled run visited %d items (stopped %v), want it to give up", items, st.w.stopped)
	}
}
