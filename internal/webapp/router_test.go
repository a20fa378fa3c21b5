package webapp

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/switchboardhq/switchboard/internal/script"
)

func TestRouterMatch(t *testing.T) {
	r := newRouter()
	templates := []string{"/", "/users", "/users/{id}", "/users/me", "/users/{id}/posts/{post}", "/files/{rest...}", "/a/{x}/b", "/a/c/d"}
	routes := map[string]*route{}
	for _, tpl := range templates {
		rt := &route{method: "GET", template: tpl, params: paramNames(tpl)}
		routes[tpl] = rt
		r.add("GET", tpl, rt)
	}
	r.add("POST", "/users", &route{method: "POST", template: "/users"})

	tests := []struct {
		name     string
		path     string
		template string // "" = no match
		values   []string
	}{
		{"root", "/", "/", []string{}},
		{"static", "/users", "/users", []string{}},
		{"param", "/users/42", "/users/{id}", []string{"42"}},
		{"static beats param", "/users/me", "/users/me", []string{}},
		{"two params", "/users/7/posts/9", "/users/{id}/posts/{post}", []string{"7", "9"}},
		{"rest", "/files/a/b/c.txt", "/files/{rest...}", []string{"a/b/c.txt"}},
		{"rest empty", "/files", "/files/{rest...}", []string{""}},
		{"backtrack from static", "/a/c/b", "/a/{x}/b", []string{"c"}},
		{"static when it goes through", "/a/c/d", "/a/c/d", []string{}},
		{"too long", "/users/1/2", "", nil},
		{"unknown", "/nope", "", nil},
		{"empty param segment", "/users/", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, values, ok := r.match(tc.path)
			if tc.template == "" {
				if ok {
					t.Fatalf("match(%q) = %v, want no match", tc.path, rs["GET"].template)
				}
				return
			}
			if !ok {
				t.Fatalf("match(%q): no match, want %s", tc.path, tc.template)
			}
			if got := rs["GET"]; got != routes[tc.template] {
				t.Fatalf("match(%q) = %s, want %s", tc.path, got.template, tc.template)
			}
			if !reflect.DeepEqual(values, tc.values) {
				t.Fatalf("match(%q) values = %q, want %q", tc.path, values, tc.values)
			}
		})
	}
	if rs, _, _ := r.match("/users"); rs["POST"] == nil || rs["GET"] == nil {
		t.Fatalf("/users should have GET and POST, got %v", rs)
	}
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           any
	}{
		{"json object", "application/json", `{"a":1}`, map[string]any{"a": float64(1)}},
		{"json with charset", "application/json; charset=utf-8", `[1,"x"]`, []any{float64(1), "x"}},
		{"vendor json", "application/vnd.x+json", `true`, true},
		{"no type but json", "", `{"a":"b"}`, map[string]any{"a": "b"}},
		{"bad json stays text", "application/json", `{"a":`, `{"a":`},
		{"text", "text/plain", `{"a":1}`, `{"a":1}`},
		{"form", "application/x-www-form-urlencoded", "a=1&b=2", "a=1&b=2"},
		{"empty", "application/json", "", ""},
	}
	e := script.NewEngine(script.Options{HeapLimit: -1})
	defer e.Close()
	p, err := script.Compile("body", `return request.body`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := bodyOf(tc.ct, tc.body)
			res, err := e.Run(context.Background(), p, script.Run{Vars: map[string]any{
				"request": script.Lazy(func() any { return map[string]any{"body": body} }),
			}})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if !reflect.DeepEqual(res.Return, tc.want) {
				t.Fatalf("request.body of %q as %q = %#v, want %#v", tc.body, tc.ct, res.Return, tc.want)
			}
		})
	}
}

func TestValidHeader(t *testing.T) {
	tests := []struct {
		k, v string
		want bool
	}{
		{"X-Thing", "ok", true},
		{"Content-Length", "5", false},
		{"transfer-encoding", "chunked", false},
		{"X-Bad", "a\r\nSet-Cookie: x", false},
		{"Bad Name", "v", false},
		{"", "v", false},
		{"X:y", "v", false},
	}
	for _, tc := range tests {
		if got := validHeader(tc.k, tc.v); got != tc.want {
			t.Errorf("validHeader(%q, %q) = %v, want %v", tc.k, tc.v, got, tc.want)
		}
	}
}

func TestWriteScriptResponse(t *testing.T) {
	tests := []struct {
		name     string
		res      script.Result
		code     int
		body     string
		problems int
	}{
		{"table", script.Result{Return: map[string]any{"a": "b"}}, 200, `{"a":"b"}`, 0},
		{"string and code", script.Result{Return: "hi", Vars: map[string]any{"response": map[string]any{"code": float64(201)}}}, 201, "hi", 0},
		{"message", script.Result{Vars: map[string]any{"response": map[string]any{"message": "m"}}}, 200, "m", 0},
		{"bad code", script.Result{Return: "x", Vars: map[string]any{"response": map[string]any{"code": float64(99)}}}, 200, "x", 1},
		{"code not a number", script.Result{Return: "x", Vars: map[string]any{"response": map[string]any{"code": "abc"}}}, 200, "x", 1},
		{"injected header", script.Result{Return: "x", Vars: map[string]any{"response": map[string]any{
			"headers": map[string]any{"X-A": "a\r\nInjected: 1", "X-Ok": "fine", "X-T": map[string]any{}}}}}, 200, "x", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			problems := writeScriptResponse(rec, tc.res, origin{sol: "a", base: "/apps/a"})
			if rec.Code != tc.code || rec.Body.String() != tc.body || len(problems) != tc.problems {
				t.Fatalf("got %d %q problems %q; want %d %q and %d problems", rec.Code, rec.Body.String(), problems, tc.code, tc.body, tc.problems)
			}
			if rec.Header().Get("Injected") != "" {
				t.Fatal("a header was injected")
			}
		})
	}
}
