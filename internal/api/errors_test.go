package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type body struct {
		ID     string `json:"id"`
		Limits struct {
			Steps int64 `json:"steps"`
		} `json:"limits"`
	}
	tests := []struct {
		name, ct, in string
		status       int // 0 = accepted
		field, msg   string
	}{
		{"ok", "application/json", `{"id":"a"}`, 0, "", ""},
		{"ok without type", "", `{"id":"a"}`, 0, "", ""},
		{"empty", "application/json", ``, 400, "", "empty"},
		{"not json", "application/json", `{id:1}`, 400, "", "not valid JSON"},
		{"unknown field", "application/json", `{"id":"a","nope":1}`, 400, "nope", "unknown field"},
		{"unknown nested field", "application/json", `{"limits":{"stepz":1}}`, 400, "stepz", "unknown field"},
		{"wrong type", "application/json", `{"id":5}`, 400, "id", "want a string"},
		{"wrong nested type", "application/json", `{"limits":{"steps":"x"}}`, 400, "limits.steps", "want an integer"},
		{"trailing data", "application/json", `{"id":"a"} {}`, 400, "", "nothing after it"},
		{"too big", "application/json", `{"id":"` + strings.Repeat("a", 200) + `"}`, 413, "", "larger than 100 bytes"},
		{"wrong content type", "text/plain", `{"id":"a"}`, 415, "", "Content-Type"},
		{"array", "application/json", `[1]`, 400, "", "must be a JSON object, not a JSON array"},
		{"duplicate key", "application/json", `{"id":"a","id":"b"}`, 400, "id", `duplicate key "id"`},
		{"duplicate nested key", "application/json", `{"limits":{"steps":1,"steps":2}}`, 400, "limits.steps", `duplicate key "limits.steps"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			var b body
			err := decode(httptest.NewRecorder(), r, 100, &b)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				return
			}
			e := toAPIError(err)
			if e.Status != tc.status || e.Field != tc.field || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("decode error = %d field=%q %q; want %d field=%q containing %q", e.Status, e.Field, e.Message, tc.status, tc.field, tc.msg)
			}
		})
	}
}
