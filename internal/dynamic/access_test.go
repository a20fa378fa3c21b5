package dynamic

import (
	"context"
	"errors"
	"testing"
)

const accessDoc = "../catalog/testdata/access.swagger.yaml"

// TestCallRestrictedAndInjected checks the values of restricted and injected parameters: the
// script's argument is ignored (not refused) for a restricted parameter, which takes the
// solution's configuration, else its default; x-exosite-from fills a parameter from the
// calling solution; a path parameter named like a configuration parameter takes its value.
func TestCallRestrictedAndInjected(t *testing.T) {
	srv := echoServer(t)
	tests := []struct {
		name, op    string
		appsDomain  string
		args        map[string]any
		params      map[string]any
		method, uri string
		header      map[string]string
		body        string
	}{
		{
			name: "restricted path parameter ignores the script's account", op: "postMessage",
			args:   map[string]any{"AccountSid": "ACother", "To": "+15550001", "Body": "hi"},
			params: map[string]any{"AccountSid": "ACmine"},
			method: "POST", uri: "/accounts/ACmine/messages.json",
			body: `{"To":"+15550001","Body":"hi"}`,
		},
		{
			name: "from sources, restricted defaults, argument beats a configured query", op: "listItems", appsDomain: "apps.example.com",
			args:   map[string]any{"owner": "bob", "token": "script", "plan": "gold", "tier": "paid", "X-Domain": "evil.example", "X-Business": "other"},
			params: map[string]any{"token": "configured", "tier": "forged"},
			method: "GET", uri: "/items/bob?plan=basic&site=sol1.apps.example.com&tier=free&token=script",
			header: map[string]string{"X-Domain": "sol1.apps.example.com", "X-Business": "sol1"},
		},
		{
			name: "without an apps domain, the domain is under localhost", op: "listItems",
			args:   map[string]any{"owner": "bob"},
			method: "GET", uri: "/items/bob?plan=basic&site=sol1.localhost&tier=free",
			header: map[string]string{"X-Domain": "sol1.localhost"},
		},
		{
			name: "a configuration parameter with a source is the hub's, whatever is stored", op: "listItems", appsDomain: "apps.example.com",
			args:   map[string]any{"owner": "bob"},
			params: map[string]any{"site": "forged.example"},
			method: "GET", uri: "/items/bob?plan=basic&site=sol1.apps.example.com&tier=free",
		},
		{
			name: "path parameter named like a configuration parameter takes it", op: "getKey",
			args: map[string]any{"token": "script"}, params: map[string]any{"token": "configured"},
			method: "GET", uri: "/keys/configured",
		},
		{
			name: "path parameter without a configuration parameter takes the argument", op: "getKey",
			args:   map[string]any{"token": "script"},
			method: "GET", uri: "/keys/script",
		},
		{
			name: "restricted query from the configuration", op: "secure",
			args: map[string]any{"key": "script"}, params: map[string]any{"key": "configured"},
			method: "GET", uri: "/secure?key=configured",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := New(Options{AppsDomain: tt.appsDomain})
			d := describe(t, "access", accessDoc, srv.URL)
			res, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, tt.params, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			wantRequest(t, res, tt.method, tt.uri, tt.header, tt.body)
		})
	}
}

// TestCallRestrictedMissing: a required restricted parameter with no configured value and no
// default is refused before sending, saying scripts cannot set it.
func TestCallRestrictedMissing(t *testing.T) {
	var hits counter
	srv := handlerServer(t, hits.handler(200, "application/json", `{}`))
	d := describe(t, "access", accessDoc, srv.URL)
	_, err := New(Options{}).Call(context.Background(), "sol1", d, testToken, "secure", map[string]any{"key": "script"}, nil, "")
	wantError(t, err, 400, "Access.secure", `"key"`, "scripts cannot set it", "no configuration parameter")
	if hits.n.Load() != 0 {
		t.Error("the service was called")
	}
}

// TestCallLifecycleSendsDeclared: a lifecycle call maps the solution's parameters onto what
// the operation declares and sends nothing else, as storageservice's hooks expect.
func TestCallLifecycleSendsDeclared(t *testing.T) {
	srv := echoServer(t)
	params := map[string]any{"AccountSid": "ACmine", "token": "t", "quota": map[string]any{"limit": 5.0}, "tags": []any{"a", "b"}}
	tests := []struct {
		op, method, uri, body string
	}{
		{"createSolution", "POST", "/sol1", `{"quota":{"limit":5}}`},
		{"updateSolution", "PUT", "/sol1", `["a","b"]`},
		{"getSolution", "GET", "/sol1", ""},
		{"delSolution", "DELETE", "/sol1", ""},
		{"getKey", "GET", "/keys/t", ""},
	}
	iv := New(Options{})
	d := describe(t, "access", accessDoc, srv.URL)
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			res, err := iv.CallLifecycle(context.Background(), "sol1", d, testToken, tt.op, params, "")
			if err != nil {
				t.Fatal(err)
			}
			wantRequest(t, res, tt.method, tt.uri, nil, tt.body)
		})
	}
	// With no parameters at all, the expanded body of init is empty but sent (it is required).
	res, err := iv.CallLifecycle(context.Background(), "sol1", d, testToken, "createSolution", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	wantRequest(t, res, "POST", "/sol1", nil, `{}`)
}

// TestCallLifecycleRefusals: a lifecycle call the hub refuses says the service was not
// called and matches ErrNotCalled; an error the service answers does not.
func TestCallLifecycleRefusals(t *testing.T) {
	var hits counter
	srv := handlerServer(t, hits.handler(500, "application/json", `{"error":"disk full"}`))
	d := describe(t, "access", accessDoc, srv.URL)
	iv := New(Options{})
	_, err := iv.CallLifecycle(context.Background(), "sol1", d, testToken, "needsVersion", map[string]any{"token": "t"}, "")
	wantError(t, err, 400, `access.needsVersion was not called: missing required parameter "apiVersion" (no configuration parameter of that name)`)
	if !errors.Is(err, ErrNotCalled) {
		t.Errorf("%v does not match ErrNotCalled", err)
	}
	if hits.n.Load() != 0 {
		t.Error("the service was called")
	}
	_, err = iv.CallLifecycle(context.Background(), "sol1", d, testToken, "delSolution", nil, "")
	wantError(t, err, 500, "disk full")
	if errors.Is(err, ErrNotCalled) {
		t.Errorf("the service's own error %v matches ErrNotCalled", err)
	}
	// A script's refusal is not a lifecycle one.
	_, err = iv.Call(context.Background(), "sol1", d, testToken, "needsVersion", nil, nil, "")
	wantError(t, err, 400, `Access.needsVersion: missing required argument "apiVersion"`)
}
