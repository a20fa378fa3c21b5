package hub_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// ksPath is the API path of one key, escaped as one segment (as the CLI sends it).
func ksPath(sol, key string) string {
	esc := url.PathEscape(key)
	switch key {
	case ".", "..":
		esc = strings.ReplaceAll(key, ".", "%2E")
	}
	return "/api/v1/solutions/" + sol + "/keystore/keys/" + esc
}

// TestKeystoreAPI: the keystore over the API is the one scripts use, with the same values,
// types, expiry, paging and limits.
func TestKeystoreAPI(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "POST", "/fill", `Keystore.set({key = "from-script", value = "hello"})
Keystore.rpush({key = "queue", args = {"a", "b", "a"}})
Keystore.sadd({key = "tags", args = {"z", "x", "y"}})
return {}`)
	s.Deploy(t, "demo", "GET", "/read", `return {value = Keystore.get({key = "from-api"}).value}`)
	if r := s.Do(t, "POST", "/apps/demo/fill", "", nil); r.Status != http.StatusOK {
		t.Fatalf("fill: %d %s", r.Status, r.Body)
	}

	get := func(key string) map[string]any {
		t.Helper()
		r := s.Do(t, "GET", ksPath("demo", key), tok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %q: %d %s", key, r.Status, r.Body)
		}
		return r.Map(t)
	}
	want := func(key string, fields map[string]any) {
		t.Helper()
		if got := get(key); !reflect.DeepEqual(got, fields) {
			t.Errorf("GET %q = %v, want %v", key, got, fields)
		}
	}
	want("from-script", map[string]any{"key": "from-script", "type": "string", "value": "hello"})
	want("queue", map[string]any{"key": "queue", "type": "list", "value": []any{"a", "b", "a"}})
	want("tags", map[string]any{"key": "tags", "type": "set", "value": []any{"x", "y", "z"}})

	// PUT stores values as Keystore.set does, and scripts read them.
	puts := []struct {
		key  string
		body string
		want string
	}{
		{"from-api", `{"value": "set by the API"}`, "set by the API"},
		{"big-int", `{"value": 12345678901234567890123}`, "1.2345678901234568e+22"},
		{"int", `{"value": 9007199254740993}`, "9007199254740993"},
		{"float", `{"value": 1.5}`, "1.5"},
		{"bool", `{"value": true}`, "true"},
		{"table", `{"value": {"a": [1, "two"]}}`, `{"a":[1,"two"]}`},
		{"a/../b", `{"value": "slashes"}`, "slashes"},
		{"..", `{"value": "dots"}`, "dots"},
		{"with space ü", `{"value": ""}`, ""},
	}
	for _, p := range puts {
		r := s.Do(t, "PUT", ksPath("demo", p.key), tok, p.body)
		if r.Status != http.StatusOK {
			t.Fatalf("PUT %q %s: %d %s", p.key, p.body, r.Status, r.Body)
		}
		wantMap := map[string]any{"key": p.key, "type": "string", "value": p.want}
		if got := r.Map(t); !reflect.DeepEqual(got, wantMap) {
			t.Errorf("PUT %q answered %v, want %v", p.key, got, wantMap)
		}
		want(p.key, wantMap)
	}
	wantJSON(t, s.Do(t, "GET", "/apps/demo/read", "", nil), `{"value":"set by the API"}`)

	// An expiry: set with ttl, and cleared by a set without.
	r := s.Do(t, "PUT", ksPath("demo", "session"), tok, `{"value": "x", "ttl": 100}`)
	if ttl, _ := r.Map(t)["ttl"].(float64); r.Status != http.StatusOK || ttl < 99 || ttl > 100 {
		t.Fatalf("PUT with ttl: %d %s", r.Status, r.Body)
	}
	if ttl, _ := get("session")["ttl"].(float64); ttl < 99 || ttl > 100 {
		t.Errorf("GET after ttl 100: ttl %v", ttl)
	}
	s.Do(t, "PUT", ksPath("demo", "session"), tok, `{"value": "y"}`)
	if _, has := get("session")["ttl"]; has {
		t.Error("a PUT without ttl kept the expiry")
	}

	// Paging in byte order, with a glob.
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "?count=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys"+q, tok, nil)
		var page struct {
			Keys   []string `json:"keys"`
			Cursor *string  `json:"cursor"`
		}
		r.JSON(t, &page)
		if r.Status != http.StatusOK || len(page.Keys) > 3 || pages > 10 {
			t.Fatalf("list page: %d %s", r.Status, r.Body)
		}
		all = append(all, page.Keys...)
		if page.Cursor == nil {
			break
		}
		cursor = *page.Cursor
	}
	wantKeys := []string{"..", "a/../b", "big-int", "bool", "float", "from-api", "from-script", "int", "queue", "session", "table", "tags", "with space ü"}
	if !reflect.DeepEqual(all, wantKeys) {
		t.Errorf("listed %q, want %q", all, wantKeys)
	}
	wantJSON(t, s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys?match=f*", tok, nil), `{"keys":["float","from-api","from-script"],"cursor":null}`)

	info := s.Do(t, "GET", "/api/v1/solutions/demo/keystore/info", tok, nil).Map(t)
	quota, _ := info["quota"].(map[string]any)
	if info["count"] != float64(len(wantKeys)) || info["size"].(float64) <= 0 || quota["keys"] != float64(10000) || quota["value_bytes"] != float64(1<<20) {
		t.Errorf("info = %v", info)
	}

	wantJSON(t, s.Do(t, "DELETE", ksPath("demo", "queue"), tok, nil), `{"deleted":1}`)
	wantJSON(t, s.Do(t, "DELETE", ksPath("demo", "queue"), tok, nil), `{"deleted":0}`)
	if r := s.Do(t, "GET", ksPath("demo", "queue"), tok, nil); r.Status != http.StatusNotFound || r.Map(t)["field"] != "key" {
		t.Errorf("GET a deleted key: %d %s", r.Status, r.Body)
	}
}

