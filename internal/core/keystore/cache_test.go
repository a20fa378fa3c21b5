package keystore

import (
	"testing"

	"github.com/switchboardhq/switchboard/internal/service"
)

// TestCache checks that reads of what this Store wrote are answered from memory, whether it is
// the only writer or follows others, and that what they answer is right through every kind of
// change.
func TestCache(t *testing.T) {
	tests := []struct {
		name        string
		follow      bool
		wantNoReads bool
	}{
		{"sole writer: served from memory", false, true},
		{"other writers: served from memory at the index's revision", true, true},
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

// TestCacheLateAck: an older write acknowledged after a newer one must not evict the newer
// value, nor be served.
func TestCacheLateAck(t *testing.T) {
	s := newStore(t, Options{})
	call(t, s, "c", "set", args("key", "k", "value", "v1"))
	b, err := s.bucket(tctx(t), "c", false)
	if err != nil || b == nil {
		t.Fatalf("bucket: %v", err)
	}
	b.mu.Lock()
	newest := b.keys["k"].rev
	b.mu.Unlock()
	b.applyOwn("k", newest+2, false, 0, encodeString("v3"))
	b.applyOwn("k", newest+1, false, 0, encodeString("v2")) // the late one
	st, ok := b.cached("k")
	if !ok || string(st.data) != "v3" || st.rev != newest+2 {
		t.Fatalf("cached = %q rev %d, %v; want v3 at rev %d", st.data, st.rev, ok, newest+2)
	}
}

// TestSetUnchanged: setting the value a key already holds writes nothing when this Store is the
// sole writer; a different value, or an expiry to clear, still writes.
func TestSetUnchanged(t *testing.T) {
	s := newStore(t, Options{})
	call(t, s, "c", "set", args("key", "k", "value", "same"))
	b, err := s.bucket(tctx(t), "c", false)
	if err != nil || b == nil {
		t.Fatalf("bucket: %v", err)
	}
	rev := func() uint64 { return keyRev(b, "k") }
	r0 := rev()
	call(t, s, "c", "set", args("key", "k", "value", "same"))
	if rev() != r0 {
		t.Fatalf("an unchanged set wrote a new revision")
	}
	call(t, s, "c", "set", args("key", "k", "value", "other"))
	if rev() == r0 {
		t.Fatalf("a changed set wrote nothing")
	}
	call(t, s, "c", "command", args("key", "k", "command", "expire", "args", arr(float64(100))))
	r1 := rev()
	call(t, s, "c", "set", args("key", "k", "value", "other"))
	if rev() == r1 {
		t.Fatalf("a set that clears an expiry wrote nothing")
	}
	if ttl := call(t, s, "c", "command", args("key", "k", "command", "ttl")).(map[string]any)["value"]; ttl != float64(-1) {
		t.Fatalf("ttl after set = %v, want -1", ttl)
	}
}

// TestExists: with Options.Exists, a write for a solution that does not exist fails and creates
// no bucket; reads see nothing.
func TestExists(t *testing.T) {
	live := map[string]bool{"here": true}
	s := newStore(t, Options{Exists: func(id string) bool { return live[id] }})
	ctx := tctx(t)
	if _, err := s.Call(ctx, "here", "set", args("key", "k", "value", "v")); err != nil {
		t.Fatalf("write for an existing solution: %v", err)
	}
	_, err := s.Call(ctx, "gone", "set", args("key", "k", "value", "v"))
	if se, ok := err.(*service.Error); !ok || se.Status != 404 {
		t.Fatalf("write for a missing solution: %v, want a 404", err)
	}
	if _, err := s.js.KeyValue(ctx, bucketPrefix+"gone"); err == nil {
		t.Fatal("a bucket was created for a missing solution")
	}
	delete(live, "here")
	if _, err := s.Call(ctx, "here", "set", args("key", "k2", "value", "v")); err == nil {
		t.Fatal("write after the solution went succeeded")
	}
}

// TestAbsentBuckets: the sole writer asks JetStream once whether a solution has a bucket;
// with other writers it asks on every read; either way a write then makes it.
func TestAbsentBuckets(t *testing.T) {
	for _, follow := range []bool{false, true} {
		s := newStore(t, Options{})
		s.follow = follow
		for range 3 {
			if v := call(t, s, "empty", "get", args("key", "k")).(map[string]any)["value"]; v != nil {
				t.Fatalf("follow=%v: get on an empty solution = %v", follow, v)
			}
		}
		want := int64(1)
		if follow {
			want = 3
		}
		if n := s.bucketLookups.Load(); n != want {
			t.Fatalf("follow=%v: %d bucket lookups for 3 reads, want %d", follow, n, want)
		}
		call(t, s, "empty", "set", args("key", "k", "value", "v"))
		if v := call(t, s, "empty", "get", args("key", "k")).(map[string]any)["value"]; v != "v" {
			t.Fatalf("follow=%v: get after set = %v", follow, v)
		}
	}
}
