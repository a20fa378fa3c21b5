package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// bigCompares is an endpoint whose every loop iteration compares two equal 4 MiB strings 2000
// times: thousands of single VM instructions that each take a while.
var bigCompares = `local a = string.rep("x", 4 * 2^20)
local b = string.rep("x", 4 * 2^20 - 1) .. "x"
local c
while true do
` + strings.Repeat("c = a == b\n", 2000) + `end`

// overrun is how far past its bound a run may end here: far under the minutes it took before
// every instruction was bounded, with room for a loaded machine and -race.
const overrun = 1500 * time.Millisecond

func TestScriptTimeBounds(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "slow", map[string]any{"timeout_ms": 1000, "memory_bytes": 32 << 20})
	createSolution(t, s, "patient", map[string]any{"timeout_ms": 60000, "memory_bytes": 32 << 20})
	s.Deploy(t, "slow", "GET", "/compare", bigCompares)
	s.Deploy(t, "patient", "GET", "/compare", bigCompares)
	s.Deploy(t, "patient", "GET", "/ok", healthyScript)

	t.Run("a 100k-key table is refused at deploy", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("return {")
		for i := range 100_000 {
			fmt.Fprintf(&b, "k%d=1,", i)
		}
		b.WriteString("}")
		src := b.String()
		for _, d := range []struct {
			what, path string
			body       map[string]any
		}{
			{"endpoint", "/api/v1/solutions/slow/endpoints", map[string]any{"method": "GET", "path": "/big", "script": src}},
			{"handler", "/api/v1/solutions/slow/handlers", map[string]any{"name": "big", "topics": []string{"big.table"}, "script": src}},
		} {
			start := time.Now()
			r := s.Do(t, "POST", d.path, s.AdminToken, d.body)
			took := time.Since(start)
			body := wantAPIError(t, r, http.StatusBadRequest, "script")
			msg, _ := body["error"].(string)
			t.Logf("%s deploy of %d bytes answered %d in %s: %s", d.what, len(src), r.Status, took.Round(time.Millisecond), msg)
			if !strings.Contains(msg, "has 100002 constants; the limit is 4096") {
				t.Errorf("%s deploy error %q does not name the limit", d.what, msg)
			}
			if took > 5*time.Second {
				t.Errorf("%s deploy took %s", d.what, took)
			}
		}
	})

	t.Run("big compares stop at the time limit", func(t *testing.T) {
		start := time.Now()
		r := call(t, s, "GET", "/apps/slow/compare", 30*time.Second)
		took := time.Since(start)
		msg, _ := scriptFailure(t, s, r)
		t.Logf("answered %d after %s: %s", r.Status, took.Round(time.Millisecond), msg)
		if msg != "script stopped: time limit of 1s exceeded" {
			t.Errorf("error %q, want the time limit", msg)
		}
		if took > time.Second+overrun {
			t.Errorf("the request took %s with a time limit of 1s", took)
		}
	})

	t.Run("runs end when their clients leave", func(t *testing.T) {
		const runs = 4
		gone := func() int {
			return strings.Count(s.Logs.String(), `"msg":"client went away during script run","solution":"patient"`)
		}
		before := gone()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range runs {
			wg.Go(func() { _, _ = fetch(ctx, "GET", s.URL+"/apps/patient/compare", nil) })
		}
		waitFor(t, "the runs to start", 10*time.Second, func() bool { return s.Hub.RunningScripts() == runs })
		left := time.Now()
		cancel()
		wg.Wait()
		waitFor(t, "the runs to end", 10*time.Second, func() bool { return s.Hub.RunningScripts() == 0 })
		ended := time.Since(left)
		t.Logf("all %d runs ended %s after their clients left", runs, ended.Round(time.Millisecond))
		if ended > overrun {
			t.Errorf("the runs went on for %s after their clients left (time limit 60s)", ended)
		}
		waitFor(t, "the runs to log their clients going away", 10*time.Second, func() bool { return gone()-before == runs })
		wantHealthy(t, call(t, s, "GET", "/apps/patient/ok", 10*time.Second))
	})
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
