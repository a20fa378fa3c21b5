package hub_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// hostileArray is a JSON array of empty objects of size bytes: a few MiB of it decoded into Go
// values or tables is a hundred times as much.
func hostileArray(size int) string {
	n := (size - 2) / 3
	return "[" + strings.Repeat("{},", n-1) + "{}]"
}

// decodeFixture is a hub with a solution "demo" (runs limited to 1 MiB) that added a service
// "svc" whose operation op answers answer() (JSON) and counts its calls.
func decodeFixture(t *testing.T, answer func() string) (s *hubtest.Server, auth string, calls *atomic.Int64) {
	t.Helper()
	calls = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer()) //nolint:errcheck // test peer
	}))
	t.Cleanup(srv.Close)
	s = hubtest.Start(t)
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": swagger(strings.TrimPrefix(srv.URL, "http://"), "")}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", map[string]any{"memory_bytes": 1 << 20})
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	return s, "svc " + s.Hub.ServiceToken("svc"), calls
}

// allocated runs fn and returns what the process allocated meanwhile (every goroutine's: the
// hub runs in this process; the tests calling it are not parallel).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func postAs(t *testing.T, s *hubtest.Server, path, auth, body string) hubtest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	return s.Send(t, req)
}

// TestTriggerDataDecodedWhenRead: a trigger body of 96k empty objects (just under the 100k
// values a body may hold; ~10 MiB once decoded) is never decoded for a handler that ignores
// event.data; a handler that reads it stops at its 1 MiB memory limit; async stores it as it
// came. A body of more values is refused (413) before anything else.
func TestTriggerDataDecodedWhenRead(t *testing.T) {
	s, auth, _ := decodeFixture(t, func() string { return `{}` })
	for name, src := range map[string]string{"ignore": `return "ignored " .. event.topic`, "read": `return #event.data`, "small": `return event.data.a`} {
		r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{"name": name, "topics": []string{"svc." + name}, "script": src})
		if r.Status != http.StatusCreated {
			t.Fatalf("deploy handler %s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := postAs(t, s, "/api/v1/trigger/demo/svc/ignore", auth, hostileArray(4<<20)); r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.Body), "values") {
		t.Errorf("4 MiB of empty objects: %d %s, want 413 naming the values bound", r.Status, r.Body)
	}
	body := hostileArray(290_000)
	var r hubtest.Response
	alloc := allocated(func() { r = postAs(t, s, "/api/v1/trigger/demo/svc/ignore", auth, body) })
	t.Logf("a trigger body of 96k empty objects to a handler ignoring it: %d, %.1f MiB allocated", r.Status, float64(alloc)/(1<<20))
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "ignored svc.ignore") {
		t.Fatalf("ignoring handler: %d %s", r.Status, r.Body)
	}
	if alloc > 16<<20 {
		t.Errorf("allocated %d MiB for a body nobody read, want a few", alloc>>20)
	}
	r = postAs(t, s, "/api/v1/trigger/demo/svc/read", auth, body)
	if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "memory") {
		t.Errorf("reading handler: %d %s, want 500 naming the memory limit", r.Status, r.Body)
	}
	if r := postAs(t, s, "/api/v1/trigger/demo/svc/small", auth, `{"a":"b"}`); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `"b"` {
		t.Errorf("small body: %d %s, want \"b\"", r.Status, r.Body)
	}
	for _, tc := range []struct{ body, want string }{{`{"a":`, "not valid JSON"}, {`{"a":1} 2`, "not valid JSON"}} {
		if r := postAs(t, s, "/api/v1/trigger/demo/svc/small", auth, tc.body); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), tc.want) {
			t.Errorf("body %s: %d %s, want 400 %q", tc.body, r.Status, r.Body, tc.want)
		}
	}
	alloc = allocated(func() { r = postAs(t, s, "/api/v1/trigger/demo/svc/ignore?mode=async", auth, body) })
	t.Logf("the same body, async: %d, %.1f MiB allocated", r.Status, float64(alloc)/(1<<20))
	// Storing it in the embedded JetStream takes a few times its size; decoding it, ~15 MiB.
	if r.Status != http.StatusAccepted || alloc > 24<<20 {
		t.Errorf("async: %d %s, %d MiB allocated; want 202 and no decoding", r.Status, r.Body, alloc>>20)
	}
}

