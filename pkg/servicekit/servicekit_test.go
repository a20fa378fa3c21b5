package servicekit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testDocument = `
swagger: "2.0"
info: {title: Test, version: "1.0"}
host: demo:8080
basePath: /v1
x-exosite-health-path: /health
parameters:
  Payload: {name: payload, in: body, schema: {}}
paths:
  /things:
    get: {operationId: listThings}
    post:
      operationId: addThing
      parameters: [{name: thing, in: body, schema: {type: object}}]
  /things/{id}:
    parameters: [{name: id, in: path, required: true, type: string}]
    get:
      operationId: getThing
      parameters: [{name: X-Tenant, in: header, type: string}]
    delete: {operationId: deleteThing}
  /things/special:
    get: {operationId: special}
  /things/{id}/parts/{part}:
    put: {operationId: putPart}
  /raw:
    post:
      operationId: raw
      parameters: [{$ref: "#/parameters/Payload"}]
  /nothing:
    get: {summary: no operationId, not callable}
`

var quiet = slog.New(slog.DiscardHandler)

func newTestService(t *testing.T, cfg Config) *Service {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "demo"
	}
	if cfg.Document == nil {
		cfg.Document = []byte(testDocument)
	}
	if cfg.RegistrationToken == "" {
		cfg.RegistrationToken = testRegistrationToken
	}
	cfg.Logger = quiet
	cfg.RetryMinDelay, cfg.RetryMaxDelay = time.Millisecond, 4*time.Millisecond
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// echo answers the operation and its arguments.
func echo(_ context.Context, req *Request) (any, error) {
	return map[string]any{"op": req.Operation, "args": req.Args, "solution": req.Solution}, nil
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", w.Body.String(), err)
	}
	return v
}

func TestNewReadsDocuments(t *testing.T) {
	tests := []struct {
		name, doc, health string
		ops               []string
	}{
		{"swagger yaml", testDocument, "/health", []string{"addThing", "deleteThing", "getThing", "listThings", "putPart", "raw", "special"}},
		{"swagger json, health from basePath", `{"swagger":"2.0","basePath":"/api/","paths":{"/a":{"post":{"operationId":"a"}}}}`, "/api", []string{"a"}},
		{"root base path", `{"swagger":"2.0","paths":{}}`, "/", []string{}},
		{"openapi 3 server path with variables", `
openapi: 3.0.3
servers: [{url: "http://{host}/svc/{v}", variables: {host: {default: "x:1"}, v: {default: v2}}}]
paths: {/b: {get: {operationId: b}}}`, "/svc/v2", []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestService(t, Config{Document: []byte(tt.doc)})
			if got := s.HealthPath(); got != tt.health {
				t.Errorf("HealthPath = %q, want %q", got, tt.health)
			}
			if got := s.Operations(); !reflect.DeepEqual(got, tt.ops) {
				t.Errorf("Operations = %q, want %q", got, tt.ops)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct{ name, svc, doc, want string }{
		{"capital name", "Demo", testDocument, "lowercase"},
		{"empty document", "demo", "  ", "empty"},
		{"not a document", "demo", "[1, 2", "neither YAML nor JSON"},
		{"no version", "demo", `{"paths":{}}`, "neither swagger"},
		{"duplicate operationId", "demo", `{"swagger":"2.0","paths":{"/a":{"get":{"operationId":"x"}},"/b":{"get":{"operationId":"x"}}}}`, `"x" is used by both`},
		{"bad health path", "demo", `{"swagger":"2.0","x-exosite-health-path":"health","paths":{}}`, "x-exosite-health-path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Name: tt.svc, Document: []byte(tt.doc)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestHandlePanicsOnUnknownOperation(t *testing.T) {
	s := newTestService(t, Config{})
	defer func() {
		if v := recover(); v == nil || !strings.Contains(v.(string), `no operation "nope"`) {
			t.Fatalf("recover = %v", v)
		}
	}()
	s.Handle("nope", echo)
}

func TestRegisterRetriesUntilHubAnswers(t *testing.T) {
	hub := newFakeHub(t)
	hub.registerFailures = []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable}
	s := newTestService(t, Config{HubURL: hub.URL + "/", Namespace: "services", PlatformNamespace: "platform"})
	if s.Token() != "" {
		t.Fatal("token before registration")
	}
	if err := s.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if hub.attempts != 3 {
		t.Errorf("attempts = %d, want 3", hub.attempts)
	}
	if got := s.Token(); got != testServiceToken {
		t.Errorf("Token = %q, want %q", got, testServiceToken)
	}
	body := <-hub.registered
	if body["name"] != "demo" || body["namespace"] != "services" || body["platform_namespace"] != "platform" {
		t.Errorf("registration = %v", body)
	}
	if doc, ok := body["swagger"].(string); !ok || doc != testDocument {
		t.Errorf("swagger = %#v, want the document's text", body["swagger"])
	}
}

func TestRegisterSendsHost(t *testing.T) {
	hub := newFakeHub(t)
	s := newTestService(t, Config{HubURL: hub.URL, Host: "10.1.2.3:8091"})
	if err := s.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	body := <-hub.registered
	doc, ok := body["swagger"].(map[string]any)
	if !ok || doc["host"] != "10.1.2.3:8091" || doc["basePath"] != "/v1" {
		t.Fatalf("swagger = %#v, want the document with host 10.1.2.3:8091", body["swagger"])
	}
	if _, ok := body["namespace"]; ok {
		t.Error("namespace sent although not configured")
	}
}

func TestRegisterStops(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		failures []int
		status   int
		field    string
		attempts int
	}{
		{"wrong registration token", Config{RegistrationToken: "wrong-token-0123456789"}, nil, 401, "", 0},
		{"document refused", Config{Name: "other"}, nil, 422, "name", 1},
		{"400 is not retried", Config{}, []int{400}, 400, "", 1},
		{"attempts exhausted", Config{MaxAttempts: 3}, []int{502, 503, 504, 500}, 504, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t)
			hub.registerFailures = tt.failures
			tt.cfg.HubURL = hub.URL
			s := newTestService(t, tt.cfg)
			err := s.Register(context.Background())
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Field != tt.field {
				t.Fatalf("Register = %v, want an *Error with status %d and field %q", err, tt.status, tt.field)
			}
			if hub.attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", hub.attempts, tt.attempts)
			}
			if s.Token() != "" {
				t.Error("token stored after a failed registration")
			}
		})
	}
}

