package keystore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/clustertest"
)

// TestFreshBucketOnCluster: three instances, each on its own node of a 3-node cluster, write
// to a solution's keystore at the same moment, before its bucket exists. Whichever creates
// the replicated bucket, none of the three fails or waits out its deadline while the new
// stream elects a leader, and each then reads what all three wrote.
func TestFreshBucketOnCluster(t *testing.T) {
	stores := clusterStores(t)
	// A stalled request waits out the JetStream API's 5 s; the calls get less than that.
	const deadline = 4 * time.Second
	for round := range 10 {
		sol := fmt.Sprint("fresh", round)
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				if _, err := s.Call(ctx, sol, "set", args("key", fmt.Sprint("k", i), "value", "v")); err != nil {
					t.Errorf("solution %s: set through instance %d: %v", sol, i, err)
				}
			})
		}
		wg.Wait()
		// Another instance's write reaches this one's index a little after it is stored (see
		// follow.go): each read is retried until it shows, within the same deadline.
		for i, s := range stores {
			for k := range stores {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				var got any
				var err error
				for ctx.Err() == nil {
					if got, err = s.Call(ctx, sol, "get", args("key", fmt.Sprint("k", k))); err != nil {
						break
					}
					if v, _ := got.(map[string]any); v["value"] == "v" {
						break
					}
					time.Sleep(5 * time.Millisecond) // polling another instance's write into view
				}
				cancel()
				if v, _ := got.(map[string]any); err != nil || v["value"] != "v" {
					t.Errorf("solution %s: get k%d through instance %d: %v, %v; want v", sol, k, i, got, err)
				}
			}
		}
	}
}

// TestReadFreshBucketOnCluster: two instances, on two nodes of a 3-node cluster, poll a key of
// a solution whose bucket does not exist yet, while an instance on the third node writes it,
// making the replicated bucket. The readers find the new stream the moment it exists, before
// anything answers its direct gets on their nodes (without a leader yet, or before their node
// learnt of its responders): their reads answer nothing, then the value, and never fail.
func TestReadFreshBucketOnCluster(t *testing.T) {
	stores := clusterStores(t)
	const deadline = 4 * time.Second
	for round := range 20 {
		sol := fmt.Sprint("read", round)
		writer := round % len(stores)
		var wg sync.WaitGroup
		polling := make(chan struct{}, len(stores))
		for i, s := range stores {
			if i == writer {
				continue
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				for n := 0; ; n++ {
					got, err := s.Call(ctx, sol, "mget", args("keys", []any{"k"}))
					if n == 0 {
						polling <- struct{}{}
					}
					if err != nil {
						t.Errorf("solution %s: mget through instance %d: %v", sol, i, err)
						return
					}
					if v, _ := got.(map[string]any)["values"].(map[string]any); v["k"] == "v" {
						return
					}
					if ctx.Err() != nil {
						t.Errorf("solution %s: instance %d never read the value", sol, i)
						return
					}
					time.Sleep(time.Millisecond) // polling for the write
				}
			})
		}
		for range len(stores) - 1 {
			<-polling
		}
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		if _, err := stores[writer].Call(ctx, sol, "set", args("key", "k", "value", "v")); err != nil {
			t.Errorf("solution %s: set: %v", sol, err)
		}
		cancel()
		wg.Wait()
	}
}

// clusterStores starts a 3-node cluster and a store on each node, as three instances.
func clusterStores(t *testing.T) []*Store {
	t.Helper()
	c := clustertest.Start(t)
	var stores []*Store
	for i, name := range c.Names() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		b, err := bus.Open(ctx, bus.Config{URL: c.URL(name), Name: fmt.Sprint("instance-", i)})
		cancel()
		if err != nil {
			t.Fatalf("connect to %s: %v", name, err)
		}
		s := New(b, Options{})
		t.Cleanup(func() {
			s.Close()
			b.Close()
		})
		stores = append(stores, s)
	}
	return stores
}
