package api

import (
	"sync"
	"testing"
	"time"
)

func TestKeyLocks(t *testing.T) {
	t.Parallel()
	var k keyLocks
	// Same key: the holders take turns (the race detector sees any overlap).
	counter := 0
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := k.lock("demo/svc")
			counter++
			unlock()
		}()
	}
	wg.Wait()
	if counter != 50 {
		t.Errorf("counter = %d; want 50", counter)
	}
	// Another key does not wait for a held one.
	unlock := k.lock("demo/svc")
	done := make(chan struct{})
	go func() { k.lock("demo/other")(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a lock on another key waited for demo/svc")
	}
	unlock()
	k.mu.Lock()
	left := len(k.locks)
	k.mu.Unlock()
	if left != 0 {
		t.Errorf("%d locks left after every holder let go; want 0", left)
	}
}
