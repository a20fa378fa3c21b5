package keystore

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"", "", true},
		{"", "a", false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h*llo", "hllo", true},
		{"h*llo", "heeeello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hbllo", true},
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`h[\]]llo`, "h]llo", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*.txt", "notes.txt", true},
		{"*.txt", "notes.txt.bak", false},
		{"user:*:name", "user:42:name", true},
		{"ab[", "ab", false},
		{"ab[c", "abc", true},
		{`trailing\`, `trailing\`, true},
		{"?", "é", false}, // ? is one byte, as in Redis
		{"??", "é", true},
	}
	for _, tc := range tests {
		if got := globMatch([]byte(tc.pattern), []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestGlobMatchManyStars checks a pathological pattern finishes quickly.
func TestGlobMatchManyStars(t *testing.T) {
	p := []byte(strings.Repeat("*a", 100) + "b")
	s := []byte(strings.Repeat("a", 1024))
	if globMatch(p, s) {
		t.Fatal("matched")
	}
}
