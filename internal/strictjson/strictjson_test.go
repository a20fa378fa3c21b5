package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/strictjson"
)

func TestCheckDuplicates(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the duplicate's path; "" = none
	}{
		{"none", `{"path":"/a","method":"GET"}`, ""},
		{"top level", `{"path":"/a","path":"/b"}`, "path"},
		{"nested", `{"limits":{"timeout_ms":1,"steps":2,"timeout_ms":3}}`, "limits.timeout_ms"},
		{"in an array", `{"items":[{"a":1},{"b":1,"b":2}]}`, "items[1].b"},
		{"top-level array", `[{"x":1},{"x":1,"x":1}]`, "[1].x"},
		{"after nested values", `{"a":[1,[2],{"b":{}}],"c":{"d":[]},"a":0}`, "a"},
		{"same key in sibling objects", `{"a":{"k":1},"b":{"k":1}}`, ""},
		{"same key at two depths", `{"k":{"k":1}}`, ""},
		{"differs by case", `{"k":1,"K":2}`, ""},
		{"escaped alike", `{"a":1,"\u0061":2}`, "a"},
		{"deep", `{"a":{"b":{"c":[[{"d":1,"d":2}]]}}}`, "a.b.c[0][0].d"},
		{"scalar", `"x"`, ""},
		{"invalid json is the decoder's business", `{"a":1,"b":`, ""},
		{"a duplicate before invalid json", `{"a":1,"a":`, "a"},
		{"trailing data is the decoder's business", `{"a":1} {"a":1,"a":2}`, ""},
		{"empty", ``, ""},
		{"at the depth limit", strings.Repeat(`{"a":`, strictjson.MaxDepth-1) + `{"b":1,"b":2}` + strings.Repeat(`}`, strictjson.MaxDepth-1), strings.Repeat("a.", strictjson.MaxDepth-1) + "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := strictjson.CheckDuplicates([]byte(tc.in))
			var dup *strictjson.DuplicateKeyError
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckDuplicates = %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &dup) || dup.Path != tc.want || dup.Same != "" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckDuplicates = %v, want a duplicate at %q", err, tc.want)
			}
		})
	}
}

type inner struct {
	TimeoutMS int64 `json:"timeout_ms"`
}

type embedded struct {
	Name string `json:"name"`
}

type body struct {
	embedded
	Path    *string          `json:"path"`
	Limits  inner            `json:"limits"`
	PLimits *inner           `json:"plimits"`
	Items   []inner          `json:"items"`
	Params  map[string]any   `json:"params"`
	ByName  map[string]inner `json:"by_name"`
	Raw     json.RawMessage  `json:"raw"`
	Free    any              `json:"free"`
	Kelvin  string           `json:"kind"`
	ID      string           `json:"id"`
	Upper   string           `json:"ID"`
	NoTag   int
	Skipped int `json:"-"`
}

func TestCheckFor(t *testing.T) {
	tests := []struct {
		name, in   string
		path, same string // the duplicate's path and the key it repeats ignoring case; "" = none
	}{
		{"none", `{"path":"/a","limits":{"timeout_ms":1},"items":[{"timeout_ms":1}]}`, "", ""},
		{"case differs", `{"path":"/a","PATH":"/b"}`, "PATH", "path"},
		{"exact still", `{"path":"/a","path":"/b"}`, "path", ""},
		{"nested struct", `{"limits":{"timeout_ms":1,"Timeout_MS":2}}`, "limits.Timeout_MS", "timeout_ms"},
		{"through a pointer", `{"plimits":{"TIMEOUT_MS":1,"timeout_ms":2}}`, "plimits.timeout_ms", "TIMEOUT_MS"},
		{"struct in a slice", `{"items":[{},{"timeout_ms":1,"TIMEOUT_ms":2}]}`, "items[1].TIMEOUT_ms", "timeout_ms"},
		{"struct as a map value", `{"by_name":{"x":{"timeout_ms":1,"TIMEOUT_ms":2}}}`, "by_name.x.TIMEOUT_ms", "timeout_ms"},
		{"embedded field", `{"name":"a","Name":"b"}`, "Name", "name"},
		{"field without a tag", `{"NoTag":1,"notag":2}`, "notag", "NoTag"},
		{"unicode folding as the decoder does", `{"kind":"a","\u212Aind":"b"}`, "\u212Aind", "kind"},
		{"struct key names differ in case", `{"top":{"a":1,"A":2}}`, "", ""},
		{"two fields differing in case", `{"id":"a","ID":"b"}`, "", ""},
		{"map keys stay exact", `{"params":{"a":1,"A":2},"by_name":{"x":{},"X":{}}}`, "", ""},
		{"map keys exact duplicate", `{"params":{"a":1,"a":2}}`, "params.a", ""},
		{"raw message is free-form", `{"raw":{"paths":{"/users":{},"/Users":{}}}}`, "", ""},
		{"interface is free-form", `{"free":{"a":{"b":1,"B":2}}}`, "", ""},
		{"unknown keys are the decoder's business", `{"zz":1,"ZZ":2}`, "", ""},
		{"skipped field", `{"Skipped":1,"skipped":2}`, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v body
			err := strictjson.CheckFor([]byte(tc.in), &v)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("CheckFor = %v, want nil", err)
				}
				return
			}
			var dup *strictjson.DuplicateKeyError
			if !errors.As(err, &dup) || dup.Path != tc.path || dup.Same != tc.same {
				t.Fatalf("CheckFor = %#v, want a duplicate at %q same as %q", err, tc.path, tc.same)
			}
			if tc.same != "" && !strings.Contains(err.Error(), `(same as "`+tc.same+`" ignoring case)`) {
				t.Fatalf("CheckFor = %v, want it to name %q", err, tc.same)
			}
			// The check agrees with the decoder: without it, the body decodes (the last key
			// quietly winning).
			dec := json.NewDecoder(strings.NewReader(tc.in))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil && tc.same != "" {
				t.Fatalf("decoder refuses the body itself (%v): the case proves nothing", err)
			}
		})
	}
}

