package dynamic

import (
	"context"
	"encoding/json"
	"testing"
)

// TestCallMapsArguments checks how arguments, the solution's parameters and schema defaults
// become the path, query, headers and body of the request.
func TestCallMapsArguments(t *testing.T) {
	srv := echoServer(t)
	services := map[string]string{"mapper": mapperDoc, "weather": weatherDoc, "demo": demoDoc}
	tests := []struct {
		name, service, op string
		args              any
		params            map[string]any
		method, uri       string
		header            map[string]string // "" wants the header absent
		body              string            // JSON; "" wants no body
	}{
		{
			name: "path escaped, query array repeated, header", service: "mapper", op: "getItem",
			args:   map[string]any{"id": "a b/c?", "tags": []any{"x", "y z"}, "X-Note": "hi", "limit": 5.0},
			method: "GET", uri: "/api/items/a%20b%2Fc%3F?limit=5&tags=x&tags=y+z",
			header: map[string]string{"X-Note": "hi", "Content-Type": ""},
		},
		{
			name: "defaults from params then schema", service: "mapper", op: "getItem",
			args: map[string]any{"id": "1"}, params: map[string]any{"region": "eu", "unrelated": "x"},
			method: "GET", uri: "/api/items/1?limit=10&region=eu",
		},
		{
			name: "argument beats param", service: "mapper", op: "getItem",
			args: map[string]any{"id": "1", "region": "us"}, params: map[string]any{"region": "eu"},
			method: "GET", uri: "/api/items/1?limit=10&region=us",
		},
		{
			name: "from solution cannot be overridden", service: "mapper", op: "getItem",
			args:   map[string]any{"id": "1", "tenant": "someone-else"},
			method: "GET", uri: "/api/items/1?limit=10",
			header: map[string]string{"Tenant": "sol1"},
		},
		{
			name: "empty table is an empty list", service: "mapper", op: "getItem",
			args:   map[string]any{"id": "1", "tags": map[string]any{}},
			method: "GET", uri: "/api/items/1?limit=10",
		},
		{
			name: "expanded body with defaults", service: "mapper", op: "createItem",
			args: map[string]any{"name": "cup", "size": 2.5, "tags": map[string]any{}}, params: map[string]any{"region": "eu"},
			method: "POST", uri: "/api/items",
			header: map[string]string{"Content-Type": "application/json"},
			body:   `{"name":"cup","size":2.5,"tags":[],"color":"blue","region":"eu"}`,
		},
		{
			name: "body not expanded", service: "mapper", op: "replaceTags",
			args:   map[string]any{"id": 7.0, "body": []any{"a", "b"}},
			method: "PUT", uri: "/api/items/7/tags",
			body: `["a","b"]`,
		},
		{
			name: "no arguments", service: "mapper", op: "search", args: nil,
			method: "GET", uri: "/api/search",
		},
		{
			name: "openapi3 path under base path, enum default", service: "weather", op: "current",
			args:   map[string]any{"city": "São Paulo"},
			method: "GET", uri: "/v2/cities/S%C3%A3o%20Paulo?units=metric",
		},
		{
			name: "openapi3 unexpanded body clashing with a parameter", service: "weather", op: "watch",
			args:   map[string]any{"city": "Oslo", "body": map[string]any{"city": "Oslo", "threshold": 3.0}},
			params: map[string]any{"units": "imperial"},
			method: "POST", uri: "/v2/cities/Oslo",
			body: `{"city":"Oslo","threshold":3}`,
		},
		{
			name: "swagger2 body parameter expanded, header from solution", service: "demo", op: "callService",
			args:   map[string]any{"service": "keystore", "operation": "get", "args": map[string]any{"key": "k"}, "solution": "other"},
			method: "POST", uri: "/callService",
			header: map[string]string{"Solution": "sol1", "Content-Type": "application/json"},
			body:   `{"service":"keystore","operation":"get","args":{"key":"k"}}`,
		},
	}
	iv := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := describe(t, tt.service, services[tt.service], srv.URL)
			res, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, tt.params, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			got := wantRequest(t, res, tt.method, tt.uri, tt.header, tt.body)
			if got.Verified != "" {
				t.Errorf("signature refused: %s", got.Verified)
			}
		})
	}
}

