package traceparent

import (
	"regexp"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		tp   string
		want bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true}, // a later version may grow
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-zz-00f067aa0ba902b7-01", false},
		{"", false},
	} {
		if got := Valid(tc.tp); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.tp, got, tc.want)
		}
	}
}

var shape = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`)

func TestChild(t *testing.T) {
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	m := shape.FindStringSubmatch(Child(parent))
	if m == nil || m[1] != parent[3:35] || m[2] == parent[36:52] {
		t.Fatalf("Child(%q) = %v: want the parent's trace id under a new span id", parent, m)
	}
	a, b := shape.FindStringSubmatch(New()), shape.FindStringSubmatch(Child("not a traceparent"))
	if a == nil || b == nil || a[1] == b[1] || !Valid(a[0]) || !Valid(b[0]) {
		t.Fatalf("New() = %v, Child(invalid) = %v: want two valid fresh traces", a, b)
	}
}