// TestCallArgsBounded: call arguments whose decoded form would be over what a solution may
// hold are refused (413) before they are decoded, and the service is not called; small ones
// are passed on.
func TestCallArgsBounded(t *testing.T) {
	s, auth, calls := decodeFixture(t, func() string { return `{"ok":true}` })
	var r hubtest.Response
	alloc := allocated(func() { r = postAs(t, s, "/api/v1/call/demo/svc/op", auth, hostileArray(4<<20)) })
	t.Logf("call with 4 MiB of empty objects: %d %s; %.1f MiB allocated", r.Status, r.Body, float64(alloc)/(1<<20))
	// Refused by the values a body may hold, or by its decoded size: either way before decoding.
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.Body), "decoded") && !strings.Contains(string(r.Body), "values") {
		t.Errorf("hostile arguments: %d %s, want 413 naming the decoded size or the values bound", r.Status, r.Body)
	}
	if calls.Load() != 0 {
		t.Errorf("the service was called %d times with refused arguments", calls.Load())
	}
	if alloc > 64<<20 {
		t.Errorf("allocated %d MiB for refused arguments", alloc>>20)
	}
	r = postAs(t, s, "/api/v1/call/demo/svc/op", auth, `{}`)
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"ok":true}` {
		t.Errorf("small arguments: %d %s, want 200 {\"ok\":true}", r.Status, r.Body)
	}
}

// TestServiceAnswerCharged: a service's JSON answer is decoded by the calling run, charged to
// it. To a run limited to 1 MiB: an 8 MiB answer of empty objects is not even read whole (it
// cannot fit), 512 KiB of them stop the run at its limit as they are decoded; both having
// allocated a few MiB where decoding them first took ~400 MiB; a small answer becomes tables.
func TestServiceAnswerCharged(t *testing.T) {
	var answer atomic.Value
	s, _, calls := decodeFixture(t, func() string { return answer.Load().(string) })
	s.Deploy(t, "demo", "GET", "/n", `local r = Svc.op({}) return #r`)
	for _, size := range []int{8 << 20, 512 << 10} {
		answer.Store(hostileArray(size))
		var r hubtest.Response
		alloc := allocated(func() { r = call(t, s, "GET", "/apps/demo/n", 30*time.Second) })
		t.Logf("a %d KiB answer of empty objects to a run limited to 1 MiB: %d, %.1f MiB allocated", size>>10, r.Status, float64(alloc)/(1<<20))
		if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "memory") {
			t.Errorf("%d KiB answer: %d %s, want 500 naming the memory limit", size>>10, r.Status, r.Body)
		}
		if alloc > 12<<20 {
			t.Errorf("%d KiB answer: allocated %d MiB, want about the run's 1 MiB", size>>10, alloc>>20)
		}
	}
	answer.Store(`[1,2,3]`)
	if r := call(t, s, "GET", "/apps/demo/n", 30*time.Second); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "3" {
		t.Errorf("small answer: %d %s, want 3", r.Status, r.Body)
	}
	if calls.Load() != 3 {
		t.Errorf("service called %d times, want 3", calls.Load())
	}
}