// hostile bodies of about 4 MiB, each built to cost far more to check than it weighs.
func hostile() map[string][]byte {
	const size = 4 << 20
	many := func(item string) []byte {
		var b bytes.Buffer
		b.WriteByte('[')
		for b.Len() < size-len(item)-2 {
			b.WriteString(item + ",")
		}
		b.WriteString("0]")
		return b.Bytes()
	}
	return map[string][]byte{
		"1M arrays deep":        bytes.Repeat([]byte("["), 1<<20),
		"1M objects deep":       bytes.Repeat([]byte(`{"a":`), (4<<20)/5),
		"1M arrays deep closed": append(bytes.Repeat([]byte("["), 1<<19), bytes.Repeat([]byte("]"), 1<<19)...),
		"2M numbers":            many("0"),
		"1M empty objects":      many("{}"),
		"500k small objects":    many(`{"a":0}`),
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		bound string
	}{
		{"one past the depth", bytes.Repeat([]byte("["), strictjson.MaxDepth+1), strictjson.BoundDepth},
		{"one past the values", []byte("[" + strings.Repeat("0,", strictjson.MaxValues-1) + "0]"), strictjson.BoundValues},
	}
	for name, in := range hostile() {
		bound := strictjson.BoundValues
		if strings.Contains(name, "deep") {
			bound = strictjson.BoundDepth
		}
		tests = append(tests, struct {
			name  string
			in    []byte
			bound string
		}{name, in, bound})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []func([]byte) error{strictjson.CheckDuplicates, func(b []byte) error { return strictjson.CheckFor(b, new(body)) }} {
				var lim *strictjson.LimitError
				if err := check(tc.in); !errors.As(err, &lim) || lim.Bound != tc.bound || !strings.Contains(err.Error(), "than ") {
					t.Fatalf("check = %v, want the %s bound", err, tc.bound)
				}
			}
		})
	}
	// Right at the bounds is fine.
	for _, in := range []string{
		strings.Repeat("[", strictjson.MaxDepth) + strings.Repeat("]", strictjson.MaxDepth),
		"[" + strings.Repeat("0,", strictjson.MaxValues-2) + "0]",
	} {
		if err := strictjson.CheckDuplicates([]byte(in)); err != nil {
			t.Fatalf("CheckDuplicates(%.20s…) = %v, want nil", in, err)
		}
	}
}

// TestHostileCost: a hostile 4 MiB body is refused after reading a bounded part of it, so
// the check costs little memory and time however it is built.
func TestHostileCost(t *testing.T) {
	for name, in := range hostile() {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := strictjson.CheckDuplicates(in)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes refused in %s, %d bytes allocated: %v", len(in), took, alloc, err)
			if err == nil {
				t.Fatal("CheckDuplicates = nil, want a limit")
			}
			// Nesting stops at MaxDepth (read unbounded, 1M levels took gigabytes); values at
			// MaxValues, each scalar token costing the decoder ~120 bytes of garbage (2M numbers
			// read whole would take 240 MB).
			limit := uint64(2 << 20)
			if !strings.Contains(name, "deep") {
				limit = 24 << 20
			}
			if alloc > limit {
				t.Errorf("allocated %d bytes, want < %d", alloc, limit)
			}
			if took > 2*time.Second {
				t.Errorf("took %s, want < 2 s", took)
			}
		})
	}
}

func FuzzCheckDuplicates(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"a":2}`, `{"a":[{"b":1}]}`, `[1,2]`, `{`, `{"path":"/a","PATH":"/b"}`,
		strings.Repeat("[", strictjson.MaxDepth+1), strings.Repeat(`{"a":`, strictjson.MaxDepth+1),
		strings.Repeat("[", strictjson.MaxDepth) + strings.Repeat("]", strictjson.MaxDepth),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Must not panic or hang; and whatever it lets through, the decoder reads the same way.
		for _, check := range []func([]byte) error{strictjson.CheckDuplicates, func(b []byte) error { return strictjson.CheckFor(b, new(body)) }} {
			err := check(data)
			var dup *strictjson.DuplicateKeyError
			var lim *strictjson.LimitError
			if err != nil && !errors.As(err, &dup) && !errors.As(err, &lim) {
				t.Fatalf("check = %T %v, want a duplicate or a limit", err, err)
			}
		}
	})
}
