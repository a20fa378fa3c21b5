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
// 2,000 times in one statement, forever.
func compareScript() string {
	cmp := strings.Repeat("(a == b) and ", 1999) + "(a == b)"
	return fmt.Sprintf(`
local a = ("x"):rep(4e6) .. "!"
local b = ("x"):rep(4e6) .. "!"
local n = 0
while true do
  if %s then n = n + 1 end
end`, cmp)
}

// indexScript looks a table up by a 4 MB key (Go hashes every byte) 2,000 times per statement.
func indexScript() string {
	return fmt.Sprintf(`
local k = ("y"):rep(4e6)
local t = {}
local n = 0
while true do
  n = n + (t[k] or 0)%s
end`, strings.Repeat(" + (t[k] or 0)", 1999))
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

// TestCompileBounds: load() of a huge table constructor and a deploy of one are refused
// quickly with an error naming the limit, and leave no CPU busy.
func TestCompileBounds(t *testing.T) {
	s := start(t)
	s.solution(t, "victim", nil)
	s.solution(t, "other", nil)
	watch := s.watch(t, "other")

	t.Run("load", func(t *testing.T) {
		// An 800 KB+ constructor built at run time: the compiler must not run for a minute.
		s.endpoint(t, "victim", "GET", "/load", `
local parts = {}
for i = 1, 60000 do parts[i] = "k" .. i .. "=" .. i .. "," end
local f, err = load("return {" .. table.concat(parts) .. "}")
if f then return "compiled" end
return {error = err}`)
		r := s.do(t, "GET", "/apps/victim/load", "", nil)
		t.Logf("load of a 60k-constant table: %s after %v", r, r.Took.Round(time.Millisecond))
		if r.Took > 5*time.Second+overrun {
			t.Errorf("answered after %v, want within the 5 s limit + %v", r.Took, overrun)
		}
		if !strings.Contains(string(r.Body), "limit") {
			t.Errorf("got %s, want an error naming the limit", r)
		}
	})

	t.Run("deploy", func(t *testing.T) {
		src := "return " + bigTable(100000)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := s.try(ctx, "POST", "/api/v1/solutions/victim/endpoints", adminToken,
			map[string]any{"method": "GET", "path": "/big", "script": src}, nil)
		if err != nil {
			t.Fatalf("deploy: %v", err)
		}
		t.Logf("deploy of a 100k-key table (%d KB): %s after %v", len(src)>>10, r, r.Took.Round(time.Millisecond))
		if r.Status < 400 || r.Status >= 500 || !strings.Contains(string(r.Body), "limit") {
			t.Errorf("got %s, want a 4xx naming the limit", r)
		}
		if r.Took > 5*time.Second {
			t.Errorf("answered after %v, want a quick refusal", r.Took)
		}
		if used := s.busy(t, 200*time.Millisecond, time.Second); used > idleCPU {
			t.Errorf("the process used %v of CPU in one second after the deploy answered, want under %v", used, idleCPU)
		}
	})

	t.Run("deploy, client gone", func(t *testing.T) {
		// Just under the size limit, many constants: whatever the hub does with it, it stops
		// once the client has left.
		src := "return " + bigTable(100000)
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
