package catalog

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheckParametersTypesAndEnums: a value the form's type or enum does not allow is refused
// naming the parameter; what it allows passes.
func TestCheckParametersTypesAndEnums(t *testing.T) {
	d := &Description{Name: "svc", ConfigParameters: []ConfigParameter{
		{Name: "plan", Type: "string", Enum: []any{"free", "pro"}},
		{Name: "retention", Type: "integer"},
		{Name: "ratio", Type: "number"},
		{Name: "debug", Type: "boolean"},
		{Name: "level", Type: "integer", Enum: []any{float64(1), float64(2)}},
		{Name: "extra", Type: "anything"},
	}}
	for _, tc := range []struct {
		params  string
		wantErr string // "" = accepted
	}{
		{`{"plan":"pro"}`, ""},
		{`{"plan":"gold"}`, `"plan" must be one of "free", "pro"`},
		{`{"plan":3}`, `"plan" must be of type string, not integer`},
		{`{"retention":30}`, ""},
		{`{"retention":30.5}`, `"retention" must be a whole number`},
		{`{"retention":"30"}`, `"retention" must be of type integer, not string`},
		{`{"ratio":0.5}`, ""},
		{`{"ratio":2}`, ""},
		{`{"debug":true}`, ""},
		{`{"debug":"yes"}`, `"debug" must be of type boolean, not string`},
		{`{"level":2}`, ""},
		{`{"level":3}`, `"level" must be one of 1, 2`},
		{`{"extra":{"a":[1]}}`, ""},
		{`{"plan":null}`, ""},
	} {
		var params map[string]any
		dec := json.NewDecoder(strings.NewReader(tc.params))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			t.Fatal(err)
		}
		_, err := CheckParameters(d, params)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.params, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.params, err, tc.wantErr)
		case tc.wantErr != "":
			if ve, ok := err.(*ValidationError); !ok || !strings.HasPrefix(ve.Field, "parameters.") {
				t.Errorf("%s: error %#v does not name the parameter's field", tc.params, err)
			}
		}
	}
}
