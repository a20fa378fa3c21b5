package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// fetch sends one request and reads the answer; unlike hubtest's Do it is safe in goroutines.
func fetch(ctx context.Context, method, url string, body io.Reader) (hubtest.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return hubtest.Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return hubtest.Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return hubtest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// call runs an app request and fails the test unless it answers within d.
func call(t *testing.T, s *hubtest.Server, method, path string, d time.Duration) hubtest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	r, err := fetch(ctx, method, s.URL+path, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// wantText checks an app answered 200 with exactly body.
func wantText(t *testing.T, r hubtest.Response, body string) {
	t.Helper()
	if r.Status != http.StatusOK || string(r.Body) != body {
		t.Fatalf("got %d %q, want 200 %q", r.Status, r.Body, body)
	}
}

// wantJSON checks r is 200 JSON equal to want (compared decoded).
func wantJSON(t *testing.T, r hubtest.Response, want string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.Body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("body %s, want %s", r.Body, want)
	}
}

// logLine returns the first JSON log line whose key has value, or nil.
func logLine(logs, key, value string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m[key] == value {
			return m
		}
	}
	return nil
}

// scriptFailure checks r is the 500 a failed script gets, that its error id is in the logs and
// nothing internal leaks; it returns the body's error and the logged line.
func scriptFailure(t *testing.T, s *hubtest.Server, r hubtest.Response) (string, map[string]any) {
	t.Helper()
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error     string `json:"error"`
		ErrorID   string `json:"error_id"`
		RequestID string `json:"request_id"`
	}
	r.JSON(t, &body)
	if body.Error == "" || body.ErrorID == "" || body.RequestID == "" {
		t.Fatalf("want error, error_id and request_id, got %s", r.Body)
	}
	if h := r.Header.Get("X-Request-Id"); h != body.RequestID {
		t.Errorf("X-Request-Id %q, body request_id %q", h, body.RequestID)
	}
	for _, leak := range []string{"stack traceback", "goroutine ", ".go:", "panic"} {
		if strings.Contains(string(r.Body), leak) {
			t.Errorf("500 body leaks %q: %s", leak, r.Body)
		}
	}
	line := logLine(s.Logs.String(), "error_id", body.ErrorID)
	if line == nil {
		t.Fatalf("error_id %s is not in the logs", body.ErrorID)
	}
	return body.Error, line
}

