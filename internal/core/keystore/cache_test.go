package keystore

import (
	"testing"
)

// TestCache checks that reads are answered from memory exactly when this Store is the only
// writer, and that what they answer is right through every kind of change.
func TestCache(t *testing.T) {
	tests := []struct {
		name        string
		follow      bool
		wantNoReads bool
	}{
		{"sole writer: served from memory", false, true},
		{"other writers: every read asks the stream", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Options{})
			s.follow = tc.follow
			call(t, s, "c", "set", args("key", "k", "value", "v1"))
			before := s.streamReads.Load()
			steps := []struct {
				op   string
				a    map[string]any
				want any
			}{
				{"get", args("key", "k"), "v1"},
				{"get", args("key", "missing"), nil},
				{"set", args("key", "k", "value", "v2"), nil},
				{"get", args("key", "k"), "v2"},
				{"append", args("key", "k", "args", arr("+")), nil},
				{"get", args("key", "k"), "v2+"},
				{"delete", args("key", "k"), nil},
				{"get", args("key", "k"), nil},
			}
			for i, st := range steps {
				got := call(t, s, "c", st.op, st.a)
				if st.op == "get" {
					if v := got.(map[string]any)["value"]; v != st.want {
						t.Fatalf("step %d get = %#v, want %#v", i, v, st.want)
					}
				}
			}
			reads := s.streamReads.Load() - before
			if tc.wantNoReads && reads != 0 {
				t.Fatalf("%d stream reads, want none", reads)
			}
			if !tc.wantNoReads && reads < 5 {
				t.Fatalf("%d stream reads, want one per read", reads)
			}
		})
	}
}
