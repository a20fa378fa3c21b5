package abuse

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

const wantCSP = "sandbox allow-scripts allow-forms allow-popups allow-downloads"

// TestSharedOrigin: on the shared origin, a solution's answers are sandboxed and cannot set
// cookies for another solution's paths.
func TestSharedOrigin(t *testing.T) {
	s := start(t)
	s.solution(t, "aaa", nil)
	s.solution(t, "bbb", nil)
	s.endpoint(t, "bbb", "GET", "/secret", `return {secret = "bbb's"}`)
	s.endpoint(t, "aaa", "GET", "/evil", `
response.headers["Content-Type"] = "text/html"
response.headers["Set-Cookie"] = "session=evil; Path=/apps/bbb"
return "<script>fetch('/apps/bbb/secret').then(r => r.text()).then(t => fetch('/x?' + t))</script>"`)
	s.endpoint(t, "aaa", "GET", "/domain", `
response.headers["Set-Cookie"] = "session=evil; Path=/apps/aaa/; Domain=127.0.0.1"
return "ok"`)
	s.endpoint(t, "aaa", "GET", "/own", `
response.headers["Set-Cookie"] = "session=mine; Path=/apps/aaa/"
return "ok"`)

	r := s.do(t, "GET", "/apps/aaa/evil", "", nil)
	if got := r.Header.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("Content-Security-Policy %q, want %q", got, wantCSP)
	}
	if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got)
	}
	if c := r.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("a cookie for another solution's path was sent: %q", c)
	}
	if r := s.do(t, "GET", "/apps/aaa/domain", "", nil); len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a cookie with a Domain was sent on the shared origin: %q", r.Header.Values("Set-Cookie"))
	}
	if r := s.do(t, "GET", "/apps/aaa/own", "", nil); !strings.Contains(r.Header.Get("Set-Cookie"), "session=mine") {
		t.Errorf("a cookie inside the solution's own path was dropped: %q", r.Header.Values("Set-Cookie"))
	}
	// Errors are answers of the origin too.
	if r := s.do(t, "GET", "/apps/aaa/nothing-here", "", nil); r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("a 404 of the shared origin has no nosniff: %v", r.Header)
	}
	s.alive(t)
}

// TestTenantLeaks: /metrics is not public, and a solution does not learn where a service runs.
func TestTenantLeaks(t *testing.T) {
	s := start(t)
	solToken := s.solution(t, "aaa", nil)
	if r := s.do(t, "GET", "/metrics", "", nil); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("anonymous /metrics: %s, want refused", r)
	}
	if r := s.do(t, "GET", "/metrics", solToken, nil); r.Status == http.StatusOK {
		t.Errorf("/metrics with a solution token: %s, want refused", r)
	}
	if r := s.do(t, "GET", "/metrics", adminToken, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "switchboard_") {
		t.Errorf("/metrics with the admin token: %s, want the metrics", r)
	}

	var hits atomic.Int64
	host := strings.TrimPrefix(fakeService(t, &hits).URL, "http://")
	doc := `openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "http://` + host + `"}]
x-exosite-health-path: /health
paths:
  /op:
    post:
      operationId: op
      responses: {"200": {description: ok}}
`
	if r := s.do(t, "POST", "/api/v1/register/", s.RegToken, map[string]any{"name": "where", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register: %s", r)
	}
	r := s.do(t, "GET", "/api/v1/services/where", solToken, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("service as a solution: %s", r)
	}
	if strings.Contains(string(r.Body), host) || strings.Contains(string(r.Body), `"servers"`) {
		t.Errorf("a solution token sees where the service runs: %s", r)
	}
	if r := s.do(t, "GET", "/api/v1/services/where", adminToken, nil); !strings.Contains(string(r.Body), host) {
		t.Errorf("the admin does not see where the service runs: %s", r)
	}
}

// TestDuplicateKeys: a JSON body with a key twice is refused, naming the key, on every route
// that takes one.
func TestDuplicateKeys(t *testing.T) {
	s := start(t)
	solToken := s.solution(t, "aaa", nil)
	cases := []struct {
		name, method, path, token, body, key string
	}{
		{"solution", "POST", "/api/v1/solutions", adminToken, `{"id":"bbb","id":"ccc"}`, "id"},
		{"limits", "PATCH", "/api/v1/solutions/aaa", adminToken, `{"limits":{"timeout_ms":1000,"timeout_ms":2000}}`, "timeout_ms"},
		{"endpoint", "POST", "/api/v1/solutions/aaa/endpoints", solToken, `{"method":"GET","path":"/a","path":"/b","script":"return 1"}`, "path"},
		{"handler", "POST", "/api/v1/solutions/aaa/handlers", solToken, `{"name":"h","name":"i","topics":["a.b"],"script":"return 1"}`, "name"},
		{"register", "POST", "/api/v1/register/", s.RegToken, `{"name":"a","name":"b","swagger":"x"}`, "name"},
		// encoding/json matches struct fields ignoring case, so these would decode to the last.
		{"endpoint, case", "POST", "/api/v1/solutions/aaa/endpoints", solToken, `{"method":"GET","path":"/a","PATH":"/b","script":"return 1"}`, `\"PATH\" (same as \"path\" ignoring case)`},
		{"solution, case", "POST", "/api/v1/solutions", adminToken, `{"id":"bbb","ID":"ccc"}`, `\"ID\" (same as \"id\" ignoring case)`},
		{"register, case", "POST", "/api/v1/register/", s.RegToken, `{"name":"a","NAME":"b","swagger":"x"}`, `\"NAME\" (same as \"name\" ignoring case)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.path, tc.token, tc.body)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), tc.key) || !strings.Contains(strings.ToLower(string(r.Body)), "duplicate") {
				t.Errorf("got %s, want 400 naming the duplicate key %q", r, tc.key)
			}
		})
	}
	// Nothing was made from a refused body.
	for _, id := range []string{"bbb", "ccc"} {
		if r := s.do(t, "GET", "/api/v1/solutions/"+id, adminToken, nil); r.Status != http.StatusNotFound {
			t.Errorf("solution %s: %s, want 404", id, r)
		}
	}
}
