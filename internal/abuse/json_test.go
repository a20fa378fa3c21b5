package abuse

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHostileJSON: bodies of just under 4 MiB built to cost the strict JSON check far more
// than they weigh (a million levels of nesting; two million values) are refused at once with
// 400 or 413 naming the bound, on a management route and on register, and the process's peak
// hardly moves. Before the bounds, 10k levels cost 151 MB, 50k levels 3.8 GB, and 200k levels
// had the process killed.
func TestHostileJSON(t *testing.T) {
	s := start(t)
	const size = 4<<20 - 64
	bodies := []struct {
		name   string
		body   []byte
		status int
		msg    string
	}{
		{"1M levels of [", bytes.Repeat([]byte("["), size), http.StatusBadRequest, "nests deeper than 200 levels"},
		{`800k levels of {"a":`, bytes.Repeat([]byte(`{"a":`), size/5), http.StatusBadRequest, "nests deeper than 200 levels"},
		{"2M values", shaped("0", size), http.StatusRequestEntityTooLarge, "more than 100000 values"},
	}
	routes := []struct{ name, path, token string }{
		{"management", "/api/v1/solutions", adminToken},
		{"register", "/api/v1/register/", s.RegToken},
	}
	idle := s.peak(t)
	for _, rt := range routes {
		for _, b := range bodies {
			t.Run(rt.name+" "+b.name, func(t *testing.T) {
				start := time.Now()
				r := s.do(t, "POST", rt.path, rt.token, b.body)
				took := time.Since(start)
				t.Logf("%d bytes: %d in %s, peak %s above idle", len(b.body), r.Status, took, mb(s.peak(t)-idle))
				if r.Status != b.status || !strings.Contains(string(r.Body), b.msg) {
					t.Errorf("got %s, want %d with %q", r, b.status, b.msg)
				}
				// Read unbounded, the deep bodies took seconds (and gigabytes); bounded, tens of ms.
				if took > 3*time.Second {
					t.Errorf("took %s, want under 3 s", took)
				}
			})
		}
	}
	// Each body is read whole (4 MiB, growing to 8) and checked up to its bound; what six of
	// them leave for the collector measured ~60 MiB. Unbounded, one of them took gigabytes.
	if peak := s.peak(t) - idle; peak > 128*mib {
		t.Errorf("peak %s above idle, want under 128 MiB", mb(peak))
	}
}