func TestAppsRequest(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "req", nil)
	const echo = `return {
  method = request.method, uri = request.uri, route = request.route, path = request.path,
  parameters = request.parameters, body = request.body,
  custom = request.headers["x-custom"], ctype = request.headers["content-type"],
  mixed_case = request.headers["X-Custom"] ~= nil,
  request_id = request.request_id, timestamp = request.timestamp,
}`
	s.Deploy(t, "req", "POST", "/users/{id}", echo)
	s.Deploy(t, "req", "GET", "/search", echo)

	type echoed struct {
		Method     string         `json:"method"`
		URI        string         `json:"uri"`
		Route      string         `json:"route"`
		Path       string         `json:"path"`
		Parameters map[string]any `json:"parameters"`
		Body       any            `json:"body"`
		Custom     string         `json:"custom"`
		CType      string         `json:"ctype"`
		MixedCase  bool           `json:"mixed_case"`
		RequestID  string         `json:"request_id"`
		Timestamp  float64        `json:"timestamp"`
	}
	cases := []struct {
		name, method, path, contentType, body string
		header                                map[string]string
		check                                 func(t *testing.T, e echoed, r hubtest.Response)
	}{
		{
			name: "json body, path and query parameters", method: "POST", path: "/users/42?q=hello&id=fromquery",
			contentType: "application/json", body: `{"name":"Ada","tags":["x","y"],"n":3}`,
			header: map[string]string{"X-Custom": "yes", "X-Request-Id": "req-123"},
			check: func(t *testing.T, e echoed, r hubtest.Response) {
				if e.Method != "POST" || e.Route != "/users/{id}" || e.Path != "/users/42" {
					t.Errorf("method/route/path = %q %q %q", e.Method, e.Route, e.Path)
				}
				if !strings.HasSuffix(e.URI, "/users/42?q=hello&id=fromquery") {
					t.Errorf("uri %q, want it to end in the request's path and query", e.URI)
				}
				if !reflect.DeepEqual(e.Parameters, map[string]any{"id": "42", "q": "hello"}) {
					t.Errorf("parameters %v, want id 42 (the path's) and q hello", e.Parameters)
				}
				if !reflect.DeepEqual(e.Body, map[string]any{"name": "Ada", "tags": []any{"x", "y"}, "n": float64(3)}) {
					t.Errorf("body %#v, want the decoded JSON", e.Body)
				}
				if e.Custom != "yes" || !strings.HasPrefix(e.CType, "application/json") || e.MixedCase {
					t.Errorf("headers: x-custom %q, content-type %q, X-Custom present %v; want lower-case names", e.Custom, e.CType, e.MixedCase)
				}
				if e.RequestID != "req-123" || r.Header.Get("X-Request-Id") != "req-123" {
					t.Errorf("request_id %q, X-Request-Id %q; want the caller's req-123", e.RequestID, r.Header.Get("X-Request-Id"))
				}
			},
		},
		{
			name: "text body", method: "POST", path: "/users/7", contentType: "text/plain", body: "just text",
			check: func(t *testing.T, e echoed, r hubtest.Response) {
				if e.Body != "just text" {
					t.Errorf("body %#v, want the text", e.Body)
				}
				if e.RequestID == "" || r.Header.Get("X-Request-Id") != e.RequestID {
					t.Errorf("request_id %q, X-Request-Id %q; want one made up, the same", e.RequestID, r.Header.Get("X-Request-Id"))
				}
			},
		},
		{
			name: "repeated query parameter", method: "GET", path: "/search?tag=a&tag=b&one=1",
			check: func(t *testing.T, e echoed, r hubtest.Response) {
				if !reflect.DeepEqual(e.Parameters, map[string]any{"tag": []any{"a", "b"}, "one": "1"}) {
					t.Errorf("parameters %v", e.Parameters)
				}
				if e.Body != "" {
					t.Errorf("body %#v for a GET without one, want \"\" (docs/scripts.md)", e.Body)
				}
				if e.Route != "/search" || e.Method != "GET" {
					t.Errorf("route %q method %q", e.Route, e.Method)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader
			if tc.body != "" {
				rd = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, s.URL+"/apps/req"+tc.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			before := float64(time.Now().Add(-time.Second).UnixMilli()) / 1000
			r := s.Send(t, req)
			after := float64(time.Now().Add(time.Second).UnixMilli()) / 1000
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var e echoed
			r.JSON(t, &e)
			if e.Timestamp < before || e.Timestamp > after {
				t.Errorf("timestamp %f, want about now (%f..%f)", e.Timestamp, before, after)
			}
			tc.check(t, e, r)
		})
	}
}

func TestAppsResponse(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "resp", nil)
	cases := []struct {
		name, script string
		status       int
		contentType  string // prefix
		body         string // exact, or JSON compared decoded when contentType is JSON
		header       map[string]string
		noHeader     []string
	}{
		{name: "returned string", script: `return "hello"`, status: 200, contentType: "text/plain", body: "hello"},
		{name: "returned table", script: `return {a = 1, b = "two", list = {1, 2, 3}, nested = {ok = true}}`, status: 200, contentType: "application/json", body: `{"a":1,"b":"two","list":[1,2,3],"nested":{"ok":true}}`},
		{name: "code and message", script: `response.code = 201
response.message = "made"`, status: 201, contentType: "text/plain", body: "made"},
		{name: "code, header and returned table", script: `response.code = 418
response.headers["X-Tea"] = "earl grey"
return {teapot = true}`, status: 418, contentType: "application/json", body: `{"teapot":true}`, header: map[string]string{"X-Tea": "earl grey"}},
		{name: "table message", script: `response.message = {ok = true}`, status: 200, contentType: "application/json", body: `{"ok":true}`},
		{name: "script's content type", script: `response.headers["Content-Type"] = "text/csv"
return "a,b\n1,2\n"`, status: 200, contentType: "text/csv", body: "a,b\n1,2\n"},
		{name: "returned value wins over message", script: `response.message = "not this"
return "this"`, status: 200, contentType: "text/plain", body: "this"},
		{name: "nothing returned", script: `local x = 1`, status: 200, body: ""},
		{name: "response table replaced", script: `response = {code = 202, headers = {["X-Done"] = "yes"}}
return "accepted"`, status: 202, contentType: "text/plain", body: "accepted", header: map[string]string{"X-Done": "yes"}},
		{name: "header injection dropped", script: `response.headers["X-Evil"] = "a\r\nSet-Cookie: stolen=1"
return "safe"`, status: 200, contentType: "text/plain", body: "safe", noHeader: []string{"Set-Cookie", "X-Evil"}},
		{name: "to_json and from_json", script: `local t = from_json('{"x":[1,2],"y":"z"}')
return {x2 = t.x[2], y = t.y, back = from_json(to_json({k = "v"})).k}`, status: 200, contentType: "application/json", body: `{"x2":2,"y":"z","back":"v"}`},
	}
	for i, tc := range cases {
		path := "/case" + strings.Repeat("i", i+1)
		s.Deploy(t, "resp", "GET", path, tc.script)
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, "GET", "/apps/resp"+path, "", nil)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if strings.HasPrefix(tc.contentType, "application/json") {
				var got, want any
				if err := json.Unmarshal(r.Body, &got); err != nil {
					t.Fatalf("body is not JSON: %s", r.Body)
				}
				_ = json.Unmarshal([]byte(tc.body), &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %s, want %s", r.Body, tc.body)
				}
			} else if string(r.Body) != tc.body {
				t.Errorf("body %q, want %q", r.Body, tc.body)
			}
			for k, v := range tc.header {
				if got := r.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tc.noHeader {
				if got := r.Header.Values(k); len(got) > 0 {
					t.Errorf("header %s = %q, want none", k, got)
				}
			}
		})
	}
}

