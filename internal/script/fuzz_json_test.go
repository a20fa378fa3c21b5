package script

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var fuzzJSONSeeds = []string{
	`{"x":[1,2],"y":null}`,
	`[1,null,3]`,
	`"a\u00e9\ud83d\ude00\n"`,
	`{"a":{"b":{"c":[true,false,null,-0,1e308,1e-320,0.1]}}}`,
	`[` + strings.Repeat(`[`, 250) + strings.Repeat(`]`, 250) + `]`,
	`{"k":1,"k":2}`,
	`1e999`,
	`"\xff\xfe"`,
	`[{},{},{},[],[],""]`,
	`{"a":`,
	` `,
	`[1,]`,
	`"\ud800"`,
	`nul`,
	`{"":{"":{"":""}}}`,
}

// fuzzRun runs src with v as the global `src`, within small limits.
func fuzzRun(t *testing.T, e *Engine, p *Program, vars map[string]any) (Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.Run(ctx, p, Run{Solution: "fuzz", Limits: Limits{Timeout: 2 * time.Second, Memory: 1 << 20, Steps: 200_000}, Vars: vars})
}

// onlyLimits fails the test on an error that is not a limit: hostile input must end in a
// clear error, never in a panic or an internal error.
func onlyLimits(t *testing.T, err error) {
	t.Helper()
	var le *LimitError
	if err != nil && !errors.As(err, &le) {
		t.Fatalf("run failed with %T: %v", err, err)
	}
}

// FuzzJSON: from_json accepts what is JSON and refuses what is not (nesting and size limits
// aside), never panics, and what it returns encodes back to valid JSON with to_json.
func FuzzJSON(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add(s)
	}
	e := NewEngine(Options{HeapLimit: -1, MaxIdleStates: 2})
	f.Cleanup(e.Close)
	p, err := Compile("fuzz", `
local v, err = from_json(src)
if err then return {err = err} end
if v == nil then return {null = true} end
local out, eerr = to_json(v)
return {out = out, eerr = eerr}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		res, err := fuzzRun(t, e, p, map[string]any{"src": src})
		onlyLimits(t, err)
		if err != nil {
			return
		}
		m, _ := res.Return.(map[string]any)
		valid := json.Valid([]byte(src))
		if msg, failed := m["err"].(string); failed {
			if !strings.HasPrefix(msg, "from_json: ") {
				t.Fatalf("error %q does not say from_json", msg)
			}
			if valid && !strings.Contains(msg, "deeper") && !strings.Contains(msg, "nest") {
				t.Fatalf("valid JSON %q refused: %s", src, msg)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON %q accepted: %#v", src, m)
		}
		if out, ok := m["out"].(string); ok && !json.Valid([]byte(out)) {
			t.Fatalf("to_json wrote invalid JSON %q for %q", out, src)
		}
	})
}

// FuzzBody: a request body is, when the script reads it, tables when it is JSON and its text
// otherwise; no body makes a run fail other than by a limit.
func FuzzBody(f *testing.F) {
	for _, s := range fuzzJSONSeeds {
		f.Add(s, true)
	}
	f.Add("plain text", false)
	e := NewEngine(Options{HeapLimit: -1, MaxIdleStates: 2})
	f.Cleanup(e.Close)
	p, err := Compile("fuzz", `local b = request.body; if type(b) == "string" then return {text = b} end return {kind = type(b)}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data string, isJSON bool) {
		res, err := fuzzRun(t, e, p, requestWith(Body{Data: data, JSON: isJSON}))
		onlyLimits(t, err)
		if err != nil {
			return
		}
		m, _ := res.Return.(map[string]any)
		text, isText := m["text"].(string)
		switch {
		case !isJSON || !json.Valid([]byte(data)):
			// Not JSON by its type or its bytes: the script gets the text as it came.
			if !isText || text != data {
				t.Fatalf("body %q (JSON %v) read as %#v, want its text", data, isJSON, m)
			}
		case isText:
			// A JSON string decodes to a string; anything else would be a table, number,
			// boolean — or text, when it nests deeper than from_json goes.
			var s string
			if json.Unmarshal([]byte(data), &s) != nil && strings.TrimSpace(data) != "" && nesting(data) <= 200 {
				t.Fatalf("JSON body %q read as text %q", data, text)
			}
		}
	})
}

// nesting is how deep valid JSON nests arrays and objects.
func nesting(data string) int {
	depth, most := 0, 0
	dec := json.NewDecoder(strings.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return most
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			most = max(most, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}