// TestManagementBodies: management bodies are read at the gate's pace (a stalled one is 408 and
// gives its admission back), are held on the admission gate (beyond the solution's bounds 429,
// with Retry-After), and any-typed fields whose decoded form would be over what a solution may
// hold are refused (413) before they are decoded.
func TestManagementBodies(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	s := hubtest.Start(t, func(c *hub.Config) {
		c.BodyReadTimeout = 500 * time.Millisecond
		c.BodyGrace = 500 * time.Millisecond
		c.MaxBodyHeldPerSolution = 8 * mib
	})
	createSolution(t, s, "a", nil)
	admin := "Authorization: Bearer " + s.AdminToken
	deploy := func() hubtest.Response {
		return s.Do(t, "POST", "/api/v1/solutions/a/endpoints", s.AdminToken, map[string]any{"method": "GET", "path": "/x", "script": "return 1"})
	}

	t.Run("a stalled body", func(t *testing.T) {
		start := time.Now()
		h := holdRequest(t, s, "/api/v1/solutions/a/endpoints", 1000, admin)
		var r hubtest.Response
		select {
		case r = <-h.done:
		case <-time.After(20 * time.Second):
			t.Fatal("a stalled management body was not answered within 20s")
		}
		took := time.Since(start)
		t.Logf("stalled management body answered %d after %s (timeout 500ms)", r.Status, took)
		if r.Status != http.StatusRequestTimeout || took > 5*time.Second {
			t.Errorf("stalled body: %d %s after %s, want 408 soon after 500ms", r.Status, r.Body, took)
		}
		h.conn.Close()
		hubtest.Eventually(t, "the admission given back", func() bool { return deploy().Status == http.StatusOK || deploy().Status == http.StatusCreated })
	})

	t.Run("beyond the solution's bounds", func(t *testing.T) {
		// 4 MiB arrived for a (all but its last byte): 3 MiB more is over its 8 MiB of bodies,
		// counting the buffers a growing body copies between.
		big := holdRequest(t, s, "/api/v1/solutions/a/endpoints", 4*mib, admin)
		big.send(t, 4*mib-2)
		waitHeld(t, s, "a", 4*mib)
		wantRefused(t, func() hubtest.Response {
			return s.Do(t, "POST", "/api/v1/solutions/a/endpoints", s.AdminToken, bytes.Repeat([]byte(" "), 3*mib))
		}, http.StatusTooManyRequests, "solution_body_bytes")
		// Another solution's management goes on.
		if r := s.Do(t, "POST", "/api/v1/solutions", s.AdminToken, map[string]any{"id": "b"}); r.Status != http.StatusCreated {
			t.Errorf("creating b while a's bodies are held: %d %s", r.Status, r.Body)
		}
		if r := big.finish(t); r.Status != http.StatusBadRequest {
			t.Errorf("held body of spaces: %d %s, want 400", r.Status, r.Body)
		}
		if r := deploy(); r.Status != http.StatusOK && r.Status != http.StatusCreated {
			t.Errorf("deploy after the held bodies: %d %s", r.Status, r.Body)
		}
	})

	t.Run("any-typed fields too large decoded", func(t *testing.T) {
		// Every route taking a JSON value of any shape: the estimate of its decoded size is
		// checked before anything decodes it.
		hostile := hostileArray(4*mib - 100)
		for _, tc := range []struct{ method, path, body string }{
			{"POST", "/api/v1/solutions/a/services", `{"service":"keystore","parameters":{"p":` + hostile + `}}`},
			{"POST", "/api/v1/solutions/a/events", `{"topic":"a.b","data":` + hostile + `}`},
			{"POST", "/api/v1/solutions/a/run", `{"script":"return 1","body":` + hostile + `}`},
			{"PUT", "/api/v1/solutions/a/keystore/keys/k", `{"value":` + hostile + `}`},
		} {
			r := s.Do(t, tc.method, tc.path, s.AdminToken, tc.body)
			if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(string(r.Body), "decoded") && !strings.Contains(string(r.Body), "values") {
				t.Errorf("%s %s with 4 MiB of empty objects: %d %s, want 413 naming the decoded size or the values bound", tc.method, tc.path, r.Status, r.Body)
			}
		}
	})
}

// TestResponseHeldInPool: an endpoint's response stays counted in the runs' memory pool until
// it is written, then is given back: twenty responses of ~2.5 MiB in a row each get 200 from a
// 16 MiB pool (a response never given back would fill it within a few).
func TestResponseHeldInPool(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.RunsMemory = 16 << 20 })
	createSolution(t, s, "big", map[string]any{"memory_bytes": 8 << 20})
	s.Deploy(t, "big", "GET", "/list", `local t = {} for i = 1, 10000 do t[i] = {i, "x"} end return t`)
	for i := range 20 {
		r := call(t, s, "GET", "/apps/big/list", 30*time.Second)
		if r.Status != http.StatusOK || len(r.Body) < 10000*6 {
			t.Fatalf("response %d: %d (%d bytes) %.200s", i, r.Status, len(r.Body), r.Body)
		}
	}
}
