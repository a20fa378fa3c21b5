// Package keystore is the Keystore core service: a per-solution key-value store with a subset of
// Redis' string, list, set and expiry commands, kept in NATS JetStream.
//
// Each solution has its own KV bucket (sb_ks_<solution>), created on its first write, so no key
// string can reach another solution's data. Keys are arbitrary byte strings, stored under their
// base64url form. Every read-modify-write is a compare-and-set on the key's revision, so
// concurrent updates from any number of goroutines or hub instances are never lost. See
// docs/keystore.md for the operations, their shapes and the storage layout.
package keystore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/service"
)

// Defaults and hard limits.
const (
	// DefaultMaxKeys is the per-solution key quota when Options.MaxKeys is 0.
	DefaultMaxKeys = 10_000
	// DefaultMaxValueBytes is the largest stored value when Options.MaxValueBytes is 0.
	DefaultMaxValueBytes = 1 << 20
	// MaxKeyBytes is the longest key, in bytes.
	MaxKeyBytes = 1024
	// MaxBatch is the most keys one mget, mset or mdelete may name.
	MaxBatch = 1000
	// DefaultListCount and MaxListCount bound the keys one list call returns.
	DefaultListCount = 100
	MaxListCount     = 1000

	// payloadHeadroom is kept free below the connection's max payload for message headers.
	payloadHeadroom = 4 << 10
	// bucketPrefix names the solution's bucket: bucketPrefix + solution.
	bucketPrefix = "sb_ks_"
)

