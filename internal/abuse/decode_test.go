package abuse

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodAs sends n copies of body at once to path with the given Authorization header (and
// Content-Type, when not ""), and counts the answers by status; an answer with no status, or
// a refusal without Retry-After, fails the test.
func (s *server) floodAs(t *testing.T, n int, path, auth, ctype string, body []byte) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var b any
			if body != nil {
				b = body
			}
			hdr := http.Header{"Authorization": {auth}}
			if ctype != "" {
				hdr.Set("Content-Type", ctype)
			}
			r, err := s.try(ctx, "POST", path, "", b, hdr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("POST %s: %v", path, err)
				return
			}
			counts[r.Status]++
			if (r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable) && r.Header.Get("Retry-After") == "" {
				t.Errorf("POST %s: %s without Retry-After", path, r)
			}
		})
	}
	wg.Wait()
	return counts
}

// TestDecodeFlood: the bodies the hub used to decode eagerly, 30 at once each — trigger data
// (to a handler that ignores it and one that reads it), call arguments, a service's 8 MiB
// answers to endpoint scripts, management parameters — of 4 MiB (8 MiB) of empty objects, or
// as many as an API body may hold.
// Every answer is a proper one, the process's peak stays within 512 MiB of idle and another
// solution keeps answering.
func TestDecodeFlood(t *testing.T) {
	s := start(t)
	answer := string(shaped(`{}`, 8<<20-1024))
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer)) //nolint:errcheck // test peer
	}))
	t.Cleanup(svc.Close)
	r := s.do(t, "POST", "/api/v1/register/", s.RegToken, map[string]any{"name": "floodsvc", "swagger": swaggerAt(strings.TrimPrefix(svc.URL, "http://"))})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %s", r)
	}
	var reg struct{ Token string }
	json.Unmarshal(r.Body, &reg) //nolint:errcheck // checked by its use
	auth := "floodsvc " + reg.Token
	s.solution(t, "victim", nil)
	s.solution(t, "other", nil)
	if r := s.do(t, "POST", "/api/v1/solutions/victim/services", adminToken, map[string]any{"service": "floodsvc"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %s", r)
	}
	for name, src := range map[string]string{"ignore": `return 1`, "read": `return #event.data`} {
		if r := s.do(t, "POST", "/api/v1/solutions/victim/handlers", adminToken, map[string]any{"name": name, "topics": []string{"floodsvc." + name}, "script": src}); r.Status != http.StatusCreated {
			t.Fatalf("handler %s: %s", name, r)
		}
	}
	s.endpoint(t, "victim", "GET", "/answer", `return #Floodsvc.op({})`)
	body := shaped(`{}`, 4<<20-1024)
	underCap := shaped(`{}`, 290_000)
	params, _ := json.Marshal(map[string]any{"service": "keystore", "parameters": map[string]any{"p": json.RawMessage(shaped(`{}`, 4<<20-2048))}})

	idle := s.peak(t)
	watch := s.watch(t, "other")
	// Batches of events: as many values as a body may hold, in plain events or in CloudEvents
	// (whose data is decoded whole), and the most events a batch may hold with big data.
	bigBatch := shaped(`{"topic":"floodsvc.read","data":{"a":[{},{},{},{}]}}`, 4<<20-1024)
	ceBatch := shaped(`{"specversion":"1.0","id":"x","source":"/s","type":"floodsvc.read","data":[{},{},{},{},{},{},{},{}]}`, 4<<20-1024)
	fullBatch := shaped(`{"topic":"floodsvc.ignore","data":"`+strings.Repeat("x", 2000)+`"}`, 500*2040)
	cases := []struct {
		name, path, auth string
		body             []byte
		want             []int // besides 429 and 503
		ctype            string
	}{
		// 4 MiB of empty objects is over the 100 000 values an API body may hold (413); just
		// under it, 96k of them would be ~10 MiB of tables, decoded only by a handler that reads.
		{"trigger, 4 MiB", "/api/v1/trigger/victim/floodsvc/ignore", auth, body, []int{413}, ""},
		{"trigger, ignored", "/api/v1/trigger/victim/floodsvc/ignore", auth, underCap, []int{200}, ""},
		{"trigger, read", "/api/v1/trigger/victim/floodsvc/read", auth, underCap, []int{200, 500}, ""},
		{"call arguments", "/api/v1/call/victim/floodsvc/op", auth, body, []int{413}, ""},
		{"management parameters", "/api/v1/solutions/victim/services", "Bearer " + adminToken, params, []int{413}, ""},
		{"event batch, 4 MiB", "/api/v1/solutions/victim/events", "Bearer " + adminToken, bigBatch, []int{413}, ""},
		{"CloudEvents batch, 4 MiB", "/api/v1/solutions/victim/events", "Bearer " + adminToken, ceBatch, []int{413}, "application/cloudevents-batch+json"},
		{"event batch of 500, 2 KB each", "/api/v1/solutions/victim/events", "Bearer " + adminToken, fullBatch, []int{202}, ""},
	}
	for _, tc := range cases {
		counts := s.floodAs(t, 30, tc.path, tc.auth, tc.ctype, tc.body)
		s.alive(t)
		t.Logf("%s: answers %v, peak %s above idle", tc.name, counts, mb(s.peak(t)-idle))
		for code := range counts {
			if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable && !contains(tc.want, code) {
				t.Errorf("%s: unexpected status %d (%v)", tc.name, code, counts)
			}
		}
	}
	counts := s.flood(t, 30, "GET", "/apps/victim/answer", nil)
	s.alive(t)
	t.Logf("8 MiB service answers to endpoint scripts: answers %v, peak %s above idle", counts, mb(s.peak(t)-idle))
	for code := range counts {
		if code != http.StatusInternalServerError && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
			t.Errorf("service answers: unexpected status %d (%v)", code, counts)
		}
	}
	watch.check(t, "decode flood")
	peak := s.peak(t) - idle
	t.Logf("decode flood: idle %s, peak %s above idle", mb(idle), mb(peak))
	if peak > budgetAboveIdle {
		t.Errorf("peak %s above idle, want under %s", mb(peak), mb(budgetAboveIdle))
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
