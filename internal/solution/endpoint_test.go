package solution

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEndpoint(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantMethod         string
		wantField          string // "" = valid
		wantReason         string
	}{
		{"simple", "get", "/dynamic-service", "GET", "", ""},
		{"root", "POST", "/", "POST", "", ""},
		{"template", "put", "/users/{id}/posts/{post_id}", "PUT", "", ""},
		{"rest", "GET", "/files/{path...}", "GET", "", ""},
		{"bad method", "FETCH", "/x", "", "method", "not one of"},
		{"empty method", "", "/x", "", "method", "not one of"},
		{"no slash", "GET", "x", "", "path", "must start with /"},
		{"empty path", "GET", "", "", "path", "required"},
		{"reserved docs", "GET", "/docs", "", "path", "reserved"},
		{"reserved swagger", "GET", "/swagger.json", "", "path", "reserved"},
		{"double slash", "GET", "/a//b", "", "path", "empty segment"},
		{"dot dot", "GET", "/a/../b", "", "path", ". or .."},
		{"space", "GET", "/a b", "", "path", "not allowed"},
		{"query", "GET", "/a?b", "", "path", "not allowed"},
		{"partial param", "GET", "/a{id}", "", "path", "whole segment"},
		{"bad param name", "GET", "/{a-b}", "", "path", "letters, digits"},
		{"empty param", "GET", "/{}", "", "path", "letters, digits"},
		{"duplicate param", "GET", "/{id}/{id}", "", "path", "appears twice"},
		{"rest not last", "GET", "/{p...}/x", "", "path", "last segment"},
		{"too long", "GET", "/" + strings.Repeat("a", 600), "", "path", "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := NormalizeEndpoint(tc.method, tc.path)
			if tc.wantField == "" {
				if err != nil || m != tc.wantMethod {
					t.Fatalf("NormalizeEndpoint(%q, %q) = %q, %v; want %q, nil", tc.method, tc.path, m, err, tc.wantMethod)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.wantField || !strings.Contains(fe.Reason, tc.wantReason) {
				t.Fatalf("NormalizeEndpoint(%q, %q) error = %v; want field %s with %q", tc.method, tc.path, err, tc.wantField, tc.wantReason)
			}
		})
	}
}

func TestValidateIDAndLimits(t *testing.T) {
	ids := map[string]bool{"demo": true, "a": true, "0-x": true, strings.Repeat("a", 63): true,
		"": false, "-a": false, "Demo": false, "a_b": false, "a.b": false, strings.Repeat("a", 64): false, "ü": false}
	for id, ok := range ids {
		if err := ValidateID(id); (err == nil) != ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
	limits := []struct {
		l     Limits
		field string
	}{
		{Limits{}, ""},
		{Limits{TimeoutMS: 100, MemoryBytes: 1 << 20, CallDepth: 50, Steps: 1000}, ""},
		{Limits{TimeoutMS: -1}, "limits.timeout_ms"},
		{Limits{TimeoutMS: MaxTimeoutMS + 1}, "limits.timeout_ms"},
		{Limits{MemoryBytes: 10}, "limits.memory_bytes"},
		{Limits{MemoryBytes: MaxMemoryBytes + 1}, "limits.memory_bytes"},
		{Limits{CallDepth: MaxCallDepth + 1}, "limits.call_depth"},
		{Limits{Steps: -5}, "limits.steps"},
	}
	for _, tc := range limits {
		err := tc.l.Validate()
		var fe *FieldError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%+v.Validate() = %v, want field %q", tc.l, err, tc.field)
		}
	}
}
