package application

import (
	"encoding/json"
	"runtime"
	"strings"
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

// TestSpecFormatAliases: a billion-laughs document is told YAML without expanding its aliases
// (the spec parser then refuses it, within its bound): no memory or time grows with the
// expansion here.
func TestSpecFormatAliases(t *testing.T) {
	doc := "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		doc += name + ": &" + name + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n"
		prev = name
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	format, err := formatOf(doc)
	runtime.ReadMemStats(&after)
	if err != nil || format != FormatYAML {
		t.Fatalf("formatOf: %s, %v", format, err)
	}
	// 9^10 strings expanded would be gigabytes; the nodes of the document are kilobytes.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("telling the format allocated %d bytes", grew)
	}
}