func TestRegisterStopsWhenContextDone(t *testing.T) {
	// A hub that cannot be reached: a closed listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newTestService(t, Config{HubURL: "http://" + addr})
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("stopping")
	done := make(chan error, 1)
	go func() { done <- s.Register(ctx) }()
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Fatalf("Register = %v, want the context's cause", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Register did not stop when its context was done")
	}
}

func TestHandlerRoutes(t *testing.T) {
	s := newTestService(t, Config{})
	s.setToken(testServiceToken)
	for _, id := range s.Operations() {
		if id != "deleteThing" {
			s.Handle(id, echo)
		}
	}
	tests := []struct {
		name, method, target, body string
		status                     int
		op                         string
		args                       map[string]any
		header                     map[string]string
	}{
		{"literal", "GET", "/v1/things", "", 200, "listThings", map[string]any{}, nil},
		{"trailing slash", "GET", "/v1/things/", "", 200, "listThings", map[string]any{}, nil},
		{"body merged", "POST", "/v1/things", `{"name":"lamp","size":2}`, 200, "addThing", map[string]any{"name": "lamp", "size": 2.0}, nil},
		{"body not an object goes under the body parameter", "POST", "/v1/things", `[1,2]`, 200, "addThing", map[string]any{"thing": []any{1.0, 2.0}}, nil},
		{"body parameter by $ref", "POST", "/v1/raw", `"text"`, 200, "raw", map[string]any{"payload": "text"}, nil},
		{"path parameter, escaped", "GET", "/v1/things/a%2Fb%20c", "", 200, "getThing", map[string]any{"id": "a/b c"}, nil},
		{"header parameter", "GET", "/v1/things/7", "", 200, "getThing", map[string]any{"id": "7", "X-Tenant": "acme"}, map[string]string{"X-Tenant": "acme"}},
		{"literal beats parameter", "GET", "/v1/things/special", "", 200, "special", map[string]any{}, nil},
		{"query, path overrides body", "PUT", "/v1/things/7/parts/wheel?n=1&tag=a&tag=b", `{"id":"body","color":"red"}`, 200, "putPart",
			map[string]any{"id": "7", "part": "wheel", "n": "1", "tag": []any{"a", "b"}, "color": "red"}, nil},
		{"no operation", "GET", "/v1/nothing", "", 404, "", nil, nil},
		{"unknown path", "GET", "/v1/things/7/x", "", 404, "", nil, nil},
		{"outside the base path", "GET", "/things", "", 404, "", nil, nil},
		{"base path prefix only", "GET", "/v10/things", "", 404, "", nil, nil},
		{"method not allowed", "POST", "/v1/things/7", "", 405, "", nil, nil},
		{"not implemented", "DELETE", "/v1/things/7", "", 501, "", nil, nil},
		{"body not JSON", "POST", "/v1/things", `{"name":`, 400, "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signedRequest(tt.method, tt.target, tt.body, testServiceToken, time.Now())
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			got := decode(t, w)
			if tt.status != 200 {
				if msg, _ := got["error"].(string); msg == "" {
					t.Errorf("answer %v has no error", got)
				}
				if tt.status == 405 && w.Header().Get("Allow") != "DELETE, GET" {
					t.Errorf("Allow = %q", w.Header().Get("Allow"))
				}
				return
			}
			if got["op"] != tt.op || got["solution"] != "demo" {
				t.Errorf("answer = %v, want operation %s for solution demo", got, tt.op)
			}
			if !reflect.DeepEqual(got["args"], tt.args) {
				t.Errorf("args = %#v, want %#v", got["args"], tt.args)
			}
		})
	}
}

