package keystore

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

const (
	workers = 50
	perWork = 20
)

// hammer runs fn workers×perWork times from workers goroutines and fails on any error.
func hammer(t *testing.T, fn func(w, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWork {
				if err := fn(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestConcurrentIncrby: concurrent increments of one key lose none, each caller gets a value
// of its own, and increments queued behind a write are written together, in fewer writes than
// increments.
func TestConcurrentIncrby(t *testing.T) {
	s := newStore(t, Options{})
	ctx := tctx(t)
	var mu sync.Mutex
	got := map[float64]bool{}
	hammer(t, func(_, _ int) error {
		res, err := s.Call(ctx, "conc", "incrby", args("key", "counter", "args", arr(float64(1))))
		if err == nil {
			v, _ := res.(map[string]any)["value"].(float64)
			mu.Lock()
			got[v] = true
			mu.Unlock()
		}
		return err
	})
	equal(t, "counter", cmd(t, s, "conc", "counter", "get"), fmt.Sprint(workers*perWork))
	for v := 1; v <= workers*perWork; v++ {
		if !got[float64(v)] {
			t.Fatalf("no caller got %d: answers %v", v, got)
		}
	}
	b, err := s.readable(ctx, "get", "conc")
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.load(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if st.rev >= uint64(workers*perWork) {
		t.Fatalf("%d increments took %d writes; queued ones were not written together", workers*perWork, st.rev)
	}
}

func TestConcurrentLpush(t *testing.T) {
	s := newStore(t, Options{})
	ctx := tctx(t)
	hammer(t, func(w, i int) error {
		_, err := s.Call(ctx, "conc", "command", args("key", "list", "command", "lpush", "args", arr(fmt.Sprint(w, "-", i))))
		return err
	})
	equal(t, "llen", cmd(t, s, "conc", "list", "llen"), float64(workers*perWork))
	seen := map[any]bool{}
	for _, v := range cmd(t, s, "conc", "list", "lrange", float64(0), float64(-1)).([]any) {
		seen[v] = true
	}
	equal(t, "distinct elements", len(seen), workers*perWork)
}

// TestConcurrentInstances runs two Stores on one bus, as two hub instances sharing NATS: their
// read-modify-writes race through compare-and-set only, and each index sees the other's keys.
func TestConcurrentInstances(t *testing.T) {
	a := newStore(t, Options{})
	b := New(a.bus, Options{})
	defer b.Close()
	// Two Stores in one process share the in-process server: tell them there is another writer.
	a.follow, b.follow = true, true
	ctx := tctx(t)
	stores := []*Store{a, b}
	hammer(t, func(w, _ int) error {
		s := stores[w%2]
		if _, err := s.Call(ctx, "twin", "incrby", args("key", "counter", "args", arr(float64(2)))); err != nil {
			return err
		}
		_, err := s.Call(ctx, "twin", "sadd", args("key", "members", "args", arr(fmt.Sprint(w))))
		return err
	})
	// The stream holds every increment; each Store's cache may lag the other's writes a little.
	want := fmt.Sprint(2 * workers * perWork)
	equal(t, "counter in the stream", streamValue(t, b, "twin", "counter"), want)
	for _, s := range stores {
		eventually(t, "every Store reads the sum", 5*time.Second, func() bool {
			return cmd(t, s, "twin", "counter", "get") == want
		})
		eventually(t, "every Store reads every member", 5*time.Second, func() bool {
			return cmd(t, s, "twin", "members", "scard") == float64(workers)
		})
	}

	call(t, a, "twin", "set", args("key", "from-a", "value", "1"))
	eventually(t, "b lists a's key", 5*time.Second, func() bool {
		keys := call(t, b, "twin", "list", args("match", "from-*")).(map[string]any)["keys"].([]any)
		return len(keys) == 1
	})
	call(t, a, "twin", "delete", args("key", "from-a"))
	eventually(t, "b sees a's delete", 5*time.Second, func() bool {
		return call(t, b, "twin", "info", nil).(map[string]any)["count"] == float64(2)
	})
}

// TestConcurrentQuota creates keys from many goroutines against a small quota: exactly the
// quota's worth succeed.
func TestConcurrentQuota(t *testing.T) {
	s := newStore(t, Options{MaxKeys: 100})
	ctx := tctx(t)
	var mu sync.Mutex
	ok, full := 0, 0
	hammer(t, func(w, i int) error {
		_, err := s.Call(ctx, "q", "set", args("key", fmt.Sprint(w, "-", i), "value", "v"))
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			ok++
			return nil
		}
		if se := err.(interface{ StatusCode() int }); se.StatusCode() == 507 {
			full++
			return nil
		}
		return err
	})
	equal(t, "created", ok, 100)
	equal(t, "refused", full, workers*perWork-100)
	equal(t, "count", call(t, s, "q", "info", nil).(map[string]any)["count"], float64(100))
}
