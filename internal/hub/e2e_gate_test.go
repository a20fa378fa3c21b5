package hub_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// heldRequest is a request whose body is sent only in part until finish is called, so the
// server holds its admission while the test looks at what others get. It is written on a raw
// connection: an HTTP client buffers the head until the body is sent.
type heldRequest struct {
	conn net.Conn
	rest []byte
	done chan hubtest.Response
}

func holdRequest(t *testing.T, s *hubtest.Server, path string, size int, headers ...string) *heldRequest {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var extra string
	for _, h := range headers {
		extra += h + "\r\n"
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n1",
		path, strings.TrimPrefix(s.URL, "http://"), size, extra)
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	h := &heldRequest{conn: conn, rest: bytes.Repeat([]byte(" "), size-1), done: make(chan hubtest.Response, 1)}
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			h.done <- hubtest.Response{Status: -1, Body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		h.done <- hubtest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}()
	return h
}

// send sends n more bytes of the body (it was started with one).
func (h *heldRequest) send(t *testing.T, n int) {
	t.Helper()
	if _, err := h.conn.Write(h.rest[:n]); err != nil {
		t.Fatal(err)
	}
	h.rest = h.rest[n:]
}

// finish sends the rest of the body and returns the answer.
func (h *heldRequest) finish(t *testing.T) hubtest.Response {
	t.Helper()
	go h.conn.Write(h.rest) //nolint:errcheck // the server may have answered already
	select {
	case r := <-h.done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("held request: no answer after 30s")
		return hubtest.Response{}
	}
}

func post(t *testing.T, s *hubtest.Server, path string, size int) hubtest.Response {
	t.Helper()
	return s.Do(t, "POST", path, "", bytes.Repeat([]byte(" "), size-1))
}

// wantRefused waits until a request made by do is refused with status and bound (the held
// requests ahead of it are admitted asynchronously), and checks the refusal's shape.
func wantRefused(t *testing.T, do func() hubtest.Response, status int, bound string) {
	t.Helper()
	var r hubtest.Response
	hubtest.Eventually(t, bound+" refusal", func() bool {
		r = do()
		return r.Status == status
	})
	m := r.Map(t)
	if m["bound"] != bound || !strings.Contains(m["error"].(string), "retry later") {
		t.Errorf("refusal body %s, want bound %q", r.Body, bound)
	}
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", r.Header.Get("Retry-After"))
	}
}

