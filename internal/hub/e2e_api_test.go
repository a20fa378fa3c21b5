package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// apiRoutes are the management routes the server answers (internal/api/api.go), as OpenAPI
// path templates.
var apiRoutes = []struct{ method, template string }{
	{"GET", "/api/v1/openapi.json"},
	{"POST", "/api/v1/solutions"},
	{"GET", "/api/v1/solutions"},
	{"GET", "/api/v1/solutions/{solution}"},
	{"PATCH", "/api/v1/solutions/{solution}"},
	{"DELETE", "/api/v1/solutions/{solution}"},
	{"POST", "/api/v1/solutions/{solution}/endpoints"},
	{"GET", "/api/v1/solutions/{solution}/endpoints"},
	{"GET", "/api/v1/solutions/{solution}/endpoints/{method}/{path}"},
	{"DELETE", "/api/v1/solutions/{solution}/endpoints/{method}/{path}"},
}

// createSolution makes a solution with limits (nil for none) and returns its token.
func createSolution(t *testing.T, s *hubtest.Server, id string, limits map[string]any) string {
	t.Helper()
	body := map[string]any{"id": id}
	if limits != nil {
		body["limits"] = limits
	}
	r := s.Do(t, "POST", "/api/v1/solutions", s.AdminToken, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create solution %s: %d %s", id, r.Status, r.Body)
	}
	tok, _ := r.Map(t)["token"].(string)
	if tok == "" {
		t.Fatalf("create solution %s: no token in %s", id, r.Body)
	}
	return tok
}

// wantAPIError checks r is a JSON error with the status, naming field when field is set (a
// field "x" also matches a dotted path ending in ".x"), and returns the decoded body.
func wantAPIError(t *testing.T, r hubtest.Response, status int, field string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; body %s", ct, r.Body)
	}
	m := r.Map(t)
	if msg, _ := m["error"].(string); msg == "" {
		t.Errorf("error body has no \"error\" message: %s", r.Body)
	}
	if field != "" {
		got, _ := m["field"].(string)
		if got != field && !strings.HasSuffix(got, "."+field) {
			t.Errorf("field %q, want %q; body %s", got, field, r.Body)
		}
	}
	return m
}

// ids returns the ids of a {"items":[{id…}]} list.
func ids(t *testing.T, r hubtest.Response) []string {
	t.Helper()
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	r.JSON(t, &l)
	out := []string{}
	for _, it := range l.Items {
		out = append(out, it.ID)
	}
	return out
}

