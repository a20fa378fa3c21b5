package hub_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// worstBody is a JSON body just under the default 4 MiB limit whose tables would take about
// 160 MiB: an array of empty objects.
func worstBody() string {
	n := (4<<20 - 2) / 3
	return "[" + strings.Repeat("{},", n-1) + "{}]"
}

func postBody(t *testing.T, s *hubtest.Server, path, body string) hubtest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := fetch(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

// TestAppsBodyDecodedWhenRead: a script that reads the request but not its hostile 4 MiB
// body answers within a 1 MiB limit (the body is never decoded); one that reads the body
// stops at that limit (500), the server unharmed.
func TestAppsBodyDecodedWhenRead(t *testing.T) {
	s := hubtest.Start(t)
	createSolution(t, s, "bodies", map[string]any{"memory_bytes": 1 << 20})
	s.Deploy(t, "bodies", "POST", "/ignore", `return "ignored " .. request.method`)
	s.Deploy(t, "bodies", "POST", "/read", `return #request.body`)
	s.Deploy(t, "bodies", "POST", "/small", `return request.body.a`)
	body := worstBody()

	wantText(t, postBody(t, s, "/apps/bodies/ignore", body), "ignored POST")
	r := postBody(t, s, "/apps/bodies/read", body)
	if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "memory limit") {
		t.Fatalf("reading the body: %d %s, want 500 naming the memory limit", r.Status, r.Body)
	}
	wantText(t, postBody(t, s, "/apps/bodies/small", `{"a":"b"}`), "b")
}

// TestAppsServerMemory: a run the engine's memory pool cannot serve (here: its 4 MiB body
// alone is more than the 2 MiB pool) answers 503 with Retry-After; the server goes on.
func TestAppsServerMemory(t *testing.T) {
	s := hubtest.Start(t, func(c *hub.Config) { c.RunsMemory = 2 << 20 })
	s.CreateSolution(t, "busy")
	s.CreateSolution(t, "other")
	s.Deploy(t, "busy", "POST", "/x", `return "ran"`)
	s.Deploy(t, "other", "POST", "/y", `return request.body.v`)

	r := postBody(t, s, "/apps/busy/x", worstBody())
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d %s, want 503", r.Status, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After")
	}
	if !strings.Contains(string(r.Body), "server memory limit") {
		t.Errorf("body %s does not name the server memory limit", r.Body)
	}
	wantText(t, postBody(t, s, "/apps/busy/x", `{}`), "ran")
	wantText(t, postBody(t, s, "/apps/other/y", `{"v":"fine"}`), "fine")
}

// vmKB reads a VmXXX line of this process's status, in KiB.
func vmKB(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse %q: %v", l, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", name)
	return 0
}

// TestAppsHostileBodiesUnderLoad: 30 concurrent 4 MiB bodies of empty objects, three rounds,
// against a script that ignores the body and one that reads it: the process's peak RSS stays
// under 512 MiB above what it held before, every request gets an answer (200, or 500/503 for
// the readers), and another solution answers throughout.
func TestAppsHostileBodiesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 360 MiB of bodies")
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	// As serve runs the hub: GOGC=400 and a soft limit of the runs' pool plus 128 MiB.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(256<<20 + 128<<20))

	s := hubtest.Start(t)
	s.CreateSolution(t, "load")
	s.CreateSolution(t, "calm")
	s.Deploy(t, "load", "POST", "/ignore", `return 1`)
	s.Deploy(t, "load", "POST", "/read", `return #request.body`)
	s.Deploy(t, "calm", "GET", "/ping", `return "pong"`)
	body := []byte(worstBody())
	wantText(t, call(t, s, "GET", "/apps/calm/ping", 10*time.Second), "pong")

	for _, path := range []string{"/apps/load/ignore", "/apps/load/read"} {
		t.Run(path, func(t *testing.T) {
			debug.FreeOSMemory()
			idle := vmKB(t, "VmRSS")
			if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			pings, pingErrs := 0, []string{}
			var pw sync.WaitGroup
			pw.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					r, err := fetch(ctx, "GET", s.URL+"/apps/calm/ping", nil)
					cancel()
					pings++
					if err != nil || r.Status != http.StatusOK {
						pingErrs = append(pingErrs, fmtResult(r, err))
					}
				}
			})
			codes := map[string]int{}
			var mu sync.Mutex
			for range 3 {
				var wg sync.WaitGroup
				for range 30 {
					wg.Go(func() {
						ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
						defer cancel()
						r, err := fetch(ctx, "POST", s.URL+path, bytes.NewReader(body))
						mu.Lock()
						codes[fmtResult(r, err)]++
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			close(stop)
			pw.Wait()
			peak := vmKB(t, "VmHWM")
			t.Logf("%s: RSS before %d MiB, peak %d MiB (+%d MiB); answers %v; %d pings of another solution", path, idle>>10, peak>>10, (peak-idle)>>10, codes, pings)
			for c := range codes {
				// Admission refuses what is over the solution's or the server's bounds.
				refused := c == "429" || c == "503"
				if c != "200" && !refused && (path == "/apps/load/ignore" || c != "500") {
					t.Errorf("answer %s to %s", c, path)
				}
			}
			if len(pingErrs) > 0 || pings == 0 {
				t.Errorf("another solution's pings: %d, failures %v", pings, pingErrs)
			}
			if over := (peak - idle) << 10; over > 512<<20 && !raceEnabled {
				t.Errorf("peak RSS %d MiB above idle, want under 512 MiB", over>>20)
			}
		})
	}
}

func fmtResult(r hubtest.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return strconv.Itoa(r.Status)
}
