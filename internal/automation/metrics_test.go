package automation

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTypeLabelBound: whoever publishes on the bus chooses the types; the labels they make
// stop at maxTypeLabels, and a type that is no topic segment is one label.
func TestTypeLabelBound(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	for i := range maxTypeLabels {
		if got, want := m.typeLabel(fmt.Sprint("t", i)), fmt.Sprint("t", i); got != want {
			t.Fatalf("type %d labelled %q", i, got)
		}
	}
	if got := m.typeLabel("one-too-many"); got != otherType {
		t.Errorf("type past the bound labelled %q, want %q", got, otherType)
	}
	if got := m.typeLabel("t7"); got != "t7" {
		t.Errorf("a type seen before labelled %q", got)
	}
	for _, bad := range []string{"Email", "", "a b", "a.b"} {
		if got := m.typeLabel(bad); got != invalidType {
			t.Errorf("type %q labelled %q, want %q", bad, got, invalidType)
		}
	}
}