func TestAPISolutions(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)

	before := time.Now().Add(-time.Second)
	r := s.Do(t, "POST", "/api/v1/solutions", s.AdminToken, map[string]any{
		"id": "alpha", "limits": map[string]any{"timeout_ms": 1500, "memory_bytes": 8 << 20},
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create alpha: %d %s", r.Status, r.Body)
	}
	var created struct {
		ID        string         `json:"id"`
		Token     string         `json:"token"`
		CreatedAt time.Time      `json:"created_at"`
		Limits    map[string]any `json:"limits"`
	}
	r.JSON(t, &created)
	if created.ID != "alpha" || created.Token == "" {
		t.Fatalf("create alpha: want id alpha and a token, got %s", r.Body)
	}
	if created.CreatedAt.Before(before) || created.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at %s is not about now", created.CreatedAt)
	}
	if got, _ := json.Marshal(created.Limits); string(got) != `{"memory_bytes":8388608,"timeout_ms":1500}` {
		t.Errorf("limits %s, want the ones asked for", got)
	}
	alpha := created.Token
	beta := createSolution(t, s, "beta", nil)

	// The token is shown once; never again, nor its hash.
	r = s.Do(t, "GET", "/api/v1/solutions/alpha", s.AdminToken, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get alpha: %d %s", r.Status, r.Body)
	}
	got := r.Map(t)
	for _, secret := range []string{"token", "token_hash"} {
		if _, ok := got[secret]; ok {
			t.Errorf("GET shows %q: %s", secret, r.Body)
		}
	}
	if bytes.Contains(r.Body, []byte(alpha)) {
		t.Errorf("GET shows the token: %s", r.Body)
	}
	if got["id"] != "alpha" || got["created_at"] != created.CreatedAt.Format(time.RFC3339Nano) {
		t.Errorf("GET alpha = %s, want what create returned", r.Body)
	}
	if r2 := s.Do(t, "GET", "/api/v1/solutions/alpha", alpha, nil); r2.Status != http.StatusOK || !bytes.Equal(r2.Body, r.Body) {
		t.Errorf("GET alpha with its own token: %d %s, want 200 %s", r2.Status, r2.Body, r.Body)
	}

	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			name, token string
			want        []string
		}{
			{"admin sees all", s.AdminToken, []string{"alpha", "beta"}},
			{"alpha sees itself", alpha, []string{"alpha"}},
			{"beta sees itself", beta, []string{"beta"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.Do(t, "GET", "/api/v1/solutions", tc.token, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("list: %d %s", r.Status, r.Body)
				}
				if got := ids(t, r); strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("list = %v, want %v", got, tc.want)
				}
				if bytes.Contains(r.Body, []byte("token")) {
					t.Errorf("list shows tokens: %s", r.Body)
				}
			})
		}
	})

	t.Run("patch limits", func(t *testing.T) {
		r := s.Do(t, "PATCH", "/api/v1/solutions/alpha", s.AdminToken, map[string]any{"limits": map[string]any{"steps": 5000, "call_depth": 50}})
		if r.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		lim, _ := r.Map(t)["limits"].(map[string]any)
		if lim["steps"] != float64(5000) || lim["call_depth"] != float64(50) {
			t.Errorf("patch answered limits %v, want steps 5000 and call_depth 50", lim)
		}
		g := s.Do(t, "GET", "/api/v1/solutions/alpha", alpha, nil)
		if !bytes.Equal(g.Body, r.Body) {
			t.Errorf("GET after PATCH = %s, want what PATCH answered %s", g.Body, r.Body)
		}
		wantAPIError(t, s.Do(t, "PATCH", "/api/v1/solutions/alpha", alpha, map[string]any{"limits": map[string]any{"steps": 1}}), http.StatusForbidden, "")
	})

	t.Run("delete", func(t *testing.T) {
		wantAPIError(t, s.Do(t, "DELETE", "/api/v1/solutions/beta", beta, nil), http.StatusForbidden, "")
		r := s.Do(t, "DELETE", "/api/v1/solutions/beta", s.AdminToken, nil)
		if r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("delete beta: %d %q, want 204 and no body", r.Status, r.Body)
		}
		wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/beta", s.AdminToken, nil), http.StatusNotFound, "")
		wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions", beta, nil), http.StatusUnauthorized, "")
		wantAPIError(t, s.Do(t, "DELETE", "/api/v1/solutions/beta", s.AdminToken, nil), http.StatusNotFound, "")
		if got := ids(t, s.Do(t, "GET", "/api/v1/solutions", s.AdminToken, nil)); strings.Join(got, ",") != "alpha" {
			t.Errorf("list after delete = %v, want [alpha]", got)
		}
	})
}

