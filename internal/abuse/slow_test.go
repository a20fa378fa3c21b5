package abuse

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// stalled is a raw connection that sent a request head announcing a body, and little or none
// of the body; its answer (status and when) arrives on done.
type stalled struct {
	conn net.Conn
	done chan int
	took time.Duration
}

// stallBodies opens n connections to path, each announcing length body bytes and sending first.
func (s *server) stallBodies(t *testing.T, n int, path string, length int, first string) []*stalled {
	t.Helper()
	out := make([]*stalled, n)
	for i := range out {
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, s.Addr, length, first)
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		st := &stalled{conn: conn, done: make(chan int, 1)}
		began := time.Now()
		go func() {
			conn.SetReadDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // a bound for the test
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			st.took = time.Since(began)
			if err != nil {
				st.done <- -1
				return
			}
			resp.Body.Close()
			st.done <- resp.StatusCode
		}()
		out[i] = st
	}
	return out
}

// TestSlowBodies: bodies announced and not sent — 300 of one byte over five solutions (more
// than the server's 256 runs, fewer than one solution's 64 each), then 32 of 4 MiB over four
// solutions (the server's whole 128 MiB of bodies, before bodies were held as they arrive) — neither shut other solutions out nor the
// solutions they stall on: GETs and POSTs with small bodies are answered 200 meanwhile. Every
// stalled body is answered 408 soon after --body-grace (5s), well before --body-read-timeout (30s).
func TestSlowBodies(t *testing.T) {
	s := start(t)
	victims := []string{"v1", "v2", "v3", "v4", "v5"}
	for _, sol := range append(victims, "other") {
		s.solution(t, sol, nil)
		s.endpoint(t, sol, "POST", "/in", `return 1`)
	}
	watch := s.watch(t, "other")
	posts := func(what string) {
		t.Helper()
		for _, sol := range []string{"other", "v1"} {
			if r := s.do(t, "POST", "/apps/"+sol+"/in", "", []byte(`{"small":true}`)); r.Status != http.StatusOK {
				t.Errorf("%s: a small POST to %s: %s", what, sol, r)
			}
		}
	}

	began := time.Now()
	var all []*stalled
	for _, sol := range victims {
		all = append(all, s.stallBodies(t, 60, "/apps/"+sol+"/in", 1, "")...)
	}
	posts("300 bodies announcing 1 byte")
	for _, sol := range victims[:4] {
		all = append(all, s.stallBodies(t, 8, "/apps/"+sol+"/in", 4<<20, "[")...)
	}
	posts("and 32 announcing 4 MiB")
	// Throughout the stall (until the grace nears its end): the watch GETs another solution, and
	// small POSTs go on.
	tick := time.NewTicker(200 * time.Millisecond)
	n := 0
	for ; time.Since(began) < 4*time.Second; n++ {
		<-tick.C
		posts(fmt.Sprintf("%d stalled bodies", len(all)))
	}
	tick.Stop()
	t.Logf("%d stalled bodies; %d rounds of small POSTs sent meanwhile", len(all), n)

	// Every stalled body is cut off after the grace, not at the read timeout.
	var mu sync.Mutex
	codes := map[int]int{}
	var slowest time.Duration
	for _, st := range all {
		code := <-st.done
		mu.Lock()
		codes[code]++
		slowest = max(slowest, st.took)
		mu.Unlock()
	}
	watch.check(t, "stalled bodies")
	s.alive(t)
	t.Logf("stalled bodies answered %v, the last after %s (grace 5s, read timeout 30s)", codes, slowest.Round(time.Millisecond))
	if codes[http.StatusRequestTimeout] != len(all) {
		t.Errorf("answers %v, want %d times 408", codes, len(all))
	}
	if slowest > 15*time.Second {
		t.Errorf("the last stalled body was answered after %s, want soon after the 5s grace", slowest)
	}
}
