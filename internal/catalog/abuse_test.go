package catalog

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// abuseDoc is a Swagger 2.0 document in JSON with the given definitions and paths bodies.
func abuseDoc(definitions, paths string) []byte {
	return []byte(`{"swagger":"2.0","info":{"title":"t","version":"1"},"host":"h","paths":{` + paths + `},"definitions":{` + definitions + `}}`)
}

// fill repeats part, separated by sep, as many times as fits in about size bytes; part gets
// its index as %[1]d (and %[2]d for the next one). It returns how many times.
func fill(size int, sep, part string) (string, int) {
	var b strings.Builder
	i := 0
	for ; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprintf(&b, part, i, i+1)
	}
	return b.String(), i
}

// fills is fill without the count.
func fills(size int, sep, part string) string {
	s, _ := fill(size, sep, part)
	return s
}

// chain is fill followed by the definition the last part refers to.
func chain(size int, part, last string) string {
	s, n := fill(size, ",", part)
	return s + fmt.Sprintf(`,"%s%d":{}`, last, n)
}

// chainYAML is the definitions of a chain of references in YAML, one a line.
func chainYAML(size int) string {
	s, n := fill(size, "\n", `  D%[1]d: {$ref: "#/definitions/D%[2]d"}`)
	return s + fmt.Sprintf("\n  D%d: {}\n", n)
}

// TestParseAbuse feeds documents of about the size limit built to be as costly as possible to
// validate, convert and read, and checks each is answered (accepted or refused as expected)
// within bounded time and memory.
func TestParseAbuse(t *testing.T) {
	const size = DefaultMaxBytes - 4096
	// Deep enough to pass the YAML decoder's own limit (10000) and reach Switchboard's.
	deepProps := strings.Repeat(`{"type":"object","properties":{"a":`, 4000) + `{}` + strings.Repeat(`}}`, 4000)
	deepArrays := strings.Repeat("[", size/2) + strings.Repeat("]", size/2)
	denseN := 180
	var dense strings.Builder
	for i := 0; i < denseN; i++ {
		if i > 0 {
			dense.WriteString(",")
		}
		fmt.Fprintf(&dense, `"D%d":{"type":"object","properties":{%s}}`, i,
			fills(denseN*28, ",", `"p%[1]d":{"$ref":"#/definitions/D%[1]d"}`))
	}
	laughs := "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 12; i++ {
		laughs += fmt.Sprintf("a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	cases := []struct {
		name   string
		doc    []byte
		refuse string // "" to accept
	}{
		{"deeply nested schemas", abuseDoc(`"A":`+deepProps, ""), "nests deeper than"},
		{"deeply nested arrays", []byte(`{"swagger":"2.0","info":{"title":"t","version":"1"},"host":"h","paths":{},"x-a":` + deepArrays + `}`), "document"},
		{"chain of references", abuseDoc(fills(size-100, ",", `"D%[1]d":{"$ref":"#/definitions/D%[2]d"}`), ""), "points nowhere"},
		{"chain of references that ends", abuseDoc(chain(size-100, `"D%[1]d":{"$ref":"#/definitions/D%[2]d"}`, "D"), ""), ""},
		{"chain of references in YAML", []byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: h\npaths: {}\ndefinitions:\n" +
			chainYAML(size-100)), ""},
		{"loop of references", abuseDoc(`"A":{"$ref":"#/definitions/B"},"B":{"$ref":"#/definitions/A"}`, ""), "leads back to itself"},
		{"recursive schemas", abuseDoc(chain(size-100, `"N%[1]d":{"type":"object","properties":{"next":{"$ref":"#/definitions/N%[2]d"},"self":{"type":"array","items":{"$ref":"#/definitions/N%[1]d"}},"first":{"$ref":"#/definitions/N0"}}}`, "N"), ""), ""},
		{"dense references", abuseDoc(dense.String(), ""), ""},
		{"many operations", abuseDoc("", fills(size, ",", `"/p%[1]d/{id}":{"get":{"operationId":"op%[1]d","responses":{"200":{"description":"ok","schema":{"type":["string","number"]}}}}}`)), ""},
		{"huge enum", abuseDoc(`"E":{"type":"string","enum":[`+fills(size, ",", `"v%[1]d"`)+`]}`, ""), ""},
		{"many parameters", abuseDoc("", `"/p":{"post":{"operationId":"p","parameters":[`+fills(size, ",", `{"name":"q%[1]d","in":"query","type":"string"}`)+`],"responses":{"default":{"description":"ok"}}}}`), ""},
		{"alias expansion", []byte("swagger: '2.0'\ninfo: {title: t, version: '1'}\nhost: h\npaths: {}\n" + "x-l:\n  " + strings.ReplaceAll(laughs, "\n", "\n  ")), "document"},
	}
	// What a document of this size costs when it is only long: the yardstick of the others,
	// measured in this run, so that a loaded or instrumented (-race) machine moves both.
	plain := abuseDoc(`"E":{"type":"string","enum":[`+fills(size, ",", `"v%[1]d"`)+`]}`, "")
	yardstick := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		if _, err := Parse(context.Background(), "demo", plain, ParseOptions{}); err != nil {
			t.Fatalf("the plain document: %v", err)
		}
		yardstick = min(yardstick, time.Since(start))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.doc) > DefaultMaxBytes {
				t.Fatalf("document is %d bytes, over the limit", len(tc.doc))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Parse(context.Background(), "demo", tc.doc, ParseOptions{})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := (after.TotalAlloc - before.TotalAlloc) >> 20
			t.Logf("%d bytes: %v, %d MiB allocated, err: %.120v", len(tc.doc), took, alloc, err)
			switch {
			case tc.refuse == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
				t.Errorf("got %v, want a refusal saying %q", err, tc.refuse)
			}
			// Generous bounds: what they catch is time or memory that grows faster than the
			// document (the costliest here take about 20 times the plain document's time;
			// growing with the square of a megabyte's parts would take thousands).
			if limit := max(200*yardstick, time.Second); took > limit {
				t.Errorf("took %v, more than %v (200 times a plain document's %v)", took, limit, yardstick)
			}
			if alloc > 2048 {
				t.Errorf("allocated %d MiB", alloc)
			}
		})
	}
}