func TestAppsRouting(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "rt", nil)
	for _, ep := range []struct{ method, path, script string }{
		{"GET", "/", `return "root"`},
		{"GET", "/users/me", `return "me"`},
		{"GET", "/users/{id}", `return "user " .. request.parameters.id`},
		{"POST", "/users/{id}", `return "post " .. request.parameters.id`},
		{"GET", "/users/{id}/orders/{order}", `return request.parameters.id .. "/" .. request.parameters.order`},
		{"GET", "/users/me/settings", `return "settings"`},
		{"GET", "/files/{rest...}", `return "file " .. request.parameters.rest`},
	} {
		s.Deploy(t, "rt", ep.method, ep.path, ep.script)
	}
	cases := []struct {
		name, method, path string
		status             int
		body               string // exact for 200s
		allow              []string
	}{
		{"static beats parameter", "GET", "/apps/rt/users/me", 200, "me", nil},
		{"parameter", "GET", "/apps/rt/users/7", 200, "user 7", nil},
		{"same path other method", "POST", "/apps/rt/users/7", 200, "post 7", nil},
		{"two parameters", "GET", "/apps/rt/users/7/orders/9", 200, "7/9", nil},
		{"static segment as a parameter when only that matches", "GET", "/apps/rt/users/me/orders/9", 200, "me/9", nil},
		{"static deeper", "GET", "/apps/rt/users/me/settings", 200, "settings", nil},
		{"rest of the path", "GET", "/apps/rt/files/a/b/c.txt", 200, "file a/b/c.txt", nil},
		{"root with slash", "GET", "/apps/rt/", 200, "root", nil},
		{"root without slash", "GET", "/apps/rt", 200, "root", nil},
		{"HEAD runs GET", "HEAD", "/apps/rt/users/7", 200, "", nil},
		{"wrong method", "DELETE", "/apps/rt/users/7", 405, "", []string{"GET", "POST"}},
		{"wrong method on static", "PUT", "/apps/rt/users/me", 405, "", []string{"GET"}},
		{"unknown path", "GET", "/apps/rt/nope", 404, "", nil},
		{"too deep", "GET", "/apps/rt/users/7/extra", 404, "", nil},
		{"unknown solution", "GET", "/apps/nosuch/users/7", 404, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, tc.method, tc.path, 10*time.Second)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			if tc.status == 200 {
				if string(r.Body) != tc.body {
					t.Errorf("body %q, want %q", r.Body, tc.body)
				}
				return
			}
			wantAPIError(t, r, tc.status, "")
			for _, m := range tc.allow {
				if !strings.Contains(r.Header.Get("Allow"), m) {
					t.Errorf("Allow %q lacks %s", r.Header.Get("Allow"), m)
				}
			}
		})
	}
}