func TestHandlerAnswers(t *testing.T) {
	s := newTestService(t, Config{InsecureSkipVerify: true})
	var seen *Request
	s.Handle("listThings", func(ctx context.Context, req *Request) (any, error) {
		seen, _ = RequestFromContext(ctx)
		return nil, nil
	})
	s.Handle("getThing", func(_ context.Context, req *Request) (any, error) {
		switch req.Args["id"] {
		case "missing":
			return nil, Errorf(404, "thing %s not found", req.Args["id"])
		case "plain":
			return nil, errors.New("disk on fire")
		case "panic":
			panic("boom")
		case "raw":
			return json.RawMessage(`{"raw":true}`), nil
		case "unencodable":
			return func() {}, nil
		}
		return []string{"ok"}, nil
	})
	tests := []struct {
		target string
		status int
		body   string
	}{
		{"/v1/things", 204, ""},
		{"/v1/things/missing", 404, `{"error":"thing missing not found"}`},
		{"/v1/things/plain", 500, `{"error":"disk on fire"}`},
		{"/v1/things/panic", 500, `{"error":"operation getThing failed"}`},
		{"/v1/things/raw", 200, `{"raw":true}`},
		{"/v1/things/unencodable", 500, ""},
		{"/v1/things/x", 200, `["ok"]`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil)) // unsigned: verification is off
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if tt.body != "" && strings.TrimSpace(w.Body.String()) != tt.body {
				t.Errorf("body = %s, want %s", w.Body, tt.body)
			}
		})
	}
	if seen == nil || seen.Operation != "listThings" {
		t.Errorf("RequestFromContext = %+v", seen)
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	body := `{"service":"keystore"}`
	tests := []struct {
		name   string
		req    func() *http.Request
		reason error
	}{
		{"good", func() *http.Request { return signedRequest("POST", "/v1/things?a=1", body, testServiceToken, now) }, nil},
		{"good, 4 minutes old", func() *http.Request {
			return signedRequest("POST", "/v1/things", body, testServiceToken, now.Add(-4*time.Minute))
		}, nil},
		{"good among several signatures", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Header.Set(HeaderSignature, "v1=00ff, "+r.Header.Get(HeaderSignature))
			return r
		}, nil},
		{"wrong token", func() *http.Request { return signedRequest("POST", "/v1/things", body, "another-token", now) }, ErrBadSignature},
		{"stale", func() *http.Request {
			return signedRequest("POST", "/v1/things", body, testServiceToken, now.Add(-6*time.Minute))
		}, ErrStaleRequest},
		{"from the future", func() *http.Request {
			return signedRequest("POST", "/v1/things", body, testServiceToken, now.Add(6*time.Minute))
		}, ErrStaleRequest},
		{"tampered body", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Body = io.NopCloser(strings.NewReader(`{"service":"config"}`))
			return r
		}, ErrBadSignature},
		{"tampered query", func() *http.Request {
			r := signedRequest("POST", "/v1/things?a=1", body, testServiceToken, now)
			r.RequestURI = "/v1/things?a=2"
			return r
		}, ErrBadSignature},
		{"tampered method", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Method = "PUT"
			return r
		}, ErrBadSignature},
		{"tampered timestamp", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()-1, 10))
			return r
		}, ErrBadSignature},
		{"no signature", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Header.Del(HeaderSignature)
			return r
		}, ErrBadSignature},
		{"timestamp not a number", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Header.Set(HeaderTimestamp, "yesterday")
			return r
		}, ErrBadSignature},
		{"signature in upper case", func() *http.Request {
			r := signedRequest("POST", "/v1/things", body, testServiceToken, now)
			r.Header.Set(HeaderSignature, strings.ToUpper(r.Header.Get(HeaderSignature)))
			return r
		}, ErrBadSignature},
	}
	s := newTestService(t, Config{})
	s.setToken(testServiceToken)
	s.now = func() time.Time { return now }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req()
			got, _ := io.ReadAll(r.Body)
			err := s.VerifyRequest(r, got)
			if tt.reason == nil && err != nil || tt.reason != nil && !errors.Is(err, tt.reason) {
				t.Fatalf("VerifyRequest = %v, want %v", err, tt.reason)
			}
		})
	}
}

