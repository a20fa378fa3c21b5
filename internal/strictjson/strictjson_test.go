package strictjson_test

import (
	"errors"
	"strings"
	"testing"

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
		{"same key in sibling objects", `{"a":{"k":1},"b":{"k":1}}`, ""},
		{"same key at two depths", `{"k":{"k":1}}`, ""},
		{"differs by case", `{"k":1,"K":2}`, ""},
		{"escaped alike", `{"a":1,"\u0061":2}`, "a"},
		{"deep", `{"a":{"b":{"c":[[{"d":1,"d":2}]]}}}`, "a.b.c[0][0].d"},
		{"scalar", `"x"`, ""},
		{"invalid json is the decoder's business", `{"a":1,"b":`, ""},
		{"a duplicate before invalid json", `{"a":1,"a":`, "a"},
		{"empty", ``, ""},
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
			if !errors.As(err, &dup) || dup.Path != tc.want || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckDuplicates = %v, want a duplicate at %q", err, tc.want)
			}
		})
	}
}

func FuzzCheckDuplicates(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":[{"b":1}]}`, `[1,2]`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = strictjson.CheckDuplicates(data) // must not panic or hang
	})
}
