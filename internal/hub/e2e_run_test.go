package hub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// runAnswer is the answer of POST /api/v1/solutions/{s}/run.
type runAnswer struct {
	Response *struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"response"`
	Logs []struct {
		Level    string         `json:"level"`
		Source   string         `json:"source"`
		Solution string         `json:"solution"`
		Message  string         `json:"message"`
		Fields   map[string]any `json:"fields"`
	} `json:"logs"`
	DurationMS  float64 `json:"duration_ms"`
	MemoryBytes int64   `json:"memory_bytes"`
	Error       *struct {
		Message string `json:"message"`
		Line    int    `json:"line"`
	} `json:"error"`
}

func runOnce(t *testing.T, s *hubtest.Server, sol, token string, body map[string]any) (hubtest.Response, runAnswer) {
	t.Helper()
	r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/run", token, body)
	var a runAnswer
	if r.Status == http.StatusOK {
		r.JSON(t, &a)
	}
	return r, a
}

// The run API: a script runs once with the solution's Keystore, its print output comes back
// with the response, and nothing is deployed.
func TestRunOnce(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := s.CreateSolution(t, "demo")

	r, a := runOnce(t, s, "demo", token, map[string]any{
		"script": `print("hello", request.parameters.id, request.parameters.verbose)
Keystore.set({key = "k", value = request.body.name})
response.headers["X-Seen"] = request.headers["x-trace"]
return {stored = Keystore.get({key = "k"}).value, method = request.method, route = request.route}`,
		"method":  "post",
		"route":   "/users/{id}",
		"path":    "/users/42",
		"query":   map[string]any{"verbose": "1"},
		"headers": map[string]string{"X-Trace": "abc"},
		"body":    map[string]any{"name": "ada"},
	})
	if r.Status != http.StatusOK || a.Response == nil {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	if a.Response.Status != 200 || a.Response.Headers["X-Seen"] != "abc" ||
		a.Response.Body != `{"method":"POST","route":"/users/{id}","stored":"ada"}` {
		t.Fatalf("response %+v", a.Response)
	}
	if len(a.Logs) != 1 || a.Logs[0].Message != "hello\t42\t1" || a.Logs[0].Level != "info" || a.Logs[0].Source != "run" || a.Logs[0].Solution != "demo" {
		t.Fatalf("logs %+v", a.Logs)
	}
	if a.MemoryBytes <= 0 || a.DurationMS <= 0 || a.Error != nil {
		t.Fatalf("memory %d, duration %v, error %+v", a.MemoryBytes, a.DurationMS, a.Error)
	}
	// The Keystore is the solution's own: a deployed endpoint sees what the run stored.
	s.Deploy(t, "demo", "GET", "/k", `return Keystore.get({key = "k"}).value`)
	if got := s.Do(t, "GET", "/apps/demo/k", "", nil); string(got.Body) != "ada" {
		t.Fatalf("keystore after the run: %d %s", got.Status, got.Body)
	}
	// The run deployed nothing.
	eps := s.Do(t, "GET", "/api/v1/solutions/demo/endpoints", token, nil)
	if strings.Contains(string(eps.Body), "/users/") {
		t.Fatalf("the run was deployed: %s", eps.Body)
	}
}

func TestRunOnceFailures(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := s.CreateSolution(t, "demo")
	other := s.CreateSolution(t, "other")

	t.Run("a runtime error", func(t *testing.T) {
		_, a := runOnce(t, s, "demo", token, map[string]any{"name": "app/x.lua", "script": "print('before')\nlocal t = nil\nreturn t.x"})
		if a.Error == nil || a.Error.Line != 3 || !strings.HasPrefix(a.Error.Message, "app/x.lua:3: attempt to index") || a.Response != nil {
			t.Fatalf("error %+v, response %+v", a.Error, a.Response)
		}
		if len(a.Logs) != 1 || a.Logs[0].Message != "before" {
			t.Fatalf("logs %+v", a.Logs)
		}
	})
	t.Run("an unknown service", func(t *testing.T) {
		_, a := runOnce(t, s, "demo", token, map[string]any{"script": "local x = 1\nreturn Nosuch.send{to = 'a'}"})
		if a.Error == nil || a.Error.Line != 2 || !strings.Contains(a.Error.Message, `no service "Nosuch" in this solution; added services: `) ||
			!strings.Contains(a.Error.Message, "Keystore") || !strings.Contains(a.Error.Message, "Config") {
			t.Fatalf("error %+v", a.Error)
		}
		if len(a.Logs) != 1 || a.Logs[0].Level != "error" || !strings.Contains(a.Logs[0].Message, `no service "Nosuch"`) {
			t.Fatalf("logs %+v", a.Logs)
		}
	})
	t.Run("an unknown service caught by pcall", func(t *testing.T) {
		_, a := runOnce(t, s, "demo", token, map[string]any{"script": "local ok, err = pcall(function() return Nosuch.send{} end)\nreturn {ok = ok, err = err}"})
		if a.Response == nil || !strings.Contains(a.Response.Body, `no service \"Nosuch\" in this solution`) || !strings.Contains(a.Response.Body, `"ok":false`) {
			t.Fatalf("response %+v, error %+v", a.Response, a.Error)
		}
	})
	t.Run("an unknown operation", func(t *testing.T) {
		_, a := runOnce(t, s, "demo", token, map[string]any{"script": "local r = Keystore.gte({key = 'k'})\nreturn {error = r.error, status = r.status}"})
		if a.Response == nil || !strings.Contains(a.Response.Body, `Keystore has no operation \"gte\"; its operations: `) ||
			!strings.Contains(a.Response.Body, `did you mean \"get\"?`) || !strings.Contains(a.Response.Body, `"status":404`) {
			t.Fatalf("response %+v", a.Response)
		}
		if len(a.Logs) != 1 || a.Logs[0].Level != "error" || a.Logs[0].Fields["operation"] != "gte" {
			t.Fatalf("logs %+v", a.Logs)
		}
	})
	t.Run("many prints are bounded", func(t *testing.T) {
		_, a := runOnce(t, s, "demo", token, map[string]any{"script": "for i = 1, 1500 do print(i) end"})
		if len(a.Logs) != 1001 || !strings.Contains(a.Logs[1000].Message, "500 more log entries left out") {
			t.Fatalf("%d entries, last %+v", len(a.Logs), a.Logs[len(a.Logs)-1])
		}
	})
	t.Run("a limit", func(t *testing.T) {
		_, a := runOnce(t, s, "demo", token, map[string]any{"script": "while true do end"})
		if a.Error == nil || !strings.Contains(a.Error.Message, "limit") {
			t.Fatalf("error %+v", a.Error)
		}
	})

	refusals := []struct {
		name      string
		token     string
		body      map[string]any
		status    int
		field     string
		wantInMsg string
	}{
		{"a script that does not compile", token, map[string]any{"name": "app/x.lua", "script": "local x = \nreturn )"}, 400, "script", "app/x.lua:2:"},
		{"no script", token, map[string]any{"method": "GET"}, 400, "script", "required"},
		{"a bad method", token, map[string]any{"script": "return 1", "method": "FETCH"}, 400, "method", "FETCH"},
		{"a path off the route", token, map[string]any{"script": "return 1", "route": "/users/{id}", "path": "/items/1"}, 400, "path", "does not match"},
		{"a route with no path", token, map[string]any{"script": "return 1", "route": "/users/{id}"}, 400, "path", "/users/1"},
		{"a bad header", token, map[string]any{"script": "return 1", "headers": map[string]string{"Bad Name": "x"}}, 400, "headers", "Bad Name"},
		{"an unknown field", token, map[string]any{"script": "return 1", "bdy": "x"}, 400, "bdy", "unknown field"},
		{"another solution's token", other, map[string]any{"script": "return 1"}, 403, "solution", "another solution"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := runOnce(t, s, "demo", tc.token, tc.body)
			m := map[string]any{}
			if r.Status != http.StatusOK {
				m = r.Map(t)
			}
			if r.Status != tc.status || m["field"] != tc.field || !strings.Contains(m["error"].(string), tc.wantInMsg) {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
}

// The deploy checks answer what the deploy would refuse, and store nothing.
func TestDeployChecks(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := s.CreateSolution(t, "demo")
	cases := []struct {
		name   string
		path   string
		body   map[string]any
		status int
		line   float64
	}{
		{"an endpoint that compiles", "check/endpoint", map[string]any{"method": "get", "path": "/x", "script": "return 1"}, 200, 0},
		{"an endpoint that does not", "check/endpoint", map[string]any{"method": "GET", "path": "/x", "script": "local a = 1\nlocal = 2"}, 400, 2},
		{"a reserved path", "check/endpoint", map[string]any{"method": "GET", "path": "/docs", "script": "return 1"}, 400, 0},
		{"a handler that compiles", "check/handler", map[string]any{"name": "svc_event", "script": "return 1"}, 200, 0},
		{"a handler that does not", "check/handler", map[string]any{"name": "svc_event", "script": "\n\nreturn +"}, 400, 3},
		{"a bad handler name", "check/handler", map[string]any{"name": "Bad Name", "script": "return 1"}, 400, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, "POST", "/api/v1/solutions/demo/"+tc.path, token, tc.body)
			if r.Status != tc.status {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			m := r.Map(t)
			if tc.status == 200 && m["ok"] != true || tc.line > 0 && m["line"] != tc.line {
				t.Fatalf("%s", r.Body)
			}
		})
	}
	for _, list := range []string{"endpoints", "handlers"} {
		if r := s.Do(t, "GET", "/api/v1/solutions/demo/"+list, token, nil); string(r.Body) != "{\"items\":[]}\n" {
			t.Fatalf("%s after checks: %s", list, r.Body)
		}
	}
}
