package hub_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
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

// TestAdmission: a solution holding its share of runs or body bytes gets 429 for more, the
// server holding its share gets 503, and other solutions keep being answered meanwhile.
func TestAdmission(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	s := hubtest.Start(t, func(c *hub.Config) {
		c.MaxRuns, c.MaxRunsPerSolution = 3, 2
		c.MaxBodyHeld, c.MaxBodyHeldPerSolution = 7*mib, 6*mib
	})
	for _, sol := range []string{"a", "b", "c"} {
		createSolution(t, s, sol, nil)
		s.Deploy(t, sol, "POST", "/in", `return 1`)
		s.Deploy(t, sol, "GET", "/ping", `return "pong"`)
	}

	// Bytes: a holds 4 MiB; 3 MiB more for a is over its 6 MiB, 3 MiB for b is fine, 3.5 MiB
	// for b is over the server's 7 MiB.
	held := holdRequest(t, s, "/apps/a/in", 4*mib)
	wantRefused(t, func() hubtest.Response { return post(t, s, "/apps/a/in", 3*mib) }, http.StatusTooManyRequests, "solution_body_bytes")
	if r := post(t, s, "/apps/b/in", 3*mib); r.Status != http.StatusOK {
		t.Errorf("b while a is full: %d %s", r.Status, r.Body)
	}
	wantRefused(t, func() hubtest.Response { return post(t, s, "/apps/b/in", 3*mib+mib/2) }, http.StatusServiceUnavailable, "body_bytes")
	if r := s.Do(t, "GET", "/apps/b/ping", "", nil); r.Status != http.StatusOK {
		t.Errorf("b without a body while a is full: %d %s", r.Status, r.Body)
	}

	// Runs: a holds both its runs; c's and b's requests take the server's third.
	held2 := holdRequest(t, s, "/apps/a/in", 10)
	wantRefused(t, func() hubtest.Response { return s.Do(t, "GET", "/apps/a/ping", "", nil) }, http.StatusTooManyRequests, "solution_runs")
	if r := s.Do(t, "GET", "/apps/c/ping", "", nil); r.Status != http.StatusOK {
		t.Errorf("c while a holds its runs: %d %s", r.Status, r.Body)
	}
	held3 := holdRequest(t, s, "/apps/b/in", 10)
	wantRefused(t, func() hubtest.Response { return s.Do(t, "GET", "/apps/c/ping", "", nil) }, http.StatusServiceUnavailable, "runs")

	for i, h := range []*heldRequest{held, held2, held3} {
		if r := h.finish(t); r.Status != http.StatusOK {
			t.Errorf("held request %d: %d %s", i, r.Status, r.Body)
		}
	}
	// Everything was given back.
	if r := post(t, s, "/apps/a/in", 4*mib); r.Status != http.StatusOK {
		t.Errorf("a after the held requests finished: %d %s", r.Status, r.Body)
	}
	m := string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body)
	for _, reason := range []string{"solution_runs", "runs", "solution_body_bytes", "body_bytes"} {
		if !strings.Contains(m, `switchboard_admission_rejected_total{reason="`+reason+`"}`) {
			t.Errorf("no rejection counted for %s", reason)
		}
	}
}

// TestAdmissionConcurrent: many concurrent bodies for one solution, beyond its bound, get 429s
// with Retry-After (never a failure of another kind), while another solution keeps answering.
func TestAdmissionConcurrent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	s := hubtest.Start(t, func(c *hub.Config) { c.MaxBodyHeldPerSolution = 8 * mib })
	createSolution(t, s, "a", nil)
	createSolution(t, s, "b", nil)
	s.Deploy(t, "a", "POST", "/in", `return 1`)
	s.Deploy(t, "b", "GET", "/ping", `return "pong"`)

	// Held requests fill a's share first, so the others are refused whatever the timing.
	h1, h2 := holdRequest(t, s, "/apps/a/in", 4*mib-100), holdRequest(t, s, "/apps/a/in", 4*mib-100)
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
	t.Logf("answers to 20 concurrent 4 MiB bodies while a's 8 MiB are held: %v", codes)
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
	s.Deploy(t, "demo", "POST", "/in", `return 1`)
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
	held := holdRequest(t, s, "/apps/demo/in", 10)
	for _, path := range []string{"/api/v1/trigger/demo/svc/ev", "/api/v1/call/demo/keystore/get"} {
		var r hubtest.Response
		hubtest.Eventually(t, "a refusal of "+path, func() bool { r = send(path); return r.Status == http.StatusTooManyRequests })
		m := wantAPIError(t, r, http.StatusTooManyRequests, "")
		if m["bound"] != "solution_runs" || r.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: refusal %s (Retry-After %q), want bound solution_runs and Retry-After 1", path, r.Body, r.Header.Get("Retry-After"))
		}
	}
	held.finish(t)
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