// blockingService registers a service "slow" whose operation answers only once release is
// called, adds it to sols, and deploys GET /wait calling it there: a request to /wait holds its
// run slot until release. seen counts the calls that reached the service.
func blockingService(t *testing.T, s *hubtest.Server, sols ...string) (seen *atomic.Int64, release func()) {
	t.Helper()
	seen = new(atomic.Int64)
	open := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(open) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		seen.Add(1)
		select {
		case <-open:
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`) //nolint:errcheck // the hub may be gone
	}))
	t.Cleanup(func() { release(); srv.Close() })
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "slow", "swagger": swagger(strings.TrimPrefix(srv.URL, "http://"), "")}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	for _, sol := range sols {
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/services", s.AdminToken, map[string]any{"service": "slow"}); r.Status != http.StatusCreated {
			t.Fatalf("add slow to %s: %d %s", sol, r.Status, r.Body)
		}
		s.Deploy(t, sol, "GET", "/wait", `return Slow.op{}`)
	}
	return seen, release
}

// holdRun starts a GET of path in the background; its status arrives on the channel.
func holdRun(s *hubtest.Server, path string) <-chan int {
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			done <- -1
			return
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // status is what counts
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// waitHeld waits until sol holds at least want body bytes.
func waitHeld(t *testing.T, s *hubtest.Server, sol string, want int64) {
	t.Helper()
	var b int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, _, _, b = s.Hub.Gate().Held(sol); b >= want {
			return
		}
	}
	t.Fatalf("%s holds %d body bytes, want at least %d", sol, b, want)
}

// TestAdmission: a solution holding its share of runs or body bytes gets 429 for more, the
// server holding its share gets 503, and other solutions keep being answered meanwhile.
func TestAdmission(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	s := hubtest.Start(t, func(c *hub.Config) {
		c.MaxRuns, c.MaxRunsPerSolution = 3, 2
		c.MaxBodyBytes, c.MaxBodyHeld, c.MaxBodyHeldPerSolution = 2*mib, 8*mib, 5*mib
	})
	for _, sol := range []string{"a", "b", "c"} {
		createSolution(t, s, sol, map[string]any{"timeout_ms": 60000})
		s.Deploy(t, sol, "POST", "/in", `return 1`)
		s.Deploy(t, sol, "GET", "/ping", `return "pong"`)
	}
	seen, release := blockingService(t, s, "a", "b")

	// Bytes are held as they arrive: a has sent two 2 MiB bodies but for their last byte. A
	// third for a is over its 5 MiB (a 2 MiB body holds up to 3 MiB while its buffer is copied).
	// One after the other: two bodies growing at once could each hold their copy's extra
	// megabyte at the same moment, which is over a's 5 MiB.
	held := []*heldRequest{holdRequest(t, s, "/apps/a/in", 2*mib), holdRequest(t, s, "/apps/a/in", 2*mib)}
	for i, h := range held {
		h.send(t, 2*mib-2)
		waitHeld(t, s, "a", int64(i+1)*2*mib)
	}
	wantRefused(t, func() hubtest.Response { return post(t, s, "/apps/a/in", 2*mib) }, http.StatusTooManyRequests, "solution_body_bytes")
	if r := post(t, s, "/apps/b/in", 2*mib); r.Status != http.StatusOK {
		t.Errorf("b while a is full: %d %s", r.Status, r.Body)
	}
	// b holds 2 MiB too: 6 MiB in all, so b's next body fits b's bound but not the server's 8 MiB.
	held = append(held, holdRequest(t, s, "/apps/b/in", 2*mib))
	held[2].send(t, 2*mib-2)
	waitHeld(t, s, "b", 2*mib)
	wantRefused(t, func() hubtest.Response { return post(t, s, "/apps/b/in", 2*mib) }, http.StatusServiceUnavailable, "body_bytes")
	if r := s.Do(t, "GET", "/apps/b/ping", "", nil); r.Status != http.StatusOK {
		t.Errorf("b without a body while the server's bodies are full: %d %s", r.Status, r.Body)
	}

	// Runs: a holds both its runs; c's and b's requests take the server's third. The bodies
	// held above hold no run slot.
	runs := []<-chan int{holdRun(s, "/apps/a/wait"), holdRun(s, "/apps/a/wait")}
	hubtest.Eventually(t, "a's two runs waiting on the service", func() bool { return seen.Load() == 2 })
	wantRefused(t, func() hubtest.Response { return s.Do(t, "GET", "/apps/a/ping", "", nil) }, http.StatusTooManyRequests, "solution_runs")
	if r := s.Do(t, "GET", "/apps/c/ping", "", nil); r.Status != http.StatusOK {
		t.Errorf("c while a holds its runs: %d %s", r.Status, r.Body)
	}
	runs = append(runs, holdRun(s, "/apps/b/wait"))
	hubtest.Eventually(t, "b's run waiting on the service", func() bool { return seen.Load() == 3 })
	wantRefused(t, func() hubtest.Response { return s.Do(t, "GET", "/apps/c/ping", "", nil) }, http.StatusServiceUnavailable, "runs")

	release()
	for i, done := range runs {
		if status := <-done; status != http.StatusOK {
			t.Errorf("held run %d: %d", i, status)
		}
	}
	for i, h := range held {
		if r := h.finish(t); r.Status != http.StatusOK {
			t.Errorf("held request %d: %d %s", i, r.Status, r.Body)
		}
	}
	// Everything was given back.
	if r := post(t, s, "/apps/a/in", 2*mib); r.Status != http.StatusOK {
		t.Errorf("a after the held requests finished: %d %s", r.Status, r.Body)
	}
	if runs, b, _, _ := s.Hub.Gate().Held("a"); runs != 0 || b != 0 {
		t.Errorf("the gate still holds %d runs and %d bytes", runs, b)
	}
	m := string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body)
	for _, reason := range []string{"solution_runs", "runs", "solution_body_bytes", "body_bytes"} {
		if _, ok := metricValue(m, "switchboard_admission_rejected_total", map[string]string{"reason": reason}); !ok {
			t.Errorf("no rejection counted for %s", reason)
		}
	}
}

// TestAdmissionConcurrent: many concurrent bodies for one solution, beyond its bound, get 429s
// with Retry-After (never a failure of another kind), while another solution keeps answering.
func TestAdmissionConcurrent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	s := hubtest.Start(t, func(c *hub.Config) { c.MaxBodyHeldPerSolution = 10 * mib })
	createSolution(t, s, "a", nil)
	createSolution(t, s, "b", nil)
	s.Deploy(t, "a", "POST", "/in", `return 1`)
	s.Deploy(t, "b", "GET", "/ping", `return "pong"`)

	// Held requests fill a's share first, so the others are refused whatever the timing.
	h1, h2 := holdRequest(t, s, "/apps/a/in", 4*mib-100), holdRequest(t, s, "/apps/a/in", 4*mib-100)
	// One after the other: while a buffer grows to its last size both copies count (6 MiB).
	h1.send(t, 4*mib-102)
	waitHeld(t, s, "a", 4*mib-100)
	h2.send(t, 4*mib-102)
	waitHeld(t, s, "a", 2*(4*mib-100))
	body := bytes.Repeat([]byte("[{},"), mib-1)
	body = append(body, []byte("{}]")...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", s.URL+"/apps/a/in", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("post: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // status is what counts
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	// b answers while a is flooded.
	for range 5 {
		if r := s.Do(t, "GET", "/apps/b/ping", "", nil); r.Status != http.StatusOK {
			t.Errorf("b while a is flooded: %d %s", r.Status, r.Body)
		}
	}
	wg.Wait()
	h1.finish(t)
	h2.finish(t)
	t.Logf("answers to 20 concurrent 4 MiB bodies while 8 of a's 10 MiB are held: %v", codes)
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusTooManyRequests]+codes[http.StatusOK] != 20 {
		t.Errorf("answers %v, want 429s (and nothing but 429 or 200)", codes)
	}
}

// TestBodyReadTimeout: a body that stops arriving is answered 408 after --body-read-timeout,
// and gives its reservation back.
func TestBodyReadTimeout(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) {
		c.BodyReadTimeout = 300 * time.Millisecond
		c.MaxRunsPerSolution = 1
	})
	createSolution(t, s, "a", nil)
	s.Deploy(t, "a", "POST", "/in", `return 1`)
	s.Deploy(t, "a", "GET", "/ping", `return "pong"`)
	start := time.Now()
	h := holdRequest(t, s, "/apps/a/in", 1000)
	var r hubtest.Response
	select {
	case r = <-h.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a stalled body was not answered within 20s")
	}
	took := time.Since(start)
	t.Logf("stalled body answered %d after %s (timeout 300ms)", r.Status, took)
	if r.Status != http.StatusRequestTimeout || took > 5*time.Second {
		t.Errorf("stalled body: %d %s after %s, want 408 soon after 300ms", r.Status, r.Body, took)
	}
	h.conn.Close()
	if r := s.Do(t, "GET", "/apps/a/ping", "", nil); r.Status != http.StatusOK {
		t.Errorf("the run slot was not given back: %d %s", r.Status, r.Body)
	}
}

// TestMetricsAccess: /metrics names every solution, so it needs a token, or its own address.
func TestMetricsAccess(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, url, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && !strings.Contains(string(b), "go_goroutines") {
			t.Errorf("GET %s: 200 without the metrics: %s", url, b)
		}
		return resp.StatusCode
	}
	const metricsToken = "metrics-token-0123456789"
	t.Run("on the main address", func(t *testing.T) {
		s := hubtest.Start(t, func(c *hub.Config) { c.MetricsToken = metricsToken })
		createSolution(t, s, "demo", nil)
		s.Deploy(t, "demo", "GET", "/x", `return 1`)
		s.Do(t, "GET", "/apps/demo/x", "", nil)
		sol := createSolution(t, s, "other", nil)
		for _, tc := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", 401},
			{"wrong token", "nope-nope-nope-nope", 401},
			{"a solution's token", sol, 401},
			{"admin token", s.AdminToken, 200},
			{"metrics token", metricsToken, 200},
		} {
			if got := get(t, s.URL+"/metrics", tc.token); got != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
			}
		}
		if s.Hub.MetricsAddr() != "" {
			t.Errorf("MetricsAddr %q without --metrics-addr", s.Hub.MetricsAddr())
		}
	})
	t.Run("on its own address", func(t *testing.T) {
		s := hubtest.Start(t, func(c *hub.Config) { c.MetricsAddr = "127.0.0.1:0" })
		addr := s.Hub.MetricsAddr()
		if addr == "" || addr == strings.TrimPrefix(s.URL, "http://") {
			t.Fatalf("MetricsAddr %q", addr)
		}
		if got := get(t, "http://"+addr+"/metrics", ""); got != 200 {
			t.Errorf("metrics address without a token: %d, want 200", got)
		}
		if got := get(t, s.URL+"/metrics", s.AdminToken); got != 404 {
			t.Errorf("main address with --metrics-addr: %d, want 404", got)
		}
	})
	t.Run("on its own address with a token", func(t *testing.T) {
		s := hubtest.Start(t, func(c *hub.Config) { c.MetricsAddr, c.MetricsToken = "127.0.0.1:0", metricsToken })
		url := "http://" + s.Hub.MetricsAddr() + "/metrics"
		if got := get(t, url, ""); got != 401 {
			t.Errorf("no token: %d, want 401", got)
		}
		if got := get(t, url, metricsToken); got != 200 {
			t.Errorf("metrics token: %d, want 200", got)
		}
	})
}

// TestAdmissionTrigger: a service's trigger and call for a solution take the same bounds as
// the solution's endpoints.
func TestAdmissionTrigger(t *testing.T) {
	t.Parallel()
	s, svcAuth := strictFixture(t, func(c *hub.Config) { c.MaxRunsPerSolution, c.BodyReadTimeout = 1, 300*time.Millisecond })
	if r := s.Do(t, "PATCH", "/api/v1/solutions/demo", s.AdminToken, map[string]any{"limits": map[string]any{"timeout_ms": 60000}}); r.Status != http.StatusOK {
		t.Fatalf("patch limits: %d %s", r.Status, r.Body)
	}
	seen, release := blockingService(t, s, "demo")
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{"name": "h", "topics": []string{"svc.ev"}, "script": "return 1"}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	send := func(path string) hubtest.Response {
		req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", svcAuth)
		return s.Send(t, req)
	}
	if r := send("/api/v1/trigger/demo/svc/ev"); r.Status != http.StatusOK {
		t.Fatalf("trigger with nothing held: %d %s", r.Status, r.Body)
	}
	held := holdRun(s, "/apps/demo/wait")
	hubtest.Eventually(t, "the endpoint's run waiting on the service", func() bool { return seen.Load() == 1 })
	for _, path := range []string{"/api/v1/trigger/demo/svc/ev", "/api/v1/call/demo/keystore/get"} {
		var r hubtest.Response
		hubtest.Eventually(t, "a refusal of "+path, func() bool { r = send(path); return r.Status == http.StatusTooManyRequests })
		m := wantAPIError(t, r, http.StatusTooManyRequests, "")
		if m["bound"] != "solution_runs" || r.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: refusal %s (Retry-After %q), want bound solution_runs and Retry-After 1", path, r.Body, r.Header.Get("Retry-After"))
		}
	}
	release()
	if status := <-held; status != http.StatusOK {
		t.Errorf("held run: %d", status)
	}
	if r := send("/api/v1/trigger/demo/svc/ev"); r.Status != http.StatusOK {
		t.Errorf("trigger after the endpoint finished: %d %s", r.Status, r.Body)
	}

	// A trigger whose body stalls is answered 408 and gives its slot back.
	stalled := holdRequest(t, s, "/api/v1/trigger/demo/svc/ev", 100, "Authorization: "+svcAuth)
	select {
	case r := <-stalled.done:
		if r.Status != http.StatusRequestTimeout {
			t.Errorf("stalled trigger body: %d %s, want 408", r.Status, r.Body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a stalled trigger body was not answered within 20s")
	}
	if r := send("/api/v1/trigger/demo/svc/ev"); r.Status != http.StatusOK {
		t.Errorf("trigger after a stalled one: %d %s", r.Status, r.Body)
	}
}

// stall opens a connection and sends the head of a POST announcing length body bytes, and no
// body. The connection is closed at the end of the test.
func stall(t *testing.T, s *hubtest.Server, path string, length int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, length)
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestStalledBodies: bodies announced but not sent hold neither the bytes they announce nor a
// run slot, so other solutions (and the same ones) go on being answered, GETs and POSTs alike.
func TestStalledBodies(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	// Stalls last through the test here; how soon they are cut is TestSlowBody's.
	s := hubtest.Start(t, func(c *hub.Config) { c.BodyGrace, c.BodyReadTimeout = time.Minute, time.Minute })
	sols := []string{"s1", "s2", "s3", "s4", "s5", "other"}
	for _, sol := range sols {
		createSolution(t, s, sol, nil)
		s.Deploy(t, sol, "POST", "/in", `return 1`)
		s.Deploy(t, sol, "GET", "/ping", `return "pong"`)
	}
	answered := func(what string) {
		t.Helper()
		for _, sol := range []string{"other", "s1"} {
			if r := s.Do(t, "GET", "/apps/"+sol+"/ping", "", nil); r.Status != http.StatusOK {
				t.Errorf("%s: GET of %s: %d %s", what, sol, r.Status, r.Body)
			}
			if r := post(t, s, "/apps/"+sol+"/in", 1000); r.Status != http.StatusOK {
				t.Errorf("%s: POST to %s: %d %s", what, sol, r.Status, r.Body)
			}
		}
	}

	// 300 bodies announcing one byte, none sent, over 5 solutions: more than the server's 256 runs.
	for i := range 300 {
		stall(t, s, "/apps/"+sols[i%5]+"/in", 1)
	}
	var runs int
	var held int64
	hubtest.Eventually(t, "the server reading 300 stalled bodies", func() bool {
		runs, held, _, _ = s.Hub.Gate().Held("other")
		return runs >= 256 || held >= 300
	})
	t.Logf("300 stalled 1-byte bodies: %d runs and %d bytes held in all", runs, held)
	answered("300 stalled 1-byte bodies")

	// And 8 bodies announcing 4 MiB on each of 4 solutions, one byte sent: 128 MiB announced,
	// the server's whole bound.
	for _, sol := range sols[:4] {
		for range 8 {
			holdRequest(t, s, "/apps/"+sol+"/in", 4*mib)
		}
	}
	// Each has its first chunk reserved once its byte is in (before the fix: its 4 MiB at once).
	for _, sol := range sols[:4] {
		waitHeld(t, s, sol, 60+8*64<<10)
	}
	_, held, _, _ = s.Hub.Gate().Held("other")
	t.Logf("and 32 bodies announcing 4 MiB, one byte sent: %s held in all", mib1(held))
	answered("and 32 stalled 4 MiB bodies")
}

func mib1(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// TestSlowBody: a body arriving slower than --body-min-rate is answered 408 soon after
// --body-grace, well before --body-read-timeout, on an endpoint and on a service's trigger.
func TestSlowBody(t *testing.T) {
	t.Parallel()
	s, svcAuth := strictFixture(t, func(c *hub.Config) {
		c.BodyGrace, c.BodyMinRate, c.BodyReadTimeout = time.Second, 8<<10, 30*time.Second
	})
	s.Deploy(t, "demo", "POST", "/in", `return 1`)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{"name": "h", "topics": []string{"svc.ev"}, "script": "return 1"}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		name, path string
		headers    []string
	}{
		{"endpoint", "/apps/demo/in", nil},
		{"trigger", "/api/v1/trigger/demo/svc/ev", []string{"Authorization: " + svcAuth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			h := holdRequest(t, s, tc.path, 100_000, tc.headers...)
			// Ten bytes a second, far below 8 KiB/s; it would take the body hours.
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			timeout := time.After(20 * time.Second)
			for {
				select {
				case r := <-h.done:
					took := time.Since(start)
					t.Logf("a body trickling at 10 B/s answered %d after %s (grace 1s, read timeout 30s): %s", r.Status, took, r.Body)
					if r.Status != http.StatusRequestTimeout || !strings.Contains(string(r.Body), "too slowly") {
						t.Errorf("answer %d %s, want 408 naming the rate", r.Status, r.Body)
					}
					if took > 10*time.Second {
						t.Errorf("answered after %s, want well before the 30s read timeout", took)
					}
					return
				case <-tick.C:
					h.conn.Write([]byte(" ")) //nolint:errcheck // the server may have given up
				case <-timeout:
					t.Fatal("a trickling body was not answered within 20s")
				}
			}
		})
	}
}

// TestTriggerRunsPerHandler: a sync trigger takes a run slot per handler it runs, as far as the
// solution's bound leaves free; its other handlers run in turn, and all answer.
func TestTriggerRunsPerHandler(t *testing.T) {
	t.Parallel()
	s, svcAuth := strictFixture(t, func(c *hub.Config) { c.MaxRunsPerSolution = 2 })
	if r := s.Do(t, "PATCH", "/api/v1/solutions/demo", s.AdminToken, map[string]any{"limits": map[string]any{"timeout_ms": 60000}}); r.Status != http.StatusOK {
		t.Fatalf("patch limits: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/ping", `return "pong"`)
	seen, release := blockingService(t, s, "demo")
	for _, name := range []string{"h1", "h2", "h3"} {
		if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{"name": name, "topics": []string{"svc.ev"}, "script": "return Slow.op{}"}); r.Status != http.StatusCreated {
			t.Fatalf("deploy handler %s: %d %s", name, r.Status, r.Body)
		}
	}
	done := make(chan hubtest.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/demo/svc/ev", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", svcAuth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- hubtest.Response{Status: -1, Body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- hubtest.Response{Status: resp.StatusCode, Body: b}
	}()
	hubtest.Eventually(t, "two handlers waiting on the service", func() bool { return seen.Load() >= 2 })
	if _, _, solRuns, _ := s.Hub.Gate().Held("demo"); solRuns != 2 {
		t.Errorf("a trigger running 3 handlers holds %d run slots, want the solution's 2", solRuns)
	}
	wantRefused(t, func() hubtest.Response { return s.Do(t, "GET", "/apps/demo/ping", "", nil) }, http.StatusTooManyRequests, "solution_runs")
	release()
	r := <-done
	if m := r.Map(t); r.Status != http.StatusOK || len(m) != 3 {
		t.Errorf("trigger: %d %s, want the 3 handlers' results", r.Status, r.Body)
	}
	if got := seen.Load(); got != 3 {
		t.Errorf("the service saw %d calls, want 3", got)
	}
}