// validSolution reports whether id is a solution id: 1 to 63 characters of [a-z0-9-], not
// starting with '-'. It is on every call's path, where a regular expression cost about 5% of a
// Keystore.get.
func validSolution(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// Options tune a Store. The zero value is usable.
type Options struct {
	// MaxKeys is the most live keys one solution may hold; a write that would create one more
	// fails with status 507. 0 means DefaultMaxKeys (10,000).
	MaxKeys int
	// MaxValueBytes is the largest value: a string's length, or a list's or set's encoded size
	// (its elements plus a length prefix each). A larger write fails with status 413. 0 means
	// DefaultMaxValueBytes (1 MiB). It is lowered to fit the connection's max payload (8 MiB on
	// the embedded server) less 4 KiB for headers.
	MaxValueBytes int
	// Now is the clock expiries are measured against; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// SweepInterval is how often expired keys are deleted from storage; 0 means one second.
	// An expired key is invisible from the moment it expires, whatever this interval.
	SweepInterval time.Duration
	// Logger receives housekeeping failures; nil means slog.Default().
	Logger *slog.Logger
	// Exists reports whether a solution exists. When set, a write for a solution it does not
	// know fails with status 404 and leaves nothing behind, so a run still going when its
	// solution is deleted cannot bring the deleted keystore back. nil allows every solution.
	Exists func(solution string) bool
	// NoFence keeps every bucket open to other writers (see fence.go): a busy bucket's only
	// writer then waits for a catch-up round on each SET of the value a key holds.
	NoFence bool
}

// Store is the Keystore service. It is safe for concurrent use.
type Store struct {
	bus  *bus.Bus
	js   jetstream.JetStream
	opts Options
	now  func() time.Time
	log  *slog.Logger

	// markerAge is how long a delete marker stays in a bucket before the sweeper purges it: long
	// enough for the index of every other hub instance to have seen the deletion.
	markerAge atomic.Int64 // time.Duration
	// idleAfter is how long a solution's index stays loaded without calls.
	idleAfter atomic.Int64 // time.Duration
	// follow keeps each index consuming its bucket's changes after loading, to learn about
	// writes of other processes. Only needed when another process can reach the server: with an
	// embedded server that listens in-process only, this Store is the sole writer and its own
	// writes are applied directly, which saves a consumer delivery per write.
	follow bool
	// indexHook, when set (by tests, before the first call), runs before the index applies
	// each message of its consumer, to hold the index back.
	indexHook func()
	// syncRounds counts catch-up rounds (see follow.go).
	syncRounds atomic.Int64
	// fence lets a busy bucket's only writer fence it (see fence.go); fenceID names this
	// instance in lock records and subjects.
	fence      bool
	fenceID    string
	releaseSub *nats.Subscription
	// fencesTaken, releasesAsked and releasesGiven count fences taken by this instance, release
	// requests it made, and those it answered.
	fencesTaken, releasesAsked, releasesGiven atomic.Int64
	// streamReads counts reads that went to the stream rather than the cache (see cache.go).
	streamReads atomic.Int64
	// bucketLookups counts the times a solution's bucket was looked up in JetStream.
	bucketLookups atomic.Int64

	buckets sync.Map // solution → *bucket
	absent  sync.Map // solution → struct{}: known to have no bucket (sole writer only)
	mu      sync.Mutex
	opening map[string]chan struct{} // solutions being opened, closed when done

	// stripes serialise read-modify-writes of one key within this process, so goroutines of
	// one instance do not burn compare-and-set retries against each other; conflicts with other
	// instances are still settled by the revision check.
	stripes [1024]sync.Mutex

	// combining holds the keys with read-modify-writes queued, each drained by one goroutine
	// that writes many of them at once (see mutate).
	combineMu sync.Mutex
	combining map[string]*combined
	seed      maphash.Seed

	closed atomic.Bool
	stop   context.CancelFunc
	done   chan struct{}
}

// New returns a Store on b and starts its sweeper. Close stops it.
func New(b *bus.Bus, o Options) *Store {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.MaxValueBytes <= 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	limit := 8<<20 - payloadHeadroom
	if nc := b.Conn(); nc != nil && nc.MaxPayload() > 0 && int(nc.MaxPayload())-payloadHeadroom < limit {
		limit = int(nc.MaxPayload()) - payloadHeadroom
	}
	if o.MaxValueBytes > limit {
		o.MaxValueBytes = limit
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		bus:     b,
		js:      b.JetStream(),
		opts:    o,
		now:     now,
		log:     o.Logger.With("service", "keystore"),
		opening: map[string]chan struct{}{},
		seed:    maphash.MakeSeed(),
		follow:  !b.Embedded() || b.ClientURL() != "",
		stop:    cancel,
		done:    make(chan struct{}),
	}
	s.markerAge.Store(int64(10 * time.Minute))
	s.idleAfter.Store(int64(10 * time.Minute))
	if nc := b.Conn(); s.follow && !o.NoFence && nc != nil && supportsFence(nc.ConnectedServerVersion()) {
		s.fenceID = nats.NewInbox()[len(nats.InboxPrefix):]
		sub, err := nc.Subscribe(s.releaseSubject(), s.onRelease)
		if err != nil {
			s.log.Warn("keystore: no fencing", "err", err)
		} else {
			s.fence, s.releaseSub = true, sub
		}
	}
	go s.sweepLoop(ctx)
	return s
}

// Options returns the options in force, defaults filled in.
func (s *Store) Options() Options { return s.opts }

// Close stops the sweeper and the index watchers. Calls after Close fail with status 503.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.fence {
		s.giveUpAll()
		_ = s.releaseSub.Unsubscribe()
	}
	s.stop()
	<-s.done
	s.buckets.Range(func(k, v any) bool {
		s.buckets.Delete(k)
		v.(*bucket).stopIndex()
		return true
	})
	return nil
}

// Drop deletes everything the solution has: its bucket goes, with every key in it.
func (s *Store) Drop(ctx context.Context, solution string) error {
	if !validSolution(solution) {
		return fmt.Errorf("keystore: drop: invalid solution id %q", solution)
	}
	if v, ok := s.buckets.LoadAndDelete(solution); ok {
		v.(*bucket).stopIndex()
	}
	err := s.js.DeleteKeyValue(ctx, bucketPrefix+solution)
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("keystore: drop %s: %w", solution, err)
	}
	return nil
}

