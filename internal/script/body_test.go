package script

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// requestWith is a Lazy request variable holding body, as endpoints get it.
func requestWith(body Body) map[string]any {
	return map[string]any{"request": Lazy(func() any {
		return map[string]any{"method": "POST", "body": body}
	})}
}

func TestBodyField(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	obj := Body{Data: `{"a":[1,2],"b":"c"}`, JSON: true}
	cases := []struct {
		name string
		body Body
		src  string
		want any
	}{
		{"JSON becomes tables", obj, `return request.body.a[2]`, float64(2)},
		{"read twice: decoded once", obj, `local b = request.body; return rawequal(b, request.body)`, true},
		{"text when not JSON by type", Body{Data: `{"a":1}`}, `return request.body`, `{"a":1}`},
		{"text when it does not parse", Body{Data: `{"a":`, JSON: true}, `return request.body`, `{"a":`},
		{"empty is an empty string", Body{JSON: true}, `return request.body`, ""},
		{"pairs sees it", obj, `local n = 0 for k, v in pairs(request) do if k == "body" then n = n + #v.a end end return n`, float64(2)},
		{"next sees it", obj, `local seen = {} local k = next(request) while k do seen[k] = true k = next(request, k) end return seen.body`, true},
		{"rawget sees it", obj, `return rawget(request, "body").b`, "c"},
		{"to_json sees it", obj, `return to_json(request)`, `{"body":{"a":[1,2],"b":"c"},"method":"POST"}`},
		{"returned whole", obj, `return request`, map[string]any{"method": "POST", "body": map[string]any{"a": []any{float64(1), float64(2)}, "b": "c"}}},
		{"no metatable shows", obj, `return getmetatable(request) == nil`, true},
		{"a metatable can be set", obj, `setmetatable(request, {__index = function() return "dflt" end}) return request.body.b .. request.other`, "cdflt"},
		{"assigned before read", obj, `request.body = "mine"; request.body = nil; return request.body == nil`, true},
		{"rawset before read", obj, `rawset(request, "body", 5) return request.body`, float64(5)},
		{"other fields as they were", obj, `request.x = 1 return request.method .. request.x`, "POST1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, e, tc.src, Run{Vars: requestWith(tc.body)})
			if !reflect.DeepEqual(res.Return, tc.want) {
				t.Errorf("got %#v, want %#v", res.Return, tc.want)
			}
		})
	}
}

// TestBodyDecodedOnlyWhenRead: a 4 MiB body whose tables would take about 160 MiB is never
// decoded by a script that does not read it; one that reads it stops at its 1 MiB limit
// having allocated about that, not the decoded size.
func TestBodyDecodedOnlyWhenRead(t *testing.T) {
	e := newTestEngine(t, Options{MaxIdleStates: 1})
	body := Body{Data: "[" + strings.Repeat("{},", 4<<20/3-1) + "{}]", JSON: true}
	lim := Limits{Memory: 1 << 20, Timeout: 20e9}
	run := func(src string) (uint64, error) {
		p := mustCompile(t, src)
		var err error
		n := allocatedBy(func() {
			_, err = e.Run(context.Background(), p, Run{Limits: lim, Vars: requestWith(body), Held: int64(len(body.Data))})
		})
		return n, err
	}
	n, err := run(`return request.method`)
	if err != nil {
		t.Fatalf("script ignoring the body: %v", err)
	}
	t.Logf("ignoring the body: allocated %s", formatBytes(int64(n)))
	if n > 1<<20 {
		t.Errorf("ignoring the body allocated %s: it was decoded", formatBytes(int64(n)))
	}
	n, err = run(`return #request.body`)
	wantLimit(t, err, LimitMemory)
	t.Logf("reading the body: allocated %s before %v", formatBytes(int64(n)), err)
	if n > uint64(lim.Memory)+allocSlack {
		t.Errorf("reading the body allocated %s, want at most the limit (%s) + %s", formatBytes(int64(n)), formatBytes(lim.Memory), formatBytes(allocSlack))
	}
	// Returned unread: decoded while the result is converted, still within the limit.
	_, err = run(`return request`)
	wantLimit(t, err, LimitMemory)
	if used := e.pool.used.Load(); used != 0 {
		t.Errorf("pool holds %d bytes after the runs, want 0", used)
	}
}
