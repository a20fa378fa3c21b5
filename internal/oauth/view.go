package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// view is this instance's copy of a bucket, kept fresh by a watch, so token requests and
// verifications do not read KV. A record another instance wrote a moment ago may not have
// arrived yet: fetch then asks KV, a few requests at a time so that a flood of made-up
// names cannot turn into a flood of KV reads.
type view[T any] struct {
	kv     jetstream.KeyValue
	what   string
	decode func(key string, raw []byte) (T, error)
	log    *slog.Logger
	sem    chan struct{} // bounds concurrent KV reads on a miss

	mu sync.RWMutex
	m  map[string]ventry[T]
}

// ventry is a record at a revision; gone is a delete, kept so an older watch event cannot
// bring the record back.
type ventry[T any] struct {
	rev  uint64
	val  T
	gone bool
}

func newView[T any](kv jetstream.KeyValue, what string, log *slog.Logger, decode func(string, []byte) (T, error)) *view[T] {
	return &view[T]{kv: kv, what: what, decode: decode, log: log, sem: make(chan struct{}, 4), m: map[string]ventry[T]{}}
}

// apply brings the view up to a watched (or just read) entry.
func (v *view[T]) apply(e jetstream.KeyValueEntry) {
	if e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge {
		v.set(e.Key(), ventry[T]{rev: e.Revision(), gone: true})
		return
	}
	val, err := v.decode(e.Key(), e.Value())
	if err != nil {
		v.log.Error("skip unreadable record", "bucket", v.what, "key", e.Key(), "err", err)
		return
	}
	v.set(e.Key(), ventry[T]{rev: e.Revision(), val: val})
}

func (v *view[T]) set(key string, e ventry[T]) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur, ok := v.m[key]; ok && cur.rev >= e.rev {
		return
	}
	v.m[key] = e
}

// forget marks key deleted at its current revision: the watch's delete, with a later
// revision, confirms it.
func (v *view[T]) forget(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur, ok := v.m[key]; ok {
		v.m[key] = ventry[T]{rev: cur.rev, gone: true}
	}
}

// get is the record in the view; known reports the view has heard of key at all.
func (v *view[T]) get(key string) (val T, ok, known bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	e, known := v.m[key]
	return e.val, known && !e.gone, known
}

// fetch is get, asking KV when the view has never heard of key.
func (v *view[T]) fetch(ctx context.Context, key string) (T, bool, error) {
	val, ok, known := v.get(key)
	if known {
		return val, ok, nil
	}
	select {
	case v.sem <- struct{}{}:
		defer func() { <-v.sem }()
	case <-ctx.Done():
		return val, false, ctx.Err()
	}
	e, err := v.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return val, false, nil
	case err != nil:
		return val, false, fmt.Errorf("read %s %s: %w", v.what, key, err)
	}
	v.apply(e)
	val, ok, _ = v.get(key)
	return val, ok, nil
}

// all is every live record, by key order.
func (v *view[T]) all() []T {
	v.mu.RLock()
	keys := make([]string, 0, len(v.m))
	for k, e := range v.m {
		if !e.gone {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, v.m[k].val)
	}
	v.mu.RUnlock()
	return out
}
