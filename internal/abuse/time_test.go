package abuse

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// overrun is how far past its limit the tests let an answer come: the bound is the limit plus
// 100 ms (10% for long limits); the rest is room for a loaded CI machine. Today's main ran
// 90 s past.
const overrun = 1500 * time.Millisecond

// idleCPU is the most CPU the process may burn in a one-second window once the runs of
// clients that left have had their 100 ms to stop: four runaway runs burn two CPUs (2 s).
const idleCPU = 300 * time.Millisecond

// compareScript compares two equal 4 MB strings (built apart, so Go compares every byte)
// 2,000 times in each pass of a loop, forever: straight-line code the sandbox's per-pass tick
// does not see into.
func compareScript() string {
	return fmt.Sprintf(`
local a = ("x"):rep(4e6) .. "!"
local b = ("x"):rep(4e6) .. "!"
local same
while true do
%s
end`, strings.Repeat("  same = a == b\n", 2000))
}

// indexScript looks a table up by a 4 MB key (Go hashes every byte) 2,000 times per pass.
func indexScript() string {
	return fmt.Sprintf(`
local k = ("y"):rep(4e6)
local t = {}
local v
while true do
%s
end`, strings.Repeat("  v = t[k]\n", 2000))
}

// TestRunawayRunsStop: scripts whose single statements do seconds of work stop within their
// time limit, and within moments of their client leaving; the CPU goes quiet.
func TestRunawayRunsStop(t *testing.T) {
	s := start(t)
	s.solution(t, "victim", map[string]any{"timeout_ms": 1000})
	s.solution(t, "patient", map[string]any{"timeout_ms": 60000})
	s.solution(t, "other", nil)
	for _, sol := range []string{"victim", "patient"} {
		s.endpoint(t, sol, "GET", "/compare", compareScript())
		s.endpoint(t, sol, "GET", "/index", indexScript())
	}
	watch := s.watch(t, "other")

	for _, path := range []string{"/compare", "/index"} {
		t.Run("limit"+path, func(t *testing.T) {
			r := s.do(t, "GET", "/apps/victim"+path, "", nil)
			t.Logf("%s with a 1 s limit: %s after %v", path, r, r.Took.Round(time.Millisecond))
			if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "time limit") {
				t.Errorf("got %s, want 500 naming the time limit", r)
			}
			if r.Took > time.Second+overrun {
				t.Errorf("answered after %v, want within 1 s + %v", r.Took, overrun)
			}
		})
		t.Run("client gone"+path, func(t *testing.T) {
			// Four runs with a minute to go each, whose clients leave after 300 ms.
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					defer cancel()
					s.try(ctx, "GET", "/apps/patient"+path, "", nil, nil) //nolint:errcheck // the client gives up
				}()
			}
			wg.Wait()
			used := s.busy(t, 500*time.Millisecond, time.Second)
			t.Logf("%s: CPU used in the second after clients left: %v", path, used)
			if used > idleCPU {
				t.Errorf("the process used %v of CPU in one second after its clients left, want under %v", used, idleCPU)
			}
		})
	}
	s.alive(t)
	watch.check(t, "runaway runs")
}

// bigTable is Lua source of a table constructor with n distinct keys and values.
func bigTable(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, "k%d=%d,", i, i)
	}
	b.WriteString("}")
	return b.String()
}

// bigArray is Lua source of a table constructor with n distinct numbers: 100k of them are
// under the 1 MiB a deployed script may be, so the compiler's own bounds must refuse it.
func bigArray(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, "%d,", i)
	}
	b.WriteString("}")
	return b.String()
}

// TestCompileBounds: load() of a huge table constructor and a deploy of one are refused
// quickly with an error naming the limit, and leave no CPU busy.
func TestCompileBounds(t *testing.T) {
	s := start(t)
	s.solution(t, "victim", nil)
	s.solution(t, "other", nil)
	watch := s.watch(t, "other")

	t.Run("load", func(t *testing.T) {
		// Constructors built at run time, one over load()'s size bound (800 KB+) and one under
		// it with 20k distinct constants: the compiler must not run for a minute on either.
		for _, tc := range []struct{ path, part string }{
			{"/load-big", `"k" .. i .. "=" .. i .. ","`},
			{"/load-constants", `i .. ","`},
		} {
			n := 60000
			if tc.path == "/load-constants" {
				n = 20000
			}
			s.endpoint(t, "victim", "GET", tc.path, fmt.Sprintf(`
local parts = {}
for i = 1, %d do parts[i] = %s end
local f, err = load("return {" .. table.concat(parts) .. "}")
if f then return "compiled" end
return {error = err}`, n, tc.part))
			r := s.do(t, "GET", "/apps/victim"+tc.path, "", nil)
			t.Logf("%s: %s after %v", tc.path, r, r.Took.Round(time.Millisecond))
			if r.Took > 5*time.Second+overrun {
				t.Errorf("%s answered after %v, want within the 5 s limit + %v", tc.path, r.Took, overrun)
			}
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "limit") {
				t.Errorf("%s: got %s, want load's error naming the limit", tc.path, r)
			}
		}
	})

	t.Run("deploy", func(t *testing.T) {
		for _, tc := range []struct {
			name, src string
			status    int
			says      string
		}{
			{"100k keys, over the size bound", "return " + bigTable(100000), http.StatusRequestEntityTooLarge, "longer than"},
			{"100k numbers, under it", "return " + bigArray(100000), http.StatusBadRequest, "limit"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			r, err := s.try(ctx, "POST", "/api/v1/solutions/victim/endpoints", adminToken,
				map[string]any{"method": "GET", "path": "/big", "script": tc.src}, nil)
			cancel()
			if err != nil {
				t.Fatalf("deploy: %v", err)
			}
			t.Logf("deploy of %s (%d KB): %s after %v", tc.name, len(tc.src)>>10, r, r.Took.Round(time.Millisecond))
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.says) {
				t.Errorf("%s: got %s, want %d saying %q", tc.name, r, tc.status, tc.says)
			}
			if r.Took > 5*time.Second {
				t.Errorf("%s: answered after %v, want a quick refusal", tc.name, r.Took)
			}
		}
		if used := s.busy(t, 200*time.Millisecond, time.Second); used > idleCPU {
			t.Errorf("the process used %v of CPU in one second after the deploys answered, want under %v", used, idleCPU)
		}
	})

	t.Run("deploy, client gone", func(t *testing.T) {
		// Under the size limit, many constants: whatever the hub does with it, it stops once
		// the client has left.
		src := "return " + bigArray(100000)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		s.try(ctx, "POST", "/api/v1/solutions/victim/endpoints", adminToken, //nolint:errcheck // the client gives up
			map[string]any{"method": "GET", "path": "/big2", "script": src}, nil)
		if used := s.busy(t, 500*time.Millisecond, time.Second); used > idleCPU {
			t.Errorf("the process used %v of CPU in one second after the client left, want under %v", used, idleCPU)
		}
	})
	s.alive(t)
	watch.check(t, "compile bounds")
}
