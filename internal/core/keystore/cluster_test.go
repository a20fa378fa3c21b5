package keystore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/clustertest"
)

// TestFreshBucketOnCluster: three instances, each on its own node of a 3-node cluster, write
// to a solution's keystore at the same moment, before its bucket exists. Whichever creates
// the replicated bucket, none of the three fails or waits out its deadline while the new
// stream elects a leader, and each then reads what all three wrote.
func TestFreshBucketOnCluster(t *testing.T) {
	stores := storesOnCluster(t, 3)
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

// TestSameValueSetOnCluster: a set of the value an instance's cache holds is not skipped while
// another instance's write, acknowledged before the set began, has not reached that cache: on
// replicated buckets the catch-up round asks the stream's leader (follow.go).
func TestSameValueSetOnCluster(t *testing.T) {
	stores := storesOnCluster(t, 2)
	a, b := stores[0], stores[1]
	for i := range 30 {
		key := fmt.Sprint("k", i)
		call(t, a, "same", "set", args("key", key, "value", "mine"))
		equal(t, "a reads its own write", cmd(t, a, "same", key, "get"), "mine")
		call(t, b, "same", "set", args("key", key, "value", "theirs"))
		// a's cache may still say "mine": the set must be stored all the same.
		call(t, a, "same", "set", args("key", key, "value", "mine"))
		eventually(t, "b to read a's last set of "+key, 5*time.Second, func() bool {
			return cmd(t, b, "same", key, "get") == "mine"
		})
	}
}

// TestReadFreshBucketOnCluster: two instances, on two nodes of a 3-node cluster, poll a key of
// a solution whose bucket does not exist yet, while an instance on the third node writes it,
// making the replicated bucket. The readers find the new stream the moment it exists, before
// anything answers its direct gets on their nodes (without a leader yet, or before their node
// learnt of its responders): their reads answer nothing, then the value, and never fail.
func TestReadFreshBucketOnCluster(t *testing.T) {
	stores := storesOnCluster(t, 3)
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

// storesOnCluster starts a 3-node cluster and n Stores, each on its own node as an instance
// of its own would be.
func storesOnCluster(t testing.TB, n int) []*Store {
	t.Helper()
	c := clustertest.Start(t)
	var stores []*Store
	for i, name := range c.Names()[:n] {
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

// BenchmarkSetGetFollowingCluster is BenchmarkSetGetFollowing with the bucket on a 3-node
// cluster (3 replicas).
func BenchmarkSetGetFollowingCluster(b *testing.B) {
	benchSetGetFollowing(b, storesOnCluster(b, 1)[0])
}

// TestCatchUpAfterPurge: a catch-up round first asks the stream's leader for its last sequence
// by a refused publish (probeLast), on one replica and on three. When that message is gone
// before the index saw it (the sweeper purged an expired key that was the newest message), the
// round does not wait for it: it asks whether any message exists beyond what the index
// applied, and holds when none does.
func TestCatchUpAfterPurge(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *Store{
		"one replica":    func(t *testing.T) *Store { return newStore(t, Options{}) },
		"three replicas": func(t *testing.T) *Store { return storesOnCluster(t, 1)[0] },
	} {
		t.Run(name, func(t *testing.T) { catchUpAfterPurge(t, open(t)) })
	}
}

func catchUpAfterPurge(t *testing.T, s *Store) {
	s.follow = true
	call(t, s, "purged", "set", args("key", "kept", "value", "v"))
	call(t, s, "purged", "set", args("key", "gone", "value", "v"))
	bk, err := s.readable(tctx(t), "get", "purged")
	if err != nil || bk == nil {
		t.Fatalf("bucket: %v", err)
	}
	last, err := bk.probeLast(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "probed last sequence", last, uint64(2))
	eventually(t, "the index to apply both writes", 5*time.Second, func() bool {
		bk.mu.Lock()
		defer bk.mu.Unlock()
		return bk.seen >= 2
	})
	if err := bk.stream.Purge(tctx(t), jetstream.WithPurgeSubject(bk.subject("gone"))); err != nil {
		t.Fatal(err)
	}
	// As if the index had never seen the purged message.
	bk.mu.Lock()
	bk.seen = 1
	bk.mu.Unlock()
	last, err = bk.probeLast(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "probed last sequence after the purge", last, uint64(2))
	for _, tc := range []struct{ seen, want uint64 }{{0, 1}, {1, 0}} {
		next, err := bk.after(tctx(t), tc.seen)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, fmt.Sprintf("first message after %d", tc.seen), next, tc.want)
	}
	if err := bk.catchUp(tctx(t)); err != nil {
		t.Fatalf("catch-up round with the newest message purged: %v", err)
	}
	// A probe stores nothing.
	info, err := bk.stream.Info(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "messages in the bucket", info.State.Msgs, uint64(1))
}
