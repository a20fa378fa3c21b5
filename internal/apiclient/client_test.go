package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testToken = "test-token-0123456789"

// recorded is what the test server saw of one request.
type recorded struct {
	method, rawPath, auth, contentType string
	body                               map[string]any
}

// answerWith starts a server that answers every request with status and body. The returned
// channel receives what the server saw of each request.
func answerWith(t *testing.T, status int, body string) (*Client, <-chan recorded) {
	t.Helper()
	seen := make(chan recorded, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorded{
			method:      r.Method,
			rawPath:     r.URL.EscapedPath(),
			auth:        r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"),
		}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &rec.body); err != nil {
				t.Errorf("request body %q is not a JSON object: %v", b, err)
			}
		}
		select {
		case seen <- rec:
		default:
			t.Errorf("more requests than expected: %s %s", r.Method, r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, testToken), seen
}

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRequestShapes(t *testing.T) {
	ctx := context.Background()
	solJSON := `{"id":"demo","created_at":"2026-01-02T03:04:05Z","limits":{"timeout_ms":5000,"memory_bytes":16777216,"call_depth":200,"steps":10000000}}`
	sol := Solution{ID: "demo", CreatedAt: created, Limits: Limits{TimeoutMS: 5000, MemoryBytes: 16 << 20, CallDepth: 200, Steps: 10_000_000}}
	epJSON := `{"method":"GET","path":"/users/{id}","script":"return 1","version":2,"updated_at":"2026-01-02T03:04:05Z"}`
	ep := Endpoint{Method: "GET", Path: "/users/{id}", Script: "return 1", Version: 2, UpdatedAt: created}
	svcJSON := `{"name":"demoexternalservice","kind":"dynamic","description":"Demo","operations":[{"name":"echo","description":"Echo it"}],"events":["event"],"health":{"status":"up","checked_at":"2026-01-02T03:04:05Z"},"version":3,"base_url":"http://demo:8080/api"}`
	svc := Service{Name: "demoexternalservice", Kind: "dynamic", Description: "Demo", Operations: []Operation{{Name: "echo", Description: "Echo it"}},
		Events: []string{"event"}, Health: ServiceHealth{Status: "up", CheckedAt: created}, Version: 3, BaseURL: "http://demo:8080/api"}
	svcDoc := svc
	svcDoc.Document = json.RawMessage(`{"swagger":"2.0"}`)
	cfgJSON := `{"service":"demoexternalservice","parameters":{"region":"eu","retries":3},"added_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	cfg := ServiceConfig{Service: "demoexternalservice", Parameters: map[string]any{"region": "eu", "retries": 3.0}, AddedAt: created, UpdatedAt: created}
	hJSON := `{"name":"demoexternalservice_event","topics":["demoexternalservice.event"],"script":"return 1","version":2,"updated_at":"2026-01-02T03:04:05Z"}`
	h := Handler{Name: "demoexternalservice_event", Topics: []string{"demoexternalservice.event"}, Script: "return 1", Version: 2, UpdatedAt: created}

	tests := []struct {
		name   string
		status int
		answer string
		call   func(c *Client) (any, error)
		method string
		path   string
		body   map[string]any // nil: no body
		want   any
	}{
		{
			name: "create solution with limits", status: 201,
			answer: `{"id":"demo","token":"sbs_x","created_at":"2026-01-02T03:04:05Z","limits":{"timeout_ms":5000,"memory_bytes":16777216,"call_depth":200,"steps":10000000}}`,
			call: func(c *Client) (any, error) {
				return c.CreateSolution(ctx, SolutionCreate{ID: "demo", Limits: sol.Limits})
			},
			method: "POST", path: "/api/v1/solutions",
			body: map[string]any{"id": "demo", "limits": map[string]any{"timeout_ms": 5000.0, "memory_bytes": 16777216.0, "call_depth": 200.0, "steps": 1e7}},
			want: SolutionCreated{Solution: sol, Token: "sbs_x"},
		},
		{
			name: "create solution without limits sends none", status: 201,
			answer: `{"id":"demo","token":"sbs_x","created_at":"2026-01-02T03:04:05Z","limits":{}}`,
			call: func(c *Client) (any, error) {
				return c.CreateSolution(ctx, SolutionCreate{ID: "demo"})
			},
			method: "POST", path: "/api/v1/solutions",
			body: map[string]any{"id": "demo"},
			want: SolutionCreated{Solution: Solution{ID: "demo", CreatedAt: created}, Token: "sbs_x"},
		},
		{
			name: "list solutions", status: 200, answer: `{"items":[` + solJSON + `]}`,
			call:   func(c *Client) (any, error) { return c.ListSolutions(ctx) },
			method: "GET", path: "/api/v1/solutions",
			want: []Solution{sol},
		},
		{
			name: "list solutions empty is not nil", status: 200, answer: `{"items":null}`,
			call:   func(c *Client) (any, error) { return c.ListSolutions(ctx) },
			method: "GET", path: "/api/v1/solutions",
			want: []Solution{},
		},
		{
			name: "get solution", status: 200, answer: solJSON,
			call:   func(c *Client) (any, error) { return c.GetSolution(ctx, "demo") },
			method: "GET", path: "/api/v1/solutions/demo",
			want: sol,
		},
		{
			name: "update solution sends only the limits given", status: 200, answer: solJSON,
			call: func(c *Client) (any, error) {
				return c.UpdateSolution(ctx, "demo", SolutionUpdate{Limits: &Limits{Steps: 5}})
			},
			method: "PATCH", path: "/api/v1/solutions/demo",
			body: map[string]any{"limits": map[string]any{"steps": 5.0}},
			want: sol,
		},
		{
			name: "delete solution", status: 204,
			call:   func(c *Client) (any, error) { return nil, c.DeleteSolution(ctx, "demo") },
			method: "DELETE", path: "/api/v1/solutions/demo",
		},
		{
			name: "deploy endpoint sends method, path and script only", status: 201, answer: epJSON,
			call: func(c *Client) (any, error) {
				got, isNew, err := c.DeployEndpoint(ctx, "demo", Endpoint{Method: "GET", Path: "/users/{id}", Script: "return 1", Version: 9})
				return []any{got, isNew}, err
			},
			method: "POST", path: "/api/v1/solutions/demo/endpoints",
			body: map[string]any{"method": "GET", "path": "/users/{id}", "script": "return 1"},
			want: []any{ep, true},
		},
		{
			name: "deploy endpoint replacing one", status: 200, answer: epJSON,
			call: func(c *Client) (any, error) {
				got, isNew, err := c.DeployEndpoint(ctx, "demo", Endpoint{Method: "GET", Path: "/users/{id}", Script: "return 1"})
				return []any{got, isNew}, err
			},
			method: "POST", path: "/api/v1/solutions/demo/endpoints",
			body: map[string]any{"method": "GET", "path": "/users/{id}", "script": "return 1"},
			want: []any{ep, false},
		},
		{
			name: "list endpoints", status: 200, answer: `{"items":[` + epJSON + `]}`,
			call:   func(c *Client) (any, error) { return c.ListEndpoints(ctx, "demo") },
			method: "GET", path: "/api/v1/solutions/demo/endpoints",
			want: []Endpoint{ep},
		},
		{
			name: "get endpoint escapes the path", status: 200, answer: epJSON,
			call:   func(c *Client) (any, error) { return c.GetEndpoint(ctx, "demo", "GET", "/users/{id}") },
			method: "GET", path: "/api/v1/solutions/demo/endpoints/GET/users/%7Bid%7D",
			want: ep,
		},
		{
			name: "get root endpoint", status: 200, answer: epJSON,
			call:   func(c *Client) (any, error) { return c.GetEndpoint(ctx, "demo", "GET", "/") },
			method: "GET", path: "/api/v1/solutions/demo/endpoints/GET/",
			want: ep,
		},
		{
			name: "delete endpoint", status: 204,
			call:   func(c *Client) (any, error) { return nil, c.DeleteEndpoint(ctx, "demo", "DELETE", "/a/{rest...}") },
			method: "DELETE", path: "/api/v1/solutions/demo/endpoints/DELETE/a/%7Brest...%7D",
		},
		{
			name: "list services", status: 200, answer: `{"items":[` + svcJSON + `]}`,
			call:   func(c *Client) (any, error) { return c.ListServices(ctx) },
			method: "GET", path: "/api/v1/services",
			want: []Service{svc},
		},
		{
			name: "list services empty is not nil", status: 200, answer: `{"items":[]}`,
			call:   func(c *Client) (any, error) { return c.ListServices(ctx) },
			method: "GET", path: "/api/v1/services",
			want: []Service{},
		},
		{
			name: "get service with its document", status: 200, answer: svcJSON[:len(svcJSON)-1] + `,"document":{"swagger":"2.0"}}`,
			call:   func(c *Client) (any, error) { return c.GetService(ctx, "demoexternalservice") },
			method: "GET", path: "/api/v1/services/demoexternalservice",
			want: svcDoc,
		},
		{
			name: "delete service", status: 204,
			call:   func(c *Client) (any, error) { return nil, c.DeleteService(ctx, "demoexternalservice") },
			method: "DELETE", path: "/api/v1/services/demoexternalservice",
		},
		{
			name: "add service", status: 201, answer: cfgJSON,
			call: func(c *Client) (any, error) {
				got, isNew, err := c.AddService(ctx, "demo", "demoexternalservice", map[string]any{"region": "eu", "retries": 3})
				return []any{got, isNew}, err
			},
			method: "POST", path: "/api/v1/solutions/demo/services",
			body: map[string]any{"service": "demoexternalservice", "parameters": map[string]any{"region": "eu", "retries": 3.0}},
			want: []any{cfg, true},
		},
		{
			name: "add service again updates it, nil parameters are an empty object", status: 200, answer: cfgJSON,
			call: func(c *Client) (any, error) {
				got, isNew, err := c.AddService(ctx, "demo", "demoexternalservice", nil)
				return []any{got, isNew}, err
			},
			method: "POST", path: "/api/v1/solutions/demo/services",
			body: map[string]any{"service": "demoexternalservice", "parameters": map[string]any{}},
			want: []any{cfg, false},
		},
		{
			name: "list solution services", status: 200, answer: `{"items":[` + cfgJSON + `]}`,
			call:   func(c *Client) (any, error) { return c.ListSolutionServices(ctx, "demo") },
			method: "GET", path: "/api/v1/solutions/demo/services",
			want: []ServiceConfig{cfg},
		},
		{
			name: "get solution service", status: 200, answer: cfgJSON,
			call:   func(c *Client) (any, error) { return c.GetSolutionService(ctx, "demo", "demoexternalservice") },
			method: "GET", path: "/api/v1/solutions/demo/services/demoexternalservice",
			want: cfg,
		},
		{
			name: "update solution service", status: 200, answer: cfgJSON,
			call: func(c *Client) (any, error) {
				return c.UpdateSolutionService(ctx, "demo", "demoexternalservice", map[string]any{"region": "eu"})
			},
			method: "PUT", path: "/api/v1/solutions/demo/services/demoexternalservice",
			body: map[string]any{"parameters": map[string]any{"region": "eu"}},
			want: cfg,
		},
		{
			name: "remove service", status: 204,
			call:   func(c *Client) (any, error) { return nil, c.RemoveService(ctx, "demo", "demoexternalservice") },
			method: "DELETE", path: "/api/v1/solutions/demo/services/demoexternalservice",
		},
		{
			name: "deploy handler sends name, topics and script only", status: 201, answer: hJSON,
			call: func(c *Client) (any, error) {
				got, isNew, err := c.DeployHandler(ctx, "demo", Handler{Name: "demoexternalservice_event", Topics: []string{"demoexternalservice.event"}, Script: "return 1", Version: 7})
				return []any{got, isNew}, err
			},
			method: "POST", path: "/api/v1/solutions/demo/handlers",
			body: map[string]any{"name": "demoexternalservice_event", "topics": []any{"demoexternalservice.event"}, "script": "return 1"},
			want: []any{h, true},
		},
		{
			name: "deploy handler without topics leaves them out", status: 200, answer: hJSON,
			call: func(c *Client) (any, error) {
				got, isNew, err := c.DeployHandler(ctx, "demo", Handler{Name: "demoexternalservice_event", Script: "return 1"})
				return []any{got, isNew}, err
			},
			method: "POST", path: "/api/v1/solutions/demo/handlers",
			body: map[string]any{"name": "demoexternalservice_event", "script": "return 1"},
			want: []any{h, false},
		},
		{
			name: "list handlers", status: 200, answer: `{"items":[` + hJSON + `]}`,
			call:   func(c *Client) (any, error) { return c.ListHandlers(ctx, "demo") },
			method: "GET", path: "/api/v1/solutions/demo/handlers",
			want: []Handler{h},
		},
		{
			name: "get handler escapes the name", status: 200, answer: hJSON,
			call:   func(c *Client) (any, error) { return c.GetHandler(ctx, "demo", "on/event x") },
			method: "GET", path: "/api/v1/solutions/demo/handlers/on%2Fevent%20x",
			want: h,
		},
		{
			name: "delete handler", status: 204,
			call:   func(c *Client) (any, error) { return nil, c.DeleteHandler(ctx, "demo", "demoexternalservice_event") },
			method: "DELETE", path: "/api/v1/solutions/demo/handlers/demoexternalservice_event",
		},
		{
			name: "health", status: 200, answer: `{"status":"ok"}`,
			call:   func(c *Client) (any, error) { return c.Health(ctx) },
			method: "GET", path: "/healthz",
			want: Health{Status: "ok"},
		},
		{
			name: "ready", status: 200, answer: `{"status":"ready"}`,
			call:   func(c *Client) (any, error) { return c.Ready(ctx) },
			method: "GET", path: "/readyz",
			want: Health{Status: "ready"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := answerWith(t, tt.status, tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			rec := <-seen
			if rec.method != tt.method || rec.rawPath != tt.path {
				t.Errorf("request = %s %s, want %s %s", rec.method, rec.rawPath, tt.method, tt.path)
			}
			if rec.auth != "Bearer "+testToken {
				t.Errorf("Authorization = %q", rec.auth)
			}
			if !reflect.DeepEqual(rec.body, tt.body) {
				t.Errorf("body = %#v, want %#v", rec.body, tt.body)
			}
			if tt.body != nil && rec.contentType != "application/json" {
				t.Errorf("Content-Type = %q", rec.contentType)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("result = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRoutePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", ""},
		{"/hello", "hello"},
		{"/users/{id}", "users/%7Bid%7D"},
		{"/a/b/", "a/b/"},
		{"/with space/é", "with%20space/%C3%A9"},
		{"/50%", "50%25"},
		{"no-slash", "no-slash"},
	}
	for _, tt := range tests {
		if got := routePath(tt.in); got != tt.want {
			t.Errorf("routePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
		text   string
	}{
		{
			name: "not found", status: 404, body: `{"error":"no solution \"x\"","field":"solution"}`,
			want: Error{Status: 404, Message: `no solution "x"`, Field: "solution"},
			text: `no solution "x" (HTTP 404, field solution)`,
		},
		{
			name: "compile error", status: 400, body: `{"error":"script: line 2: unexpected symbol","field":"script","line":2}`,
			want: Error{Status: 400, Message: "script: line 2: unexpected symbol", Field: "script", Line: 2},
			text: "script: line 2: unexpected symbol (HTTP 400, field script, line 2)",
		},
		{
			name: "conflict", status: 409, body: `{"error":"already exists","field":"id"}`,
			want: Error{Status: 409, Message: "already exists", Field: "id"},
			text: "already exists (HTTP 409, field id)",
		},
		{
			name: "proxy page", status: 502, body: "<html>Bad gateway</html>\n<p>more</p>",
			want: Error{Status: 502, Message: "<html>Bad gateway</html>"},
			text: "<html>Bad gateway</html> (HTTP 502)",
		},
		{
			name: "JSON without an error", status: 503, body: `{"status":"not ready"}`,
			want: Error{Status: 503, Message: "Service Unavailable"},
			text: "Service Unavailable (HTTP 503)",
		},
		{
			name: "empty body", status: 500,
			want: Error{Status: 500, Message: "Internal Server Error"},
			text: "Internal Server Error (HTTP 500)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := answerWith(t, tt.status, tt.body)
			_, err := c.GetSolution(context.Background(), "x")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if *e != tt.want {
				t.Errorf("error = %#v, want %#v", *e, tt.want)
			}
			if err.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.text)
			}
			if StatusOf(err) != tt.status {
				t.Errorf("StatusOf = %d", StatusOf(err))
			}
		})
	}
}

func TestConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := New(url, "").ListSolutions(context.Background())
	var ce *ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ConnectionError", err, err)
	}
	if ce.Server != url || ce.Method != "GET" || ce.Path != "/api/v1/solutions" {
		t.Errorf("ConnectionError = %+v", ce)
	}
	if !strings.Contains(err.Error(), "cannot reach the server at "+url) {
		t.Errorf("message %q", err)
	}
	if StatusOf(err) != 0 {
		t.Errorf("StatusOf = %d, want 0", StatusOf(err))
	}
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answer only once the client gave up
	}))
	defer srv.Close()
	_, err := New(srv.URL, "", WithTimeout(20*time.Millisecond)).Health(context.Background())
	var ce *ConnectionError
	if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v (%T), want a *ConnectionError wrapping context.DeadlineExceeded", err, err)
	}
}

func TestNewNormalizesServer(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{" 127.0.0.1:8080 ", "http://127.0.0.1:8080"},
		{"https://example.com/switchboard/", "https://example.com/switchboard"},
	}
	for _, tt := range tests {
		if got := New(tt.in, "").Server(); got != tt.want {
			t.Errorf("New(%q).Server() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOptions(t *testing.T) {
	var gotUA, gotAuth string
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		gotUA, gotAuth = r.Header.Get("User-Agent"), r.Header.Get("Authorization")
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"status":"ok"}`)), Header: http.Header{}}, nil
	})}
	h, err := New("http://switchboard.test", "", WithHTTPClient(hc), WithUserAgent("bench/1")).Health(context.Background())
	if err != nil || h.Status != "ok" {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if gotUA != "bench/1" || gotAuth != "" {
		t.Errorf("User-Agent %q, Authorization %q", gotUA, gotAuth)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestEmptySolutionID(t *testing.T) {
	c := New("http://switchboard.test", "", WithHTTPClient(&http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		t.Error("request sent for an empty solution id")
		return nil, errors.New("unreachable")
	})}))
	if _, err := c.GetSolution(context.Background(), ""); err == nil {
		t.Error("GetSolution(\"\") succeeded")
	}
	if _, _, err := c.DeployEndpoint(context.Background(), "", Endpoint{}); err == nil {
		t.Error("DeployEndpoint with no solution succeeded")
	}
}