func TestAPIEndpoints(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	shop := createSolution(t, s, "shop", nil)
	other := createSolution(t, s, "other", nil)

	type endpoint struct {
		Method    string    `json:"method"`
		Path      string    `json:"path"`
		Script    string    `json:"script"`
		Version   uint64    `json:"version"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	deploy := func(t *testing.T, method, path, script string, want int) endpoint {
		t.Helper()
		r := s.Do(t, "POST", "/api/v1/solutions/shop/endpoints", shop, map[string]any{"method": method, "path": path, "script": script})
		if r.Status != want {
			t.Fatalf("deploy %s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
		}
		var ep endpoint
		r.JSON(t, &ep)
		if ep.Path != path || ep.Script != script || ep.Version == 0 || ep.UpdatedAt.IsZero() {
			t.Errorf("deploy %s %s answered %s", method, path, r.Body)
		}
		return ep
	}

	// The solution's own token may deploy; the method is upper-cased.
	v1 := deploy(t, "GET", "/users/{id}", `return "v1 " .. request.parameters.id`, http.StatusCreated)
	if post := deploy(t, "post", "/users/{id}", `return "created"`, http.StatusCreated); post.Method != "POST" {
		t.Errorf("method %q, want POST", post.Method)
	}
	deploy(t, "GET", "/", `return "home"`, http.StatusCreated)
	if r := s.Do(t, "GET", "/apps/shop/users/7", "", nil); string(r.Body) != "v1 7" {
		t.Fatalf("GET /apps/shop/users/7 = %d %s, want v1 7", r.Status, r.Body)
	}
	v2 := deploy(t, "GET", "/users/{id}", `return "v2 " .. request.parameters.id`, http.StatusOK)
	if v2.Version <= v1.Version {
		t.Errorf("replaced endpoint version %d, want more than %d", v2.Version, v1.Version)
	}

	r := s.Do(t, "GET", "/api/v1/solutions/shop/endpoints", shop, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	var list struct{ Items []endpoint }
	r.JSON(t, &list)
	var got []string
	for _, ep := range list.Items {
		got = append(got, ep.Method+" "+ep.Path)
	}
	if want := []string{"GET /", "GET /users/{id}", "POST /users/{id}"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("endpoints = %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name, url, token string
		want             string // the script the endpoint holds
	}{
		{"escaped template", "/api/v1/solutions/shop/endpoints/GET/users/%7Bid%7D", shop, v2.Script},
		{"lower-case method", "/api/v1/solutions/shop/endpoints/get/users/%7Bid%7D", s.AdminToken, v2.Script},
		{"root path", "/api/v1/solutions/shop/endpoints/GET/", shop, `return "home"`},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			r := s.Do(t, "GET", tc.url, tc.token, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var ep endpoint
			r.JSON(t, &ep)
			if ep.Script != tc.want {
				t.Errorf("script %q, want %q", ep.Script, tc.want)
			}
		})
	}

	// Another solution's token sees nothing of shop's endpoints.
	for _, tc := range []struct{ name, method, url string }{
		{"list", "GET", "/api/v1/solutions/shop/endpoints"},
		{"get", "GET", "/api/v1/solutions/shop/endpoints/GET/users/%7Bid%7D"},
		{"delete", "DELETE", "/api/v1/solutions/shop/endpoints/GET/users/%7Bid%7D"},
		{"deploy", "POST", "/api/v1/solutions/shop/endpoints"},
	} {
		t.Run("other token "+tc.name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = map[string]any{"method": "GET", "path": "/users/{id}", "script": `return "pwned"`}
			}
			r := s.Do(t, tc.method, tc.url, other, body)
			wantAPIError(t, r, http.StatusForbidden, "")
			if bytes.Contains(r.Body, []byte("v2 ")) {
				t.Errorf("403 shows shop's script: %s", r.Body)
			}
		})
	}
	if r := s.Do(t, "GET", "/apps/shop/users/7", "", nil); string(r.Body) != "v2 7" {
		t.Fatalf("after other's attempts GET /apps/shop/users/7 = %d %s, want v2 7", r.Status, r.Body)
	}

	t.Run("delete", func(t *testing.T) {
		r := s.Do(t, "DELETE", "/api/v1/solutions/shop/endpoints/POST/users/%7Bid%7D", shop, nil)
		if r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		wantAPIError(t, s.Do(t, "GET", "/api/v1/solutions/shop/endpoints/POST/users/%7Bid%7D", shop, nil), http.StatusNotFound, "")
		wantAPIError(t, s.Do(t, "DELETE", "/api/v1/solutions/shop/endpoints/POST/users/%7Bid%7D", shop, nil), http.StatusNotFound, "")
		app := s.Do(t, "POST", "/apps/shop/users/7", "", nil)
		if app.Status != http.StatusMethodNotAllowed {
			t.Errorf("POST to a deleted endpoint: %d %s, want 405 (GET is still there)", app.Status, app.Body)
		}
		if n := len(ids(t, s.Do(t, "GET", "/api/v1/solutions/shop/endpoints", shop, nil))); n != 2 {
			t.Errorf("%d endpoints left, want 2", n)
		}
	})
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	const maxBody = 64 << 10
	s := hubtest.Start(t, func(c *hub.Config) { c.MaxBodyBytes = maxBody })
	tokA := createSolution(t, s, "a", nil)
	tokB := createSolution(t, s, "b", nil)
	s.Deploy(t, "a", "GET", "/hello", `return "hello from a"`)

	tokens := map[string]string{
		"admin": s.AdminToken, "a": tokA, "b": tokB, "none": "", "unknown": "sbs_0000000000000000000000000000000000000000000000",
	}
	ep := func(method, path, script string) map[string]any {
		return map[string]any{"method": method, "path": path, "script": script}
	}
	cases := []struct {
		name, method, path, token string
		body                      any    // string/[]byte sent as is, else as JSON
		contentType               string // default application/json
		auth                      string // raw Authorization header, instead of token
		status                    int
		field                     string
		line                      int
		allow                     []string
	}{
		{name: "create unknown field", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":"c1","colour":"red"}`, status: 400, field: "colour"},
		{name: "create unknown limits field", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":"c1","limits":{"cpu":1}}`, status: 400, field: "cpu"},
		{name: "create bad JSON", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":`, status: 400},
		{name: "create not an object", method: "POST", path: "/api/v1/solutions", token: "admin", body: `["c1"]`, status: 400},
		{name: "create empty body", method: "POST", path: "/api/v1/solutions", token: "admin", body: ``, status: 400},
		{name: "create two objects", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":"c1"}{"id":"c2"}`, status: 400},
		{name: "create oversized body", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":"` + strings.Repeat("x", maxBody+1) + `"}`, status: 413},
		{name: "create wrong content type", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":"c1"}`, contentType: "text/plain", status: 415},
		{name: "create id missing", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{}`, status: 400, field: "id"},
		{name: "create id of wrong type", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":42}`, status: 400, field: "id"},
		{name: "create id empty", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": ""}, status: 400, field: "id"},
		{name: "create id upper case", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "Demo"}, status: 400, field: "id"},
		{name: "create id underscore", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "my_app"}, status: 400, field: "id"},
		{name: "create id leading dash", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "-app"}, status: 400, field: "id"},
		{name: "create id with dot", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "a.b"}, status: 400, field: "id"},
		{name: "create id wildcard", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "*"}, status: 400, field: "id"},
		{name: "create id path", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "../a"}, status: 400, field: "id"},
		{name: "create id 64 characters", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": strings.Repeat("a", 64)}, status: 400, field: "id"},
		{name: "create duplicate", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "a"}, status: 409, field: "id"},
		{name: "create timeout over max", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "c1", "limits": map[string]any{"timeout_ms": 60001}}, status: 400, field: "timeout_ms"},
		{name: "create memory under 64 KiB", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "c1", "limits": map[string]any{"memory_bytes": 1024}}, status: 400, field: "memory_bytes"},
		{name: "create memory over max", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "c1", "limits": map[string]any{"memory_bytes": 1 << 30}}, status: 400, field: "memory_bytes"},
		{name: "create call depth over max", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "c1", "limits": map[string]any{"call_depth": 1001}}, status: 400, field: "call_depth"},
		{name: "create negative steps", method: "POST", path: "/api/v1/solutions", token: "admin", body: map[string]any{"id": "c1", "limits": map[string]any{"steps": -1}}, status: 400, field: "steps"},
		{name: "create limit of wrong type", method: "POST", path: "/api/v1/solutions", token: "admin", body: `{"id":"c1","limits":{"timeout_ms":"fast"}}`, status: 400, field: "timeout_ms"},
		{name: "create with a solution token", method: "POST", path: "/api/v1/solutions", token: "a", body: map[string]any{"id": "c1"}, status: 403},
		{name: "create without token", method: "POST", path: "/api/v1/solutions", token: "none", body: map[string]any{"id": "c1"}, status: 401},
		{name: "create with unknown token", method: "POST", path: "/api/v1/solutions", token: "unknown", body: map[string]any{"id": "c1"}, status: 401},
		{name: "create with basic auth", method: "POST", path: "/api/v1/solutions", auth: "Basic YWRtaW46YWRtaW4=", body: map[string]any{"id": "c1"}, status: 401},
		{name: "create with bare admin token", method: "POST", path: "/api/v1/solutions", auth: s.AdminToken, body: map[string]any{"id": "c1"}, status: 401},
		{name: "list without token", method: "GET", path: "/api/v1/solutions", token: "none", status: 401},
		{name: "list with unknown token", method: "GET", path: "/api/v1/solutions", token: "unknown", status: 401},
		{name: "get with another solution's token", method: "GET", path: "/api/v1/solutions/a", token: "b", status: 403},
		{name: "get unknown solution", method: "GET", path: "/api/v1/solutions/nope", token: "admin", status: 404},
		{name: "get bad solution id", method: "GET", path: "/api/v1/solutions/Bad_Id", token: "admin", status: 400, field: "solution"},
		{name: "patch with own token", method: "PATCH", path: "/api/v1/solutions/a", token: "a", body: map[string]any{"limits": map[string]any{"steps": 1}}, status: 403},
		{name: "patch unknown field", method: "PATCH", path: "/api/v1/solutions/a", token: "admin", body: map[string]any{"limits": map[string]any{}, "id": "z"}, status: 400, field: "id"},
		{name: "patch limits missing", method: "PATCH", path: "/api/v1/solutions/a", token: "admin", body: map[string]any{}, status: 400, field: "limits"},
		{name: "patch limit out of range", method: "PATCH", path: "/api/v1/solutions/a", token: "admin", body: map[string]any{"limits": map[string]any{"steps": 2_000_000_000}}, status: 400, field: "steps"},
		{name: "patch wrong content type", method: "PATCH", path: "/api/v1/solutions/a", token: "admin", body: `{"limits":{}}`, contentType: "application/x-www-form-urlencoded", status: 415},
		{name: "patch unknown solution", method: "PATCH", path: "/api/v1/solutions/nope", token: "admin", body: map[string]any{"limits": map[string]any{}}, status: 404},
		{name: "delete with own token", method: "DELETE", path: "/api/v1/solutions/a", token: "a", status: 403},
		{name: "delete with another solution's token", method: "DELETE", path: "/api/v1/solutions/a", token: "b", status: 403},
		{name: "delete unknown solution", method: "DELETE", path: "/api/v1/solutions/nope", token: "admin", status: 404},
		{name: "deploy with another solution's token", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "b", body: ep("GET", "/x", "return 1"), status: 403},
		{name: "deploy to unknown solution", method: "POST", path: "/api/v1/solutions/nope/endpoints", token: "admin", body: ep("GET", "/x", "return 1"), status: 404},
		{name: "deploy reserved /docs", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "/docs", "return 1"), status: 400, field: "path"},
		{name: "deploy reserved /swagger.json", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "admin", body: ep("GET", "/swagger.json", "return 1"), status: 400, field: "path"},
		{name: "deploy unknown method", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("FETCH", "/x", "return 1"), status: 400, field: "method"},
		{name: "deploy path without slash", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "x", "return 1"), status: 400, field: "path"},
		{name: "deploy path with dot-dot", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "/x/../y", "return 1"), status: 400, field: "path"},
		{name: "deploy path with half a parameter", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "/users/{id", "return 1"), status: 400, field: "path"},
		{name: "deploy rest parameter not last", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "/f/{rest...}/x", "return 1"), status: 400, field: "path"},
		{name: "deploy script missing", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: map[string]any{"method": "GET", "path": "/x"}, status: 400, field: "script"},
		{name: "deploy unknown field", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: map[string]any{"method": "GET", "path": "/x", "script": "return 1", "cron": "* * * * *"}, status: 400, field: "cron"},
		{name: "deploy script that does not compile", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "/x", "local a = 1\nlocal b = 2\nlocal c = = 3\nreturn a"), status: 400, field: "script", line: 3},
		{name: "deploy script with unclosed block", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: ep("GET", "/x", "if true then\n  return 1\n"), status: 400, field: "script"},
		{name: "deploy wrong content type", method: "POST", path: "/api/v1/solutions/a/endpoints", token: "a", body: `{}`, contentType: "text/lua", status: 415},
		{name: "endpoints list with another solution's token", method: "GET", path: "/api/v1/solutions/a/endpoints", token: "b", status: 403},
		{name: "endpoint get with another solution's token", method: "GET", path: "/api/v1/solutions/a/endpoints/GET/hello", token: "b", status: 403},
		{name: "endpoint delete with another solution's token", method: "DELETE", path: "/api/v1/solutions/a/endpoints/GET/hello", token: "b", status: 403},
		{name: "endpoint get without token", method: "GET", path: "/api/v1/solutions/a/endpoints/GET/hello", token: "none", status: 401},
		{name: "endpoint get unknown", method: "GET", path: "/api/v1/solutions/a/endpoints/GET/nope", token: "a", status: 404},
		{name: "endpoint get unknown method", method: "GET", path: "/api/v1/solutions/a/endpoints/POST/hello", token: "a", status: 404},
		{name: "unknown route", method: "GET", path: "/api/v1/nope", token: "admin", status: 404},
		{name: "unknown route under a solution", method: "GET", path: "/api/v1/solutions/a/bogus", token: "admin", status: 404},
		{name: "unknown route without token", method: "GET", path: "/api/v1/nope", token: "none", status: 404},
		{name: "wrong method on solutions", method: "PUT", path: "/api/v1/solutions", token: "admin", body: `{}`, status: 405, allow: []string{"GET", "POST"}},
		{name: "wrong method on a solution", method: "POST", path: "/api/v1/solutions/a", token: "admin", body: `{}`, status: 405, allow: []string{"GET", "PATCH", "DELETE"}},
		{name: "wrong method on endpoints", method: "PUT", path: "/api/v1/solutions/a/endpoints", token: "admin", body: `{}`, status: 405, allow: []string{"GET", "POST"}},
		{name: "wrong method on the document", method: "DELETE", path: "/api/v1/openapi.json", token: "admin", status: 405, allow: []string{"GET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader
			switch b := tc.body.(type) {
			case nil:
			case string:
				rd = strings.NewReader(b)
			default:
				data, err := json.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				rd = bytes.NewReader(data)
			}
			req, err := http.NewRequest(tc.method, s.URL+tc.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if rd != nil {
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			switch {
			case tc.auth != "":
				req.Header.Set("Authorization", tc.auth)
			case tokens[tc.token] != "":
				req.Header.Set("Authorization", "Bearer "+tokens[tc.token])
			}
			r := s.Send(t, req)
			m := wantAPIError(t, r, tc.status, tc.field)
			if tc.line != 0 {
				if got, _ := m["line"].(float64); int(got) != tc.line {
					t.Errorf("line %v, want %d; body %s", m["line"], tc.line, r.Body)
				}
			}
			for _, meth := range tc.allow {
				if !strings.Contains(r.Header.Get("Allow"), meth) {
					t.Errorf("Allow %q lacks %s", r.Header.Get("Allow"), meth)
				}
			}
			for _, leak := range []string{"goroutine ", ".go:", "panic"} {
				if bytes.Contains(r.Body, []byte(leak)) {
					t.Errorf("error body leaks %q: %s", leak, r.Body)
				}
			}
		})
	}

	// No refused request left anything behind.
	if got := ids(t, s.Do(t, "GET", "/api/v1/solutions", s.AdminToken, nil)); strings.Join(got, ",") != "a,b" {
		t.Errorf("solutions after refused requests = %v, want [a b]", got)
	}
	r := s.Do(t, "GET", "/api/v1/solutions/a/endpoints", tokA, nil)
	var eps struct{ Items []map[string]any }
	r.JSON(t, &eps)
	if len(eps.Items) != 1 || eps.Items[0]["path"] != "/hello" {
		t.Errorf("endpoints of a after refused requests: %s, want only GET /hello", r.Body)
	}
	if r := s.Do(t, "GET", "/apps/a/hello", "", nil); r.Status != 200 || string(r.Body) != "hello from a" {
		t.Errorf("GET /apps/a/hello after refused requests = %d %s", r.Status, r.Body)
	}
}