func TestAppsScriptErrors(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "oops", nil)
	s.Deploy(t, "oops", "GET", "/fine", `return "fine"`)
	cases := []struct {
		name, script string
		logged       string // what the log line of the error id tells the operator
	}{
		{"error()", `error("boom: secret detail")`, "boom: secret detail"},
		{"index nil", `local t = nil
return t.field`, "field"},
		{"error deep in calls", `local function a() error("deep trouble") end
local function b() a() end
local function c() b() end
c()`, "deep trouble"},
		{"error with a table", `error({code = 7})`, ""},
		{"call a number", `local n = 5
n()`, ""},
		{"arithmetic on a string", `return "x" + 1`, ""},
	}
	for i, tc := range cases {
		path := "/err" + strings.Repeat("r", i)
		s.Deploy(t, "oops", "GET", path, tc.script)
		t.Run(tc.name, func(t *testing.T) {
			_, line := scriptFailure(t, s, call(t, s, "GET", "/apps/oops"+path, 10*time.Second))
			if line["solution"] != "oops" {
				t.Errorf("log line names solution %v, want oops: %v", line["solution"], line)
			}
			if tc.logged != "" {
				if logged, _ := line["err"].(string); !strings.Contains(logged, tc.logged) {
					t.Errorf("log line for the error id does not tell %q: %v", tc.logged, line)
				}
			}
			// The failure is the request's alone.
			wantText(t, call(t, s, "GET", "/apps/oops/fine", 10*time.Second), "fine")
		})
	}
	// The caller's request id carries into the error.
	req, _ := http.NewRequest("GET", s.URL+"/apps/oops/err", nil)
	req.Header.Set("X-Request-Id", "trace-me-1")
	r := s.Send(t, req)
	scriptFailure(t, s, r)
	if m := r.Map(t); m["request_id"] != "trace-me-1" {
		t.Errorf("request_id %v, want the caller's trace-me-1", m["request_id"])
	}
}

func TestAppsDeployTakesEffect(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "live", nil)
	for i, v := range []string{"one", "two", "three"} {
		s.Deploy(t, "live", "GET", "/v", `return "`+v+`"`)
		wantText(t, call(t, s, "GET", "/apps/live/v", 10*time.Second), v)
		if i == 1 { // a solution token's deploy counts the same
			r := s.Do(t, "POST", "/api/v1/solutions/live/endpoints", tok, map[string]any{"method": "GET", "path": "/v", "script": `return "mine"`})
			if r.Status != http.StatusOK {
				t.Fatalf("redeploy with own token: %d %s", r.Status, r.Body)
			}
			wantText(t, call(t, s, "GET", "/apps/live/v", 10*time.Second), "mine")
		}
	}
	// A deploy that does not compile leaves the running version in place.
	r := s.Do(t, "POST", "/api/v1/solutions/live/endpoints", tok, map[string]any{"method": "GET", "path": "/v", "script": `return "four`})
	wantAPIError(t, r, http.StatusBadRequest, "script")
	wantText(t, call(t, s, "GET", "/apps/live/v", 10*time.Second), "three")

	if r := s.Do(t, "DELETE", "/api/v1/solutions/live/endpoints/GET/v", tok, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete endpoint: %d %s", r.Status, r.Body)
	}
	wantAPIError(t, call(t, s, "GET", "/apps/live/v", 10*time.Second), http.StatusNotFound, "")

	// The same on many fresh solutions: every request right after a deploy runs the new script.
	var stale []string
	for i := range 30 {
		sol := "fresh" + strconv.Itoa(i)
		createSolution(t, s, sol, nil)
		for _, v := range []string{"one", "two", "three"} {
			s.Deploy(t, sol, "GET", "/v", `return "`+v+`"`)
			if r := call(t, s, "GET", "/apps/"+sol+"/v", 10*time.Second); r.Status != http.StatusOK || string(r.Body) != v {
				stale = append(stale, fmt.Sprintf("%s after deploying %q: %d %s", sol, v, r.Status, bytes.TrimSpace(r.Body)))
			}
		}
	}
	if len(stale) > 0 {
		t.Errorf("%d of 90 requests right after a deploy did not run the deployed script, e.g. %q", len(stale), stale[:min(3, len(stale))])
	}
}

func TestAppsDomain(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) { c.AppsDomain = "apps.example.test" })
	createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "GET", "/hello", `return "hello " .. request.path`)
	s.Deploy(t, "demo", "GET", "/", `return "root"`)
	cases := []struct {
		name, host, path, token string
		status                  int
		body                    string
	}{
		{"solution host", "demo.apps.example.test", "/hello", "", 200, "hello /hello"},
		{"solution host root", "demo.apps.example.test", "/", "", 200, "root"},
		{"host with port", "demo.apps.example.test:8443", "/hello", "", 200, "hello /hello"},
		{"host in upper case", "DEMO.Apps.Example.TEST", "/hello", "", 200, "hello /hello"},
		{"unknown solution host", "nosuch.apps.example.test", "/hello", "", 404, ""},
		{"bare apps domain", "apps.example.test", "/hello", "", 404, ""},
		{"domain only as a prefix", "demo.apps.example.test.evil.example", "/hello", "", 404, ""},
		{"sub-subdomain", "x.demo.apps.example.test", "/hello", "", 404, ""},
		{"API path on a solution host is the solution's", "demo.apps.example.test", "/api/v1/solutions", s.AdminToken, 404, ""},
		{"path form still works", "", "/apps/demo/hello", "", 200, "hello /hello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", s.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			r := s.Send(t, req)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			if tc.status == 200 && string(r.Body) != tc.body {
				t.Errorf("body %q, want %q", r.Body, tc.body)
			}
			if strings.Contains(string(r.Body), `"items"`) {
				t.Errorf("a solution host reached the management API: %s", r.Body)
			}
		})
	}
}