func TestHandlerChecksSignature(t *testing.T) {
	s := newTestService(t, Config{})
	s.Handle("listThings", echo)
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	if w := serve(signedRequest("GET", "/v1/things", "", testServiceToken, time.Now())); w.Code != http.StatusServiceUnavailable {
		t.Errorf("before registration: status %d, want 503", w.Code)
	}
	s.setToken(testServiceToken)
	if w := serve(httptest.NewRequest("GET", "/v1/things", nil)); w.Code != http.StatusUnauthorized {
		t.Errorf("unsigned: status %d, want 401", w.Code)
	}
	if w := serve(signedRequest("GET", "/v1/things", "", "stolen-token", time.Now())); w.Code != http.StatusUnauthorized || !strings.Contains(decode(t, w)["error"].(string), "not signed by the hub") {
		t.Errorf("wrong token: status %d %s, want 401", w.Code, w.Body)
	}
	if w := serve(signedRequest("GET", "/v1/things", "", testServiceToken, time.Now())); w.Code != http.StatusOK {
		t.Errorf("signed: status %d %s, want 200", w.Code, w.Body)
	}
}

func TestHealthPath(t *testing.T) {
	tests := []struct {
		name, doc, path string
		check           error
		status          int
	}{
		{"x-exosite-health-path", testDocument, "/health", nil, 200},
		{"HEAD", testDocument, "/health", nil, 200},
		{"not under the base path", testDocument, "/v1/health", nil, 404},
		{"base path", `{"swagger":"2.0","basePath":"/api","paths":{}}`, "/api", nil, 200},
		{"root", `{"swagger":"2.0","basePath":"/","paths":{}}`, "/", nil, 200},
		{"check fails", testDocument, "/health", errors.New("database down"), 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestService(t, Config{Document: []byte(tt.doc), HealthCheck: func(context.Context) error { return tt.check }})
			method := "GET"
			if tt.name == "HEAD" {
				method = "HEAD"
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest(method, tt.path, nil)) // never signed, even before registration
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 && method == "GET" && decode(t, w)["status"] != "ok" {
				t.Errorf("body = %s", w.Body)
			}
			if tt.status == 503 && decode(t, w)["error"] != "database down" {
				t.Errorf("body = %s", w.Body)
			}
		})
	}
}