// TestKeystoreAPIRefusals: bad requests get a 4xx naming the field; a solution's token
// reaches only its own keystore.
func TestKeystoreAPIRefusals(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "demo", nil)
	other := createSolution(t, s, "other", nil)
	if r := s.Do(t, "PUT", ksPath("demo", "secret"), tok, `{"value": "mine"}`); r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	base := "/api/v1/solutions/demo/keystore"
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		field                     string
	}{
		{"another solution's token reads", "GET", ksPath("demo", "secret"), other, nil, 403, "solution"},
		{"another solution's token writes", "PUT", ksPath("demo", "secret"), other, `{"value": "theirs"}`, 403, "solution"},
		{"another solution's token deletes", "DELETE", ksPath("demo", "secret"), other, nil, 403, "solution"},
		{"another solution's token lists", "GET", base + "/keys", other, nil, 403, "solution"},
		{"another solution's token asks info", "GET", base + "/info", other, nil, 403, "solution"},
		{"no token", "GET", base + "/info", "", nil, 401, ""},
		{"no such solution", "GET", "/api/v1/solutions/nope/keystore/info", s.AdminToken, nil, 404, "solution"},
		{"missing value", "PUT", ksPath("demo", "k"), tok, `{}`, 400, "value"},
		{"null value", "PUT", ksPath("demo", "k"), tok, `{"value": null}`, 400, "value"},
		{"unknown field", "PUT", ksPath("demo", "k"), tok, `{"value": "v", "expire": 3}`, 400, "expire"},
		{"ttl of 0", "PUT", ksPath("demo", "k"), tok, `{"value": "v", "ttl": 0}`, 400, "ttl"},
		{"ttl not an integer", "PUT", ksPath("demo", "k"), tok, `{"value": "v", "ttl": "1m"}`, 400, "ttl"},
		{"not JSON", "PUT", ksPath("demo", "k"), tok, `value=v`, 400, ""},
		{"value too large", "PUT", ksPath("demo", "k"), tok, map[string]any{"value": strings.Repeat("x", 1<<20+1)}, 413, ""},
		{"empty key", "GET", base + "/keys/", tok, nil, 404, ""},
		{"a key with an unescaped slash", "GET", base + "/keys/a/b", tok, nil, 404, ""},
		{"key too long", "PUT", ksPath("demo", strings.Repeat("k", 1025)), tok, `{"value": "v"}`, 400, "key"},
		{"count not a number", "GET", base + "/keys?count=many", tok, nil, 400, "count"},
		{"count of 0", "GET", base + "/keys?count=0", tok, nil, 400, "count"},
		{"bad cursor", "GET", base + "/keys?cursor=%25%25", tok, nil, 400, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Do(t, tt.method, tt.path, tt.token, tt.body)
			if r.Status != tt.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tt.status)
			}
			if got, _ := r.Map(t)["field"].(string); got != tt.field {
				t.Errorf("field %q, want %q (%s)", got, tt.field, r.Body)
			}
		})
	}
	// The other solution's keystore is its own: empty, and the refused writes left demo's alone.
	wantJSON(t, s.Do(t, "GET", "/api/v1/solutions/other/keystore/keys", other, nil), `{"keys":[],"cursor":null}`)
	wantJSON(t, s.Do(t, "GET", ksPath("demo", "secret"), s.AdminToken, nil), `{"key":"secret","type":"string","value":"mine"}`)
}

// TestEndpointVersionsPerEndpoint: a first deploy is version 1 whatever other solutions did,
// each change adds one, and the same script again changes nothing.
func TestEndpointVersionsPerEndpoint(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "busy", nil)
	createSolution(t, s, "fresh", nil)
	for i := range 5 {
		s.Deploy(t, "busy", "GET", "/x", strings.Repeat("-- change\n", i)+"return 1")
	}
	deploy := func(script string) float64 {
		t.Helper()
		r := s.Do(t, "POST", "/api/v1/solutions/fresh/endpoints", s.AdminToken, map[string]any{"method": "GET", "path": "/x", "script": script})
		v, _ := r.Map(t)["version"].(float64)
		return v
	}
	for _, st := range []struct {
		script string
		want   float64
	}{{"return 1", 1}, {"return 2", 2}, {"return 2", 2}, {"return 3", 3}} {
		if got := deploy(st.script); got != st.want {
			t.Errorf("deploy %q: version %v, want %v", st.script, got, st.want)
		}
	}
	wantText(t, call(t, s, "GET", "/apps/fresh/x", 5*time.Second), "3")
}