func TestEmptyNames(t *testing.T) {
	c := New("http://switchboard.test", "", WithHTTPClient(&http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		t.Error("request sent for an empty name")
		return nil, errors.New("unreachable")
	})}))
	ctx := context.Background()
	calls := map[string]func() error{
		"GetService":            func() error { _, err := c.GetService(ctx, ""); return err },
		"DeleteService":         func() error { return c.DeleteService(ctx, "") },
		"AddService":            func() error { _, _, err := c.AddService(ctx, "demo", "", nil); return err },
		"AddService solution":   func() error { _, _, err := c.AddService(ctx, "", "svc", nil); return err },
		"GetSolutionService":    func() error { _, err := c.GetSolutionService(ctx, "demo", ""); return err },
		"UpdateSolutionService": func() error { _, err := c.UpdateSolutionService(ctx, "", "svc", nil); return err },
		"RemoveService":         func() error { return c.RemoveService(ctx, "demo", "") },
		"DeployHandler":         func() error { _, _, err := c.DeployHandler(ctx, "demo", Handler{Script: "x"}); return err },
		"ListHandlers":          func() error { _, err := c.ListHandlers(ctx, ""); return err },
		"GetHandler":            func() error { _, err := c.GetHandler(ctx, "demo", ""); return err },
		"DeleteHandler":         func() error { return c.DeleteHandler(ctx, "", "x") },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with an empty name succeeded", name)
		}
	}
}

func TestUndecodableAnswer(t *testing.T) {
	c, _ := answerWith(t, 200, "not json")
	_, err := c.GetSolution(context.Background(), "demo")
	var e *Error
	var ce *ConnectionError
	if err == nil || errors.As(err, &e) || errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a plain decoding error", err, err)
	}
}

// TestStreamBoundsOneEntry: a stream whose entry never ends (data: lines without the blank
// line closing it) is refused once the entry passes maxResponseBytes, not held whole.
func TestStreamBoundsOneEntry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		line := []byte("data: " + strings.Repeat("x", 1<<19) + "\n")
		for i := 0; i < 2*maxResponseBytes/len(line); i++ {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	calls := 0
	err := New(srv.URL, "t").TailEvents(context.Background(), "demo", "", func(TailedEvent) error { calls++; return nil })
	var ce *ConnectionError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "larger than") || calls != 0 {
		t.Fatalf("error %v (%T) after %d events, want a *ConnectionError saying the entry is too large", err, err, calls)
	}
}
