package keystore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// twins returns two Stores on one bus, each following the other's writes as hub instances
// sharing a NATS do, with b's index held back while the returned hold is set.
func twins(t *testing.T) (a, b *Store, hold *atomic.Bool, release func()) {
	t.Helper()
	a = newStore(t, Options{})
	b = New(a.bus, Options{})
	t.Cleanup(func() { b.Close() })
	a.follow, b.follow = true, true
	hold = &atomic.Bool{}
	var mu sync.Mutex
	gate := make(chan struct{})
	b.indexHook = func() {
		if hold.Load() {
			mu.Lock()
			g := gate
			mu.Unlock()
			<-g
		}
	}
	release = func() {
		hold.Store(false)
		mu.Lock()
		close(gate)
		gate = make(chan struct{})
		mu.Unlock()
	}
	return a, b, hold, release
}

func streamValue(t *testing.T, s *Store, solution, key string) string {
	t.Helper()
	bk, err := s.readable(tctx(t), "get", solution)
	if err != nil || bk == nil {
		t.Fatalf("bucket: %v", err)
	}
	st, err := bk.fetch(tctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(st.data)
}

// TestFollowReads: a Store following other writers reads its own writes at once and from
// memory, sees another Store's write within a bounded time, and then serves it from memory too.
func TestFollowReads(t *testing.T) {
	a, b, _, _ := twins(t)
	call(t, b, "f", "set", args("key", "k", "value", "b1"))
	before := b.streamReads.Load()
	equal(t, "b reads its write", cmd(t, b, "f", "k", "get"), "b1")
	equal(t, "stream reads for it", b.streamReads.Load()-before, int64(0))

	call(t, a, "f", "set", args("key", "k", "value", "a1"))
	equal(t, "a reads its write", cmd(t, a, "f", "k", "get"), "a1")
	eventually(t, "b reads a's write", 5*time.Second, func() bool {
		return cmd(t, b, "f", "k", "get") == "a1"
	})
	before = b.streamReads.Load()
	for range 10 {
		equal(t, "b reads", cmd(t, b, "f", "k", "get"), "a1")
	}
	if n := b.streamReads.Load() - before; n > 0 {
		t.Fatalf("%d stream reads for a value b already read, want none", n)
	}
}

// TestFollowStaleCAS: read-modify-writes on a Store whose cache is stale (its index held back
// while another Store writes) still land on the latest value: the compare-and-set fails and
// the retry reads the stream.
func TestFollowStaleCAS(t *testing.T) {
	a, b, hold, release := twins(t)
	call(t, b, "f", "incrby", args("key", "n", "args", arr(float64(1))))
	equal(t, "b reads n", cmd(t, b, "f", "n", "get"), "1")
	hold.Store(true)
	for range 5 {
		call(t, a, "f", "incrby", args("key", "n", "args", arr(float64(1))))
	}
	got := call(t, b, "f", "incrby", args("key", "n", "args", arr(float64(10))))
	equal(t, "b's incrby answer", got.(map[string]any)["value"], float64(16))
	equal(t, "in the stream", streamValue(t, a, "f", "n"), "16")
	// setnx on a key b does not know yet exists: exactly as if b had read the stream.
	call(t, a, "f", "set", args("key", "nx", "value", "a"))
	got = call(t, b, "f", "command", args("key", "nx", "command", "setnx", "args", arr("b")))
	equal(t, "b's setnx of a key a created", got.(map[string]any)["value"], float64(0))
	equal(t, "nx in the stream", streamValue(t, a, "f", "nx"), "a")
	release()
}

// TestFollowSetUnchanged: a set of the value a Store's cache holds is skipped only once its
// index caught up with every write stored before the set: a write of another Store that the
// index had not applied yet is replaced, not hidden.
func TestFollowSetUnchanged(t *testing.T) {
	a, b, hold, release := twins(t)
	t.Cleanup(release) // a failure below must not leave b's index held while the test closes
	call(t, b, "f", "set", args("key", "k", "value", "v1"))
	equal(t, "b reads k", cmd(t, b, "f", "k", "get"), "v1")
	bk, err := b.readable(tctx(t), "get", "f")
	if err != nil {
		t.Fatal(err)
	}
	rev := func() uint64 { return keyRev(bk, "k") }

	// Caught up and unchanged: nothing is written.
	r0 := rev()
	call(t, b, "f", "set", args("key", "k", "value", "v1"))
	equal(t, "revision after an unchanged set", rev(), r0)

	// a writes v2; b's index has not applied it when b sets v1 again.
	hold.Store(true)
	call(t, a, "f", "set", args("key", "k", "value", "v2"))
	done := make(chan error, 1)
	go func() {
		_, err := b.Call(context.Background(), "f", "set", args("key", "k", "value", "v1"))
		done <- err
	}()
	eventually(t, "b's set to wait for its index", 5*time.Second, func() bool {
		bk.mu.Lock()
		defer bk.mu.Unlock()
		return bk.seenCh != nil
	})
	select {
	case err := <-done:
		t.Fatalf("b's set returned (%v) before its index applied a's write", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	equal(t, "k in the stream", streamValue(t, a, "f", "k"), "v1")
	eventually(t, "a reads b's set", 5*time.Second, func() bool {
		return cmd(t, a, "f", "k", "get") == "v1"
	})
}

// TestFollowCatchUpShared: many calls waiting for a catch-up share rounds.
func TestFollowCatchUpShared(t *testing.T) {
	_, b, _, _ := twins(t)
	call(t, b, "f", "set", args("key", "k", "value", "v"))
	bk, err := b.readable(tctx(t), "get", "f")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- bk.catchUp(tctx(t))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bk.following() {
		t.Fatal("not following after catching up")
	}
	if n := b.syncRounds.Load(); n == 0 || n > 32 {
		t.Fatalf("%d catch-up rounds for 64 calls, want a few", n)
	}
}