// bucket returns the solution's bucket. When it does not exist yet it is created if create is
// set, and otherwise (a read) nil is returned without creating anything.
func (s *Store) bucket(ctx context.Context, solution string, create bool) (*bucket, error) {
	for {
		if v, ok := s.buckets.Load(solution); ok {
			b := v.(*bucket)
			b.touch()
			return b, nil
		}
		if !create && !s.follow {
			// The sole writer knows a bucket it has not created does not exist: reads of a
			// solution that never wrote ask the stream once, not on every call.
			if _, none := s.absent.Load(solution); none {
				return nil, nil
			}
		}
		s.mu.Lock()
		if v, ok := s.buckets.Load(solution); ok {
			s.mu.Unlock()
			b := v.(*bucket)
			b.touch()
			return b, nil
		}
		if wait, ok := s.opening[solution]; ok {
			// Another call is opening it: wait and look again (it may have been a read that
			// found no bucket, in which case this call opens it itself).
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.opening[solution] = done
		s.mu.Unlock()

		b, err := s.openBucket(ctx, solution, create)

		s.mu.Lock()
		delete(s.opening, solution)
		if b != nil && !s.closed.Load() {
			s.buckets.Store(solution, b)
		}
		if b != nil {
			s.absent.Delete(solution)
		} else if err == nil && !s.follow {
			s.absent.Store(solution, struct{}{})
		}
		s.mu.Unlock()
		close(done)
		return b, err
	}
}

func (s *Store) openBucket(ctx context.Context, solution string, create bool) (*bucket, error) {
	name := bucketPrefix + solution
	streamName := "KV_" + name
	s.bucketLookups.Add(1)
	stream, err := s.bus.Stream(ctx, streamName, false)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return nil, nil
		}
		_, err = s.bus.KeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      name,
			Description: "Keystore of solution " + solution,
			// One revision per key: a key's message is its current value (or delete marker).
			History: 1,
		})
		if err != nil {
			return nil, err
		}
		stream, err = s.bus.Stream(ctx, streamName, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	return newBucket(s, solution, stream), nil
}

// forget drops a cached bucket whose stream went away (deleted by another instance), so the next
// call looks it up again.
func (s *Store) forget(b *bucket) {
	if s.buckets.CompareAndDelete(b.solution, b) {
		b.stopIndex()
		if b.ownPrefix.Load() != nil {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := b.giveUp(ctx); err != nil {
					s.log.Warn("keystore: give up fence", "solution", b.solution, "err", err)
				}
			}()
		}
	}
}

// stripe is the in-process lock for read-modify-writes of one key.
func (s *Store) stripe(solution, key string) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(solution)
	h.WriteByte(0)
	h.WriteString(key)
	return &s.stripes[h.Sum64()%uint64(len(s.stripes))]
}

// nowMs is the store's clock in unix milliseconds, the unit of stored expiries.
func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// Spec describes the service and every operation.
func (s *Store) Spec() service.Spec {
	ops := []service.Operation{
		{Name: "get", Description: "Get a string value: {key} → {value=string or nil}."},
		{Name: "set", Description: "Set a string value, clearing any expiry: {key, value} → {}."},
		{Name: "delete", Description: "Delete a key: {key} → {deleted=0 or 1}."},
		{Name: "list", Description: "List keys by glob, paged: {match?, cursor?, count?} → {keys, cursor}."},
		{Name: "info", Description: "Key count, bytes used and quota: {} → {count, size, quota={keys, value_bytes}}."},
		{Name: "clear", Description: "Delete every key of the solution: {} → {}."},
		{Name: "mget", Description: "Get several string values: {keys} → {values={key=value, …}} (missing keys absent)."},
		{Name: "mset", Description: "Set several string values: {values={key=value, …}} or {keys, values} → {}."},
		{Name: "mdelete", Description: "Delete several keys: {keys} → {deleted=n}."},
		{Name: "command", Description: "Run a Redis command on one key: {key, command, args} → {value=result}."},
	}
	for _, c := range commandList {
		if c.name == "get" || c.name == "set" {
			continue // the Keystore operations of the same name; the command form reaches these
		}
		ops = append(ops, service.Operation{Name: c.name, Description: "Redis " + c.usage + ": {key, args} → {value=result}."})
	}
	return service.Spec{
		Name:        "keystore",
		Kind:        service.KindCore,
		Description: "Per-solution key-value store with Redis string, list, set and expiry commands.",
		Operations:  ops,
	}
}
