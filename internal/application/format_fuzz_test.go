package application

import (
	"encoding/json"
	"testing"
)

// FuzzSpecFormat: any document an application sends is JSON, YAML or refused, never a panic;
// what parses as JSON is said to be JSON.
func FuzzSpecFormat(f *testing.F) {
	for _, s := range []string{asyncJSON, "asyncapi: 2.0.0\nchannels: {}\n", "{: [", "a: &a [*a, *a]", "- - - x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		format, err := formatOf(data)
		if json.Valid([]byte(data)) && (err != nil || format != FormatJSON) {
			t.Fatalf("valid JSON %q: %s, %v", data, format, err)
		}
		if err == nil && format != FormatJSON && format != FormatYAML {
			t.Fatalf("format %q", format)
		}
	})
}
