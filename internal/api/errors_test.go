package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/admission"
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
		{"too large decoded", "application/json", `{"id":[` + strings.Repeat("1,", 10) + `1]}`, 413, "", "once decoded"},
	}
	// Bodies of 100 bytes, decoded forms of 1000 (about 7 values) at most.
	gate := admission.New(admission.Limits{BytesPerSolution: 1000}, nil)
	s := &Server{opt: Options{MaxBody: 100, Gate: gate}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			var b body
			release, err := s.decode(httptest.NewRecorder(), r, &b)
			// A body is held once it is in: one refused before it is read (its type, its
			// announced size) holds nothing.
			if runs, bytes, _, _ := gate.Held(""); tc.status != 415 && tc.name != "too big" && (runs != 1 || err == nil && bytes == 0) {
				t.Errorf("held while decoding: %d runs, %d bytes; want 1 run and the body's bytes", runs, bytes)
			}
			release()
			if runs, bytes, _, _ := gate.Held(""); runs != 0 || bytes != 0 {
				t.Errorf("held after release: %d runs, %d bytes; want nothing", runs, bytes)
			}
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

// TestDecodeStrict: keys naming one field in different case, and JSON past strictjson's bounds,
// are refused with the status and text a client can act on; maps and raw documents inside the
// body keep exact keys.
func TestDecodeStrict(t *testing.T) {
	type body struct {
		Path   *string `json:"path"`
		Limits struct {
			Steps int64 `json:"steps"`
		} `json:"limits"`
		Parameters map[string]any  `json:"parameters"`
		Swagger    json.RawMessage `json:"swagger"`
	}
	tests := []struct {
		name, in   string
		status     int // 0 = accepted
		field, msg string
	}{
		{"case differs", `{"path":"/a","PATH":"/b"}`, 400, "PATH", `duplicate key "PATH" (same as "path" ignoring case)`},
		{"case differs nested", `{"limits":{"Steps":1,"steps":2}}`, 400, "limits.steps", `(same as "Steps" ignoring case)`},
		{"one key in other case is the field", `{"PATH":"/b"}`, 0, "", ""},
		{"parameters keep exact keys", `{"parameters":{"k":1,"K":2}}`, 0, "", ""},
		{"a document keeps exact keys", `{"swagger":{"paths":{"/users":{},"/Users":{}}}}`, 0, "", ""},
		{"1M levels of [", `{"parameters":` + strings.Repeat("[", 1<<20), 400, "", "nests deeper than 200 levels"},
		{"1M levels of objects", strings.Repeat(`{"a":`, (4<<20)/5), 400, "", "nests deeper than 200 levels"},
		{"too many values", `{"parameters":{"a":[` + strings.Repeat("0,", 1<<20) + `0]}}`, 413, "", "more than 100000 values"},
	}
	s := &Server{opt: Options{MaxBody: 4 << 20, Gate: admission.New(admission.Limits{}, nil)}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
			var b body
			release, err := s.decode(httptest.NewRecorder(), r, &b)
			defer release()
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
