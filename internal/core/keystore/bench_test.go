package keystore

import (
	"context"
	"strconv"
	"testing"
)

// The headline path: Keystore.set then Keystore.get against the embedded server.

func BenchmarkGet(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	call(b, s, "bench", "set", args("key", "my-key", "value", "my-key-value"))
	a := args("key", "my-key")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call(ctx, "bench", "get", a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	a := args("key", "my-key", "value", "my-key-value-updated")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call(ctx, "bench", "set", a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetGet(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	set := args("key", "my-key", "value", "my-key-value-updated")
	get := args("key", "my-key")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call(ctx, "bench", "set", set); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Call(ctx, "bench", "get", get); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncrby(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	a := args("key", "n", "args", arr(float64(1)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call(ctx, "bench", "incrby", a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetNewValue stores a different value each time: every call is a durable write.
func BenchmarkSetNewValue(b *testing.B) {
	s := newStore(b, Options{})
	ctx := context.Background()
	a := args("key", "my-key", "value", "")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		a["value"] = strconv.Itoa(i)
		if _, err := s.Call(ctx, "bench", "set", a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetFromStream reads as an instance sharing the bucket with others must: every get
// asks the stream.
func BenchmarkGetFromStream(b *testing.B) {
	s := newStore(b, Options{})
	s.follow = true
	ctx := context.Background()
	call(b, s, "bench", "set", args("key", "my-key", "value", "my-key-value"))
	a := args("key", "my-key")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call(ctx, "bench", "get", a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetGetFollowing is the seed's script (set of the value the key holds, then get) as an
// instance that shares its buckets with other writers runs it, from 32 callers at once as the
// endpoint benchmark's connections do: each set waits for a catch-up round (follow.go).
func BenchmarkSetGetFollowing(b *testing.B) {
	s := newStore(b, Options{})
	s.follow = true
	benchSetGetFollowing(b, s)
}

// benchSetGetFollowing runs the seed's set+get on s from 32 callers and reports the catch-up
// rounds per op.
func benchSetGetFollowing(b *testing.B, s *Store) {
	ctx := context.Background()
	call(b, s, "bench", "set", args("key", "my-key", "value", "my-key-value-updated"))
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		set := args("key", "my-key", "value", "my-key-value-updated")
		get := args("key", "my-key")
		for pb.Next() {
			if _, err := s.Call(ctx, "bench", "set", set); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Call(ctx, "bench", "get", get); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(s.syncRounds.Load())/float64(b.N), "rounds/op")
}