func TestAppsConfigService(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "cfg", map[string]any{"timeout_ms": 1500})
	created := s.Do(t, "GET", "/api/v1/solutions/cfg", s.AdminToken, nil).Map(t)
	s.Deploy(t, "cfg", "GET", "/services", `return {camel = Config.listServices(), lower = Config.listservices()}`)
	s.Deploy(t, "cfg", "GET", "/solution", `return Config.solution()`)
	s.Deploy(t, "cfg", "GET", "/filtered", `return {core = #Config.listServices({type = "core"}), dynamic = #Config.listServices({type = "dynamic"}), all = #Config.listServices()}`)
	s.Deploy(t, "cfg", "GET", "/bad-filter", `local r = Config.listServices({type = "weird"})
return {error = r.error, status = r.status}`)
	s.Deploy(t, "cfg", "GET", "/unknown-op", `local ok, r = pcall(function() return Config.noSuchOperation() end)
return {raised = not ok, status = ok and r.status or nil, error = ok and r.error or nil}`)

	t.Run("listServices in both spellings", func(t *testing.T) {
		r := call(t, s, "GET", "/apps/cfg/services", 10*time.Second)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		var got struct {
			Camel, Lower []struct {
				Service, Alias, Type string
				Operations           []string
			}
		}
		r.JSON(t, &got)
		if !reflect.DeepEqual(got.Camel, got.Lower) {
			t.Errorf("listServices and listservices differ: %s", r.Body)
		}
		want := map[string][]string{"keystore": {"get", "set"}, "config": {"listServices", "solution"}}
		for _, sv := range got.Camel {
			ops, ok := want[sv.Service]
			if !ok {
				continue
			}
			delete(want, sv.Service)
			if sv.Alias != strings.ToUpper(sv.Service[:1])+sv.Service[1:] || sv.Type != "core" {
				t.Errorf("%s: alias %q type %q, want the capitalized name and core", sv.Service, sv.Alias, sv.Type)
			}
			for _, op := range ops {
				found := false
				for _, o := range sv.Operations {
					found = found || o == op
				}
				if !found {
					t.Errorf("%s lists operations %v, lacking %s", sv.Service, sv.Operations, op)
				}
			}
		}
		if len(want) > 0 {
			t.Errorf("services %v missing from %s", want, r.Body)
		}
	})

	t.Run("filter by type", func(t *testing.T) {
		r := call(t, s, "GET", "/apps/cfg/filtered", 10*time.Second)
		m := r.Map(t)
		if m["core"] != m["all"] || m["dynamic"] != float64(0) || m["all"].(float64) < 2 {
			t.Errorf("counts %s, want every service core, none dynamic", r.Body)
		}
		b := call(t, s, "GET", "/apps/cfg/bad-filter", 10*time.Second)
		if b.Status != 200 {
			t.Fatalf("a failed call raised: %d %s", b.Status, b.Body)
		}
		if bm := b.Map(t); bm["status"] != float64(400) || bm["error"] == nil {
			t.Errorf("bad filter answered %s, want {error, status 400}", b.Body)
		}
	})

	t.Run("solution", func(t *testing.T) {
		r := call(t, s, "GET", "/apps/cfg/solution", 10*time.Second)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		var got struct {
			ID        string             `json:"id"`
			CreatedAt string             `json:"created_at"`
			Limits    map[string]float64 `json:"limits"`
		}
		r.JSON(t, &got)
		if got.ID != "cfg" || got.CreatedAt != created["created_at"] {
			t.Errorf("solution %s, want id cfg created at %v", r.Body, created["created_at"])
		}
		// The solution's own timeout, and the defaults the API document promises for the rest.
		want := map[string]float64{"timeout_ms": 1500, "memory_bytes": 16 << 20, "call_depth": 200, "steps": 10_000_000}
		if !reflect.DeepEqual(got.Limits, want) {
			t.Errorf("limits %v, want %v", got.Limits, want)
		}
	})

	t.Run("unknown operation is a failed call", func(t *testing.T) {
		r := call(t, s, "GET", "/apps/cfg/unknown-op", 10*time.Second)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if m := r.Map(t); m["raised"] != false || m["status"] != float64(404) {
			t.Errorf("Config.noSuchOperation() gave %s, want {error=…, status=404} without raising", r.Body)
		}
	})
}