// wantRequest checks the request the echo server saw, answered as res: its method and URI,
// the headers of header ("" wants one absent) and its JSON body ("" wants none).
func wantRequest(t *testing.T, res any, method, uri string, header map[string]string, body string) echoed {
	t.Helper()
	got := asEchoed(t, res)
	if got.Method != method || got.URI != uri {
		t.Errorf("request = %s %s, want %s %s", got.Method, got.URI, method, uri)
	}
	for k, want := range header {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if body == "" && len(got.Body) != 0 || body != "" && !sameJSON(t, got.Body, body) {
		t.Errorf("body = %s, want %s", got.Body, body)
	}
	return got
}

// sameJSON reports whether got and want hold the same JSON value.
func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

// TestCallRefusesBadCalls checks the calls refused before anything is sent: unknown and
// restricted operations, and arguments that are missing, unknown or fail their schema, each
// named in the error.
func TestCallRefusesBadCalls(t *testing.T) {
	var hits counter
	srv := handlerServer(t, hits.handler(200, "application/json", `{}`))
	tests := []struct {
		name, service, op string
		args              any
		status            int
		parts             []string
	}{
		{"unknown operation", "mapper", "nope", nil, 404, []string{"mapper", `"nope"`}},
		{"restricted operation", "mapper", "reset", nil, 403, []string{"Mapper.reset", "restricted"}},
		{"restricted swagger2 hook", "demo", "init", nil, 403, []string{"Demo.init"}},
		{"missing path parameter", "mapper", "getItem", map[string]any{}, 400, []string{"Mapper.getItem", `"id"`, "missing"}},
		{"query out of range", "mapper", "getItem", map[string]any{"id": "1", "limit": 500.0}, 400, []string{`"limit"`}},
		{"query not an integer", "mapper", "getItem", map[string]any{"id": "1", "limit": 1.5}, 400, []string{`"limit"`}},
		{"array item of wrong type", "mapper", "getItem", map[string]any{"id": "1", "tags": []any{"a", 2.0}}, 400, []string{`"tags/1"`}},
		{"unknown argument", "mapper", "getItem", map[string]any{"id": "1", "colour": "red"}, 400, []string{`"colour"`, "unknown"}},
		{"missing expanded property", "mapper", "createItem", map[string]any{"size": 1.0}, 400, []string{`"name"`, "missing"}},
		{"expanded property of wrong type", "mapper", "createItem", map[string]any{"name": "cup", "size": "big"}, 400, []string{`"size"`}},
		{"expanded property too short", "mapper", "createItem", map[string]any{"name": ""}, 400, []string{`"name"`}},
		{"missing unexpanded body", "mapper", "replaceTags", map[string]any{"id": 1.0}, 400, []string{`"body"`, "missing"}},
		{"unexpanded body of wrong type", "mapper", "replaceTags", map[string]any{"id": 1.0, "body": "a,b"}, 400, []string{`"body"`}},
		{"path integer of wrong type", "mapper", "replaceTags", map[string]any{"id": "x", "body": []any{}}, 400, []string{`"id"`}},
		{"enum", "weather", "current", map[string]any{"city": "Oslo", "units": "kelvin"}, 400, []string{"Weather.current", `"units"`}},
		{"required swagger2 property", "demo", "triggerEvent", map[string]any{"service": "x"}, 400, []string{`"event"`}},
		{"arguments not a table", "mapper", "search", "hello", 400, []string{"table"}},
		{"arguments a list", "mapper", "search", []any{"a"}, 400, []string{"list"}},
	}
	iv := New(Options{})
	docs := map[string]string{"mapper": mapperDoc, "weather": weatherDoc, "demo": demoDoc}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := describe(t, tt.service, docs[tt.service], srv.URL)
			_, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, nil, "req-1")
			wantError(t, err, tt.status, tt.parts...)
		})
	}
	if n := hits.n.Load(); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}
