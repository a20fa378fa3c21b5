package abuse

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// budgetAboveIdle is what the issue allows a flood to add to the process's peak.
const budgetAboveIdle = 512 * mib

// shaped returns a JSON body of just under size bytes: an array of item repeated, the shapes
// that cost a decoder the most per byte.
func shaped(item string, size int) []byte {
	var b bytes.Buffer
	b.Grow(size)
	b.WriteByte('[')
	for b.Len()+len(item)+2 < size {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// flood sends n copies of body at once to path and counts the answers by status; a refused
// connection or a reset is an error.
func (s *server) flood(t *testing.T, n int, method, path string, body []byte) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		errs   []error
		wg     sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var b any
			if body != nil {
				b = body
			}
			r, err := s.try(ctx, method, path, "", b, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[r.Status]++
			if r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable {
				if r.Header.Get("Retry-After") == "" {
					errs = append(errs, &statusError{r, "no Retry-After"})
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("%s %s: %v", method, path, err)
	}
	return counts
}

type statusError struct {
	r   response
	why string
}

func (e *statusError) Error() string { return e.why + ": " + e.r.String() }

// TestBodyFlood: 30 concurrent bodies of just under 4 MiB in the shapes that cost a decoder
// the most, to a script that ignores its body and to one that reads it. The process's peak
// stays within 512 MiB of idle, every answer is a proper one (200, the memory limit, or a
// refusal with Retry-After), and another solution keeps answering throughout.
func TestBodyFlood(t *testing.T) {
	s := start(t)
	s.solution(t, "victim", nil)
	s.solution(t, "other", nil)
	s.endpoint(t, "victim", "POST", "/ignore", `return 1`)
	s.endpoint(t, "victim", "POST", "/read", `local b = request.body; return type(b)`)
	idle := s.peak(t)
	shapes := []struct{ name, item string }{
		{"objects", `{}`},
		{"arrays", `[]`},
		{"numbers", `0`},
		{"strings", `""`},
		{"nested", `[[[[[[[[[[{"a":[{}]}]]]]]]]]]]`},
	}
	const size = 4<<20 - 1024
	watch := s.watch(t, "other")
	for _, path := range []string{"/ignore", "/read"} {
		for _, sh := range shapes {
			body := shaped(sh.item, size)
			counts := s.flood(t, 30, "POST", "/apps/victim"+path, body)
			s.alive(t)
			t.Logf("%s %s: answers %v, peak %s above idle", path, sh.name, counts, mb(s.peak(t)-idle))
			for code := range counts {
				switch {
				case path == "/ignore" && code == http.StatusOK,
					path == "/read" && (code == http.StatusOK || code == http.StatusInternalServerError),
					code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
				default:
					t.Errorf("%s %s: unexpected status %d", path, sh.name, code)
				}
			}
			if counts[http.StatusOK]+counts[http.StatusInternalServerError] == 0 {
				t.Errorf("%s %s: no request was run at all (%v)", path, sh.name, counts)
			}
		}
	}
	watch.check(t, "body flood")
	peak := s.peak(t) - idle
	t.Logf("body flood: idle %s, peak %s above idle", mb(idle), mb(peak))
	if peak > budgetAboveIdle {
		t.Errorf("peak %s above idle, want under %s", mb(peak), mb(budgetAboveIdle))
	}
}

// TestFromJSONFlood: 40 concurrent runs of from_json over a 7.8 MB array of numbers, and of
// to_json writing 40 MB of text, with the default 16 MiB limit. Each fails with the memory
// limit (or is refused with Retry-After); the process's peak stays within 512 MiB of idle and
// another solution keeps answering.
func TestFromJSONFlood(t *testing.T) {
	s := start(t)
	s.solution(t, "victim", nil)
	s.solution(t, "other", nil)
	s.endpoint(t, "victim", "GET", "/parse", `return #from_json("[" .. ("1,"):rep(3.9e6) .. "1]")`)
	// One 2 MB string held 20 times: the run holds 2 MB, its JSON text would be 40 MB.
	s.endpoint(t, "victim", "GET", "/encode", `
local s, t = ("x"):rep(2e6), {}
for i = 1, 20 do t[i] = s end
return #to_json(t)`)
	idle := s.peak(t)
	watch := s.watch(t, "other")
	for _, path := range []string{"/parse", "/encode"} {
		counts := s.flood(t, 40, "GET", "/apps/victim"+path, nil)
		s.alive(t)
		t.Logf("%s: answers %v, peak %s above idle", path, counts, mb(s.peak(t)-idle))
		for code := range counts {
			if code != http.StatusInternalServerError && code != http.StatusOK && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
				t.Errorf("%s: unexpected status %d", path, code)
			}
		}
	}
	watch.check(t, "from_json flood")
	peak := s.peak(t) - idle
	t.Logf("from_json flood: idle %s, peak %s above idle", mb(idle), mb(peak))
	if peak > budgetAboveIdle {
		t.Errorf("peak %s above idle, want under %s", mb(peak), mb(budgetAboveIdle))
	}
	// The memory limit, not something else, stopped them.
	r := s.do(t, "GET", "/apps/victim/parse", "", nil)
	if r.Status != http.StatusInternalServerError || !bytes.Contains(r.Body, []byte("memory limit")) {
		t.Errorf("from_json over the limit: %s, want 500 naming the memory limit", r)
	}
}