func registered(t *testing.T, hub *fakeHub) *Service {
	t.Helper()
	s := newTestService(t, Config{HubURL: hub.URL})
	if err := s.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCall(t *testing.T) {
	hub := newFakeHub(t)
	s := registered(t, hub)
	got, err := s.Call(context.Background(), "demo", "keystore", "get", map[string]string{"key": "my-key"})
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if want := map[string]any{"value": "value of my-key"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Call = %#v, want %#v", got, want)
	}
	r, body := hub.lastRequest(t)
	if r.URL.Path != "/api/v1/call/demo/keystore/get" || r.Header.Get("Authorization") != "demo "+testServiceToken || body != `{"key":"my-key"}` {
		t.Errorf("hub received %s %s %q, Authorization %q", r.Method, r.URL, body, r.Header.Get("Authorization"))
	}
	if r.Header.Get(HeaderRequestID) != "" {
		t.Error("request id sent outside of a handler")
	}
}

func TestCallForwardsRequestContext(t *testing.T) {
	hub := newFakeHub(t)
	s := registered(t, hub)
	s.Handle("listThings", func(ctx context.Context, req *Request) (any, error) {
		return s.Call(ctx, req.Solution, "keystore", "get", nil)
	})
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, signedRequest("GET", "/v1/things", "", testServiceToken, time.Now()))
	if w.Code != 200 {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	r, body := hub.lastRequest(t)
	if r.Header.Get(HeaderRequestID) != "req-1" || !strings.HasPrefix(r.Header.Get(HeaderTraceparent), "00-4bf92f") || body != "{}" {
		t.Errorf("hub received headers %v body %q", r.Header, body)
	}
}

func TestCallAndTriggerErrors(t *testing.T) {
	hub := newFakeHub(t)
	s := registered(t, hub)
	unregistered := newTestService(t, Config{HubURL: hub.URL})
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() (any, error)
		status int
		msg    string
	}{
		{"unknown solution", func() (any, error) { return s.Call(ctx, "nosuch", "keystore", "get", nil) }, 404, "solution nosuch not found"},
		{"unknown operation", func() (any, error) { return s.Call(ctx, "demo", "keystore", "fly", nil) }, 404, "no operation keystore.fly"},
		{"text answer", func() (any, error) { return s.Call(ctx, "demo", "broken", "x", nil) }, 502, "upstream exploded"},
		{"trigger refused", func() (any, error) { return s.Trigger(ctx, "other", "event", nil, false) }, 403, "solution other has not added demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.call()
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Message != tt.msg {
				t.Fatalf("error = %#v, want *Error{%d, %q}", err, tt.status, tt.msg)
			}
		})
	}
	if _, err := unregistered.Call(ctx, "demo", "keystore", "get", nil); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("Call before registration = %v, want ErrNotRegistered", err)
	}
	var noHub *Error
	if _, err := s.Call(ctx, "demo", "keystore", "get", func() {}); err == nil || errors.As(err, &noHub) {
		t.Errorf("Call with unencodable args = %v", err)
	}
}

func TestTrigger(t *testing.T) {
	hub := newFakeHub(t)
	s := registered(t, hub)
	got, err := s.Trigger(context.Background(), "demo", "event", map[string]any{"n": 1}, false)
	if err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	if want := map[string]any{"event": "event", "data": map[string]any{"n": 1.0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Trigger = %#v, want %#v", got, want)
	}
	r, _ := hub.lastRequest(t)
	if r.URL.Path != "/api/v1/trigger/demo/demo/event" || r.URL.RawQuery != "" || r.Header.Get("Authorization") != "demo "+testServiceToken {
		t.Errorf("hub received %s, Authorization %q", r.URL, r.Header.Get("Authorization"))
	}

	got, err = s.Trigger(context.Background(), "demo", "event", nil, true)
	if err != nil {
		t.Fatalf("Trigger async: %v", err)
	}
	if want := map[string]any{"id": "evt-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Trigger async = %#v, want %#v", got, want)
	}
	if r, _ := hub.lastRequest(t); r.URL.RawQuery != "mode=async" {
		t.Errorf("query = %q, want mode=async", r.URL.RawQuery)
	}
}

