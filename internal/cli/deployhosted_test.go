package cli

import (
	"testing"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func TestNextVersion(t *testing.T) {
	for _, tc := range []struct {
		v     string
		major bool
		want  string
	}{
		{"0.1", false, "0.2"},
		{"0.9", false, "0.10"},
		{"0.2", true, "1.0"},
		{"3.14", true, "4.0"},
		{"junk", false, ""},
		{"1.x", true, ""},
	} {
		if got := nextVersion(tc.v, tc.major); got != tc.want {
			t.Errorf("nextVersion(%q, %v) = %q, want %q", tc.v, tc.major, got, tc.want)
		}
	}
}

// TestSameFlow: the server shows security values as "(set)", so a folder's flow that writes one
// out is always sent, and one that writes "(set)" or leaves it out is compared without them.
func TestSameFlow(t *testing.T) {
	stored := apiclient.Flow{Name: "f", Description: "d", Instances: []apiclient.FlowInstance{
		{Name: "A", Service: "S", Version: "0", Node: "hub", Static: map[string]any{"pin": 5.0}, Security: map[string]string{"key": "(set)"}},
	}}
	with := func(change func(in *apiclient.FlowInstance)) apiclient.Flow {
		f := stored
		in := f.Instances[0]
		in.Static = map[string]any{"pin": 5}
		in.Security = map[string]string{"key": "(set)"}
		change(&in)
		f.Instances = []apiclient.FlowInstance{in}
		return f
	}
	for _, tc := range []struct {
		name  string
		local apiclient.Flow
		same  bool
	}{
		{"as shown", with(func(*apiclient.FlowInstance) {}), true},
		{"secret left out", with(func(in *apiclient.FlowInstance) { in.Security = nil }), true},
		{"secret written out", with(func(in *apiclient.FlowInstance) { in.Security["key"] = "s3cret" }), false},
		{"static changed", with(func(in *apiclient.FlowInstance) { in.Static["pin"] = 6 }), false},
		{"version changed", with(func(in *apiclient.FlowInstance) { in.Version = "1" }), false},
		{"description changed", func() apiclient.Flow { f := with(func(*apiclient.FlowInstance) {}); f.Description = "x"; return f }(), false},
		{"instance added", func() apiclient.Flow {
			f := with(func(*apiclient.FlowInstance) {})
			f.Instances = append(f.Instances, apiclient.FlowInstance{Name: "B", Service: "S", Node: "hub"})
			return f
		}(), false},
	} {
		if got := sameFlow(stored, tc.local); got != tc.same {
			t.Errorf("%s: sameFlow = %v, want %v", tc.name, got, tc.same)
		}
	}
}
