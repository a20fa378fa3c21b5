package dynamic

import (
	"context"
	"testing"
)

// insightDoc is a Swagger 2.0 document with draft-4 type lists, arrays without items and an
// undeclared path parameter, which OpenAPI 3.0 would refuse and Murano accepts.
const insightDoc = "../catalog/testdata/murano/insight.yaml"

// TestCallSwagger2Schemas: arguments are validated against what the Swagger 2.0 document
// says: any of the types of a type list, any items of an array without items, and a path
// parameter only named in the template is required.
func TestCallSwagger2Schemas(t *testing.T) {
	srv := echoServer(t)
	iv := New(Options{})
	d := describe(t, "insight", insightDoc, srv.URL)
	accepted := []struct {
		name string
		op   string
		args map[string]any
		uri  string
		body string
	}{
		{"type list, string", "process", map[string]any{"function_id": "f", "value": "1.5"}, "/v1/sol1/insight/f/run", `{"value":"1.5"}`},
		{"type list, number", "process", map[string]any{"function_id": "f", "value": 1.5}, "/v1/sol1/insight/f/run", `{"value":1.5}`},
		{"array without items", "process", map[string]any{"function_id": "f", "history": []any{1.0, "a", map[string]any{"b": true}}}, "/v1/sol1/insight/f/run", `{"history":[1,"a",{"b":true}]}`},
		{"undeclared path parameter", "infoInsight", map[string]any{"function_id": "a b"}, "/v1/insight/a%20b", ""},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			res, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, nil, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			got := asEchoed(t, res)
			if got.URI != tt.uri {
				t.Errorf("uri = %s, want %s", got.URI, tt.uri)
			}
			if tt.body != "" && !sameJSON(t, got.Body, tt.body) {
				t.Errorf("body = %s, want %s", got.Body, tt.body)
			}
		})
	}
	refused := []struct {
		name  string
		op    string
		args  map[string]any
		parts []string
	}{
		{"type list, neither", "process", map[string]any{"function_id": "f", "value": true}, []string{"Insight.process", `"value"`}},
		{"not an array", "process", map[string]any{"function_id": "f", "history": "x"}, []string{`"history"`}},
		{"undeclared path parameter missing", "infoInsight", map[string]any{}, []string{`"function_id"`, "missing"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := iv.Call(context.Background(), "sol1", d, testToken, tt.op, tt.args, nil, "req-1")
			wantError(t, err, 400, tt.parts...)
		})
	}
}