func TestRunShutsDownOnCancel(t *testing.T) {
	hub := newFakeHub(t)
	hub.probeHealth = true
	hub.registerFailures = []int{503}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, Config{HubURL: hub.URL, Host: ln.Addr().String()})
	s.Handle("listThings", echo)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	select {
	case <-hub.registered: // the hub probed the health path before accepting
	case err := <-done:
		t.Fatalf("Serve returned before registering: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no registration")
	}
	select {
	case <-s.Registered():
	case <-time.After(10 * time.Second):
		t.Fatal("Registered not closed after the hub accepted")
	}
	base := "http://" + ln.Addr().String()
	resp, err := http.DefaultClient.Do(clientRequest(t, "GET", base+"/v1/things", "", testServiceToken))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed call: status %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestRunFailsWhenRegistrationIsRefused(t *testing.T) {
	hub := newFakeHub(t)
	s := newTestService(t, Config{HubURL: hub.URL, RegistrationToken: "wrong-token-0123456789"})
	err := s.Run(context.Background(), "127.0.0.1:0")
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("Run = %v, want the hub's 401", err)
	}
}

func TestSignMatchesDocumentedVector(t *testing.T) {
	// The example of docs/service-protocol.md.
	got := Sign("sbs_example-token", 1760000000, "POST", "/callService?x=1", []byte(`{"service":"keystore","operation":"get","args":"my-key"}`))
	if want := signatureVector; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// signatureVector is the signature docs/service-protocol.md gives as its example, also checked
// there with openssl.
const signatureVector = "v1=6ecf2afc51358c98c28ab0e9f9e9a12aa7c6db6d40f0dc843b08e183a769250e"

// TestTokenKeptAcrossRestarts: the token the hub answers is kept in TokenFile, and a service
// started again presents it, so the hub lets it update its registration; without it the hub
// refuses, and the error says how to keep the token.
func TestTokenKeptAcrossRestarts(t *testing.T) {
	hub := newFakeHub(t)
	file := filepath.Join(t.TempDir(), "state", "demo.token")
	ctx := context.Background()
	first := newTestService(t, Config{HubURL: hub.URL, TokenFile: file})
	if err := first.Register(ctx); err != nil {
		t.Fatalf("first registration: %v", err)
	}
	data, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(data)) != testServiceToken {
		t.Fatalf("token file holds %q (%v), want the service token", data, err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}

	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"restarted with its token file", Config{TokenFile: file}, false},
		{"restarted with its token", Config{Token: testServiceToken}, false},
		{"restarted with its token, the file missing", Config{Token: testServiceToken, TokenFile: filepath.Join(t.TempDir(), "x")}, false},
		{"restarted without its token", Config{}, true},
		{"restarted with a new, empty token file", Config{TokenFile: filepath.Join(t.TempDir(), "new.token")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HubURL = hub.URL
			s := newTestService(t, tc.cfg)
			err := s.Register(ctx)
			hub.mu.Lock()
			presented := hub.presented[len(hub.presented)-1]
			hub.mu.Unlock()
			if !tc.wantErr {
				if err != nil || presented != testServiceToken {
					t.Fatalf("Register = %v, presenting %q; want it accepted with the token", err, presented)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusForbidden || !strings.Contains(e.Message, "TokenFile") {
				t.Fatalf("Register = %v; want a 403 saying how to keep the token", err)
			}
			if s.Token() != "" {
				t.Error("a token after a refused registration")
			}
		})
	}
	if _, err := New(Config{Name: "demo", Document: []byte(testDocument), TokenFile: t.TempDir()}); err == nil {
		t.Error("New accepted a token file it cannot read (a directory)")
	}
}

// TestTokenFileFollowsTheHub: a token file from before the name was deregistered holds a stale
// token; registered anew, the service keeps the new one.
func TestTokenFileFollowsTheHub(t *testing.T) {
	hub := newFakeHub(t) // the name is not registered: any token presented is ignored
	file := filepath.Join(t.TempDir(), "demo.token")
	if err := os.WriteFile(file, []byte("sbs_stale-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, Config{HubURL: hub.URL, TokenFile: file})
	if err := s.Register(context.Background()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if hub.presented[0] != "sbs_stale-token" {
		t.Errorf("presented %q, want the file's token", hub.presented[0])
	}
	if data, _ := os.ReadFile(file); strings.TrimSpace(string(data)) != testServiceToken {
		t.Errorf("token file holds %q, want the new token", data)
	}
}