// loadOpenAPI fetches the server's document without a token and validates it.
func loadOpenAPI(t *testing.T, s *hubtest.Server) *openapi3.T {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/openapi.json", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document does not validate: %v", err)
	}
	return doc
}

// fillTemplate puts params into an OpenAPI path template; {path} goes in as it is (it holds
// escaped segments and slashes), the others escaped.
func fillTemplate(template string, params map[string]string) string {
	out := template
	for k, v := range params {
		if k != "path" {
			v = url.PathEscape(v)
		}
		out = strings.ReplaceAll(out, "{"+k+"}", v)
	}
	return out
}

func TestAPIOpenAPI(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	doc := loadOpenAPI(t, s)
	demo := createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "GET", "/hello", `return "hi"`)

	t.Run("every route is documented", func(t *testing.T) {
		for _, rt := range apiRoutes {
			item := doc.Paths.Value(rt.template)
			if item == nil || item.GetOperation(rt.method) == nil {
				t.Errorf("%s %s is served but not documented", rt.method, rt.template)
			}
		}
	})

	// Every documented operation exists: without a token it answers 401, or 200 when the
	// document says it needs no security (400 when it needs a body, sent none here). Methods a documented path lacks must answer 405.
	params := map[string]string{"solution": "demo", "method": "GET", "path": "hello"}
	for _, template := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(template)
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			op := item.GetOperation(method)
			t.Run("probe "+method+" "+template, func(t *testing.T) {
				r := s.Do(t, method, fillTemplate(template, params), "", nil)
				switch {
				case op == nil:
					if r.Status != http.StatusMethodNotAllowed {
						t.Errorf("undocumented %s answered %d %s, want 405", method, r.Status, r.Body)
					}
				case op.Security != nil && len(*op.Security) == 0 && op.RequestBody != nil && op.RequestBody.Value.Required:
					// Public, and the body is what authenticates (a node's sign-in): none is bad input.
					if r.Status != http.StatusBadRequest {
						t.Errorf("public operation without its body answered %d %s, want 400", r.Status, r.Body)
					}
				case op.Security != nil && len(*op.Security) == 0:
					if r.Status != http.StatusOK {
						t.Errorf("public operation answered %d %s", r.Status, r.Body)
					}
				default:
					if r.Status != http.StatusUnauthorized {
						t.Errorf("documented operation answered %d %s without a token, want 401", r.Status, r.Body)
					}
				}
			})
		}
	}

	// Each exchange's response must match the document: its status listed for the operation,
	// its body the schema; and a request the server accepts must be valid by the document.
	other := createSolution(t, s, "other", nil)
	exchanges := []struct {
		name, method, template string
		params                 map[string]string
		token                  string
		body                   any
		contentType            string
		status                 int
	}{
		{"document", "GET", "/api/v1/openapi.json", nil, "", nil, "", 200},
		{"create", "POST", "/api/v1/solutions", nil, s.AdminToken, map[string]any{"id": "spec", "limits": map[string]any{"timeout_ms": 2000}}, "", 201},
		{"create bad id", "POST", "/api/v1/solutions", nil, s.AdminToken, map[string]any{"id": "Spec"}, "", 400},
		{"create duplicate", "POST", "/api/v1/solutions", nil, s.AdminToken, map[string]any{"id": "spec"}, "", 409},
		{"create as solution", "POST", "/api/v1/solutions", nil, demo, map[string]any{"id": "spec2"}, "", 403},
		{"create without token", "POST", "/api/v1/solutions", nil, "", map[string]any{"id": "spec2"}, "", 401},
		{"create as text", "POST", "/api/v1/solutions", nil, s.AdminToken, `{"id":"spec2"}`, "text/plain", 415},
		{"list", "GET", "/api/v1/solutions", nil, s.AdminToken, nil, "", 200},
		{"list as solution", "GET", "/api/v1/solutions", nil, demo, nil, "", 200},
		{"list without token", "GET", "/api/v1/solutions", nil, "", nil, "", 401},
		{"get", "GET", "/api/v1/solutions/{solution}", map[string]string{"solution": "spec"}, s.AdminToken, nil, "", 200},
		{"get other's", "GET", "/api/v1/solutions/{solution}", map[string]string{"solution": "demo"}, other, nil, "", 403},
		{"get unknown", "GET", "/api/v1/solutions/{solution}", map[string]string{"solution": "nope"}, s.AdminToken, nil, "", 404},
		{"patch", "PATCH", "/api/v1/solutions/{solution}", map[string]string{"solution": "spec"}, s.AdminToken, map[string]any{"limits": map[string]any{"steps": 1000}}, "", 200},
		{"patch out of range", "PATCH", "/api/v1/solutions/{solution}", map[string]string{"solution": "spec"}, s.AdminToken, map[string]any{"limits": map[string]any{"steps": -5}}, "", 400},
		{"patch as solution", "PATCH", "/api/v1/solutions/{solution}", map[string]string{"solution": "demo"}, demo, map[string]any{"limits": map[string]any{}}, "", 403},
		{"patch unknown", "PATCH", "/api/v1/solutions/{solution}", map[string]string{"solution": "nope"}, s.AdminToken, map[string]any{"limits": map[string]any{}}, "", 404},
		{"deploy new", "POST", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "spec"}, s.AdminToken, map[string]any{"method": "GET", "path": "/users/{id}", "script": "return 1"}, "", 201},
		{"deploy replacing", "POST", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "spec"}, s.AdminToken, map[string]any{"method": "GET", "path": "/users/{id}", "script": "return 2"}, "", 200},
		{"deploy broken script", "POST", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "spec"}, s.AdminToken, map[string]any{"method": "GET", "path": "/x", "script": "return ="}, "", 400},
		{"deploy to other's", "POST", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "demo"}, other, map[string]any{"method": "GET", "path": "/x", "script": "return 1"}, "", 403},
		{"deploy to unknown", "POST", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "nope"}, s.AdminToken, map[string]any{"method": "GET", "path": "/x", "script": "return 1"}, "", 404},
		{"endpoints", "GET", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "spec"}, s.AdminToken, nil, "", 200},
		{"endpoints of other's", "GET", "/api/v1/solutions/{solution}/endpoints", map[string]string{"solution": "demo"}, other, nil, "", 403},
		{"endpoint", "GET", "/api/v1/solutions/{solution}/endpoints/{method}/{path}", map[string]string{"solution": "spec", "method": "GET", "path": "users/%7Bid%7D"}, s.AdminToken, nil, "", 200},
		{"endpoint unknown", "GET", "/api/v1/solutions/{solution}/endpoints/{method}/{path}", map[string]string{"solution": "spec", "method": "GET", "path": "nope"}, s.AdminToken, nil, "", 404},
		{"endpoint delete", "DELETE", "/api/v1/solutions/{solution}/endpoints/{method}/{path}", map[string]string{"solution": "spec", "method": "GET", "path": "users/%7Bid%7D"}, s.AdminToken, nil, "", 204},
		{"endpoint delete of other's", "DELETE", "/api/v1/solutions/{solution}/endpoints/{method}/{path}", map[string]string{"solution": "demo", "method": "GET", "path": "hello"}, other, nil, "", 403},
		{"delete as solution", "DELETE", "/api/v1/solutions/{solution}", map[string]string{"solution": "spec"}, other, nil, "", 403},
		{"delete", "DELETE", "/api/v1/solutions/{solution}", map[string]string{"solution": "spec"}, s.AdminToken, nil, "", 204},
		{"delete unknown", "DELETE", "/api/v1/solutions/{solution}", map[string]string{"solution": "spec"}, s.AdminToken, nil, "", 404},
	}
	for _, ex := range exchanges {
		t.Run("exchange "+ex.name, func(t *testing.T) {
			var body []byte
			switch b := ex.body.(type) {
			case nil:
			case string:
				body = []byte(b)
			default:
				body, _ = json.Marshal(b)
			}
			newReq := func() *http.Request {
				var rd io.Reader
				if body != nil {
					rd = bytes.NewReader(body)
				}
				req, err := http.NewRequest(ex.method, s.URL+fillTemplate(ex.template, ex.params), rd)
				if err != nil {
					t.Fatal(err)
				}
				if body != nil {
					ct := ex.contentType
					if ct == "" {
						ct = "application/json"
					}
					req.Header.Set("Content-Type", ct)
				}
				if ex.token != "" {
					req.Header.Set("Authorization", "Bearer "+ex.token)
				}
				return req
			}
			r := s.Send(t, newReq())
			if r.Status != ex.status {
				t.Fatalf("%s %s: %d %s, want %d", ex.method, ex.template, r.Status, r.Body, ex.status)
			}
			validateExchange(t, doc, ex.template, newReq(), r)
		})
	}
}

// wantStatus fails the test unless r has status; it answers r's JSON object.
func wantStatus(t *testing.T, r hubtest.Response, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%d %s; want %d", r.Status, r.Body, status)
	}
	return r.Map(t)
}

// keystoreValue is the string value of a key in sol's Keystore, "" when it has none.
func keystoreValue(t *testing.T, s *hubtest.Server, sol, tok, key string) string {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/"+sol+"/keystore/keys/"+key, tok, nil)
	if r.Status != http.StatusOK {
		return ""
	}
	v, _ := r.Map(t)["value"].(string)
	return v
}
