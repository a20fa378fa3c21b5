package keystore

import (
	"context"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/service"
)

// The Keystore operations. Results are tables (map[string]any); see docs/keystore.md.

func (s *Store) opGet(ctx context.Context, solution string, t map[string]any) (any, error) {
	key, err := keyArg("get", t, "key")
	if err != nil {
		return nil, err
	}
	cur, _, err := s.read(ctx, "get", solution, key)
	if err != nil {
		return nil, err
	}
	if !cur.present {
		return map[string]any{"value": nil}, nil
	}
	if cur.typ != typeString {
		return nil, errWrongType()
	}
	return map[string]any{"value": string(cur.data)}, nil
}

func (s *Store) opSet(ctx context.Context, solution string, t map[string]any) (any, error) {
	key, err := keyArg("set", t, "key")
	if err != nil {
		return nil, err
	}
	value, err := valueText("set", "value", t["value"])
	if err != nil {
		return nil, err
	}
	b, err := s.writable(ctx, "set", solution)
	if err != nil {
		return nil, err
	}
	if err := s.writeString(ctx, "set", b, key, value, 0); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func (s *Store) opDelete(ctx context.Context, solution string, t map[string]any) (any, error) {
	key, err := keyArg("delete", t, "key")
	if err != nil {
		return nil, err
	}
	b, err := s.readable(ctx, "delete", solution)
	if err != nil {
		return nil, err
	}
	n := 0
	if b != nil {
		if n, err = s.deleteKey(ctx, "delete", b, key); err != nil {
			return nil, err
		}
	}
	return map[string]any{"deleted": float64(n)}, nil
}

// deleteKey deletes one key and reports whether it was live (1) or not (0). An expired value
// still stored is removed too.
func (s *Store) deleteKey(ctx context.Context, op string, b *bucket, key string) (int, error) {
	res, err := s.mutate(ctx, op, b, key, func(cur current, _ int64) (change, any, error) {
		if cur.present {
			return drop(), 1, nil
		}
		return drop(), 0, nil
	})
	if err != nil {
		return 0, err
	}
	return res.(int), nil
}

func (s *Store) opList(ctx context.Context, solution string, t map[string]any) (any, error) {
	const op = "list"
	match, hasMatch, err := optString(op, t, "match")
	if err != nil {
		return nil, err
	}
	var pat []byte
	if hasMatch && match != "" && match != "*" {
		pat = []byte(match)
	}
	cursor, _, err := optString(op, t, "cursor")
	if err != nil {
		return nil, err
	}
	after, hasAfter := "", false
	if cursor != "" {
		if after, hasAfter = decodeKey(cursor); !hasAfter {
			return nil, argErr(op, "cursor", "invalid cursor (pass the cursor a previous list returned)")
		}
	}
	count, hasCount, err := optInt(op, t, "count")
	if err != nil {
		return nil, err
	}
	switch {
	case !hasCount:
		count = DefaultListCount
	case count < 1:
		return nil, argErr(op, "count", "must be at least 1, got %d", count)
	case count > MaxListCount:
		count = MaxListCount
	}
	b, err := s.readable(ctx, op, solution)
	if err != nil {
		return nil, err
	}
	keys := []any{}
	if b == nil {
		return map[string]any{"keys": keys, "cursor": nil}, nil
	}
	if err := b.ensureIndex(ctx); err != nil {
		return nil, storageErr(ctx, op, err)
	}
	now := s.nowMs()
	var next any
	b.mu.Lock()
	sorted := b.sortedKeys()
	i := 0
	if hasAfter {
		i, _ = slices.BinarySearch(sorted, after)
		if i < len(sorted) && sorted[i] == after {
			i++
		}
	}
	for ; i < len(sorted); i++ {
		k := sorted[i]
		if !b.isLive(k, now) || (pat != nil && !globMatch(pat, []byte(k))) {
			continue
		}
		if int64(len(keys)) == count {
			// Another key follows: hand out a cursor after the last one returned.
			next = encodeKey(keys[len(keys)-1].(string))
			break
		}
		keys = append(keys, k)
	}
	b.mu.Unlock()
	return map[string]any{"keys": keys, "cursor": next}, nil
}

func (s *Store) opInfo(ctx context.Context, solution string) (any, error) {
	quota := map[string]any{"keys": float64(s.opts.MaxKeys), "value_bytes": float64(s.opts.MaxValueBytes)}
	b, err := s.readable(ctx, "info", solution)
	if err != nil {
		return nil, err
	}
	var count int
	var size int64
	if b != nil {
		if err := b.ensureIndex(ctx); err != nil {
			return nil, storageErr(ctx, "info", err)
		}
		b.mu.Lock()
		count, size = b.usage(s.nowMs())
		b.mu.Unlock()
	}
	return map[string]any{"count": float64(count), "size": float64(size), "quota": quota}, nil
}

// clearBatch is how many delete markers clear has in flight at once.
const clearBatch = 256

func (s *Store) opClear(ctx context.Context, solution string) (any, error) {
	const op = "clear"
	b, err := s.readable(ctx, op, solution)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return map[string]any{}, nil
	}
	if err := b.ensureIndex(ctx); err != nil {
		return nil, storageErr(ctx, op, err)
	}
	b.mu.Lock()
	var keys []string
	for k, e := range b.keys {
		if !e.dead {
			keys = append(keys, k)
		}
	}
	b.mu.Unlock()
	// Delete markers (not a stream purge) so the index of every hub instance sees the keys go;
	// they are published asynchronously in batches, as one round trip per key would make
	// clearing 10,000 keys slow.
	for len(keys) > 0 {
		batch := keys[:min(clearBatch, len(keys))]
		keys = keys[len(batch):]
		futures := make([]jetstream.PubAckFuture, 0, len(batch))
		for _, k := range batch {
			m := &nats.Msg{Subject: b.keySubject(k), Header: nats.Header{hdrKVOperation: []string{"DEL"}}}
			f, err := s.js.PublishMsgAsync(m)
			if err != nil {
				return nil, storageErr(ctx, op, err)
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case ack := <-f.Ok():
				b.applyOwn(batch[i], ack.Sequence, true, 0, nil)
			case err := <-f.Err():
				return nil, storageErr(ctx, op, err)
			case <-ctx.Done():
				return nil, storageErr(ctx, op, ctx.Err())
			}
		}
	}
	return map[string]any{}, nil
}

func (s *Store) opMget(ctx context.Context, solution string, t map[string]any) (any, error) {
	const op = "mget"
	keys, err := keyList(op, t, "keys")
	if err != nil {
		return nil, err
	}
	values := make(map[string]any, len(keys))
	b, err := s.readable(ctx, op, solution)
	if err != nil || b == nil {
		return map[string]any{"values": values}, err
	}
	now := s.nowMs()
	for _, k := range keys {
		st, err := b.load(ctx, k)
		if err != nil {
			return nil, storageErr(ctx, op, err)
		}
		// Like Redis' MGET, a key holding a list or a set reads as missing.
		if st.live(now) && st.typ == typeString {
			values[k] = string(st.data)
		}
	}
	return map[string]any{"values": values}, nil
}

func (s *Store) opMset(ctx context.Context, solution string, t map[string]any) (any, error) {
	const op = "mset"
	type pair struct{ key, value string }
	var pairs []pair
	vals := t["values"]
	if m, ok := vals.(map[string]any); ok && len(m) == 0 {
		// An empty table: no pairs in the key=value form, an empty list in the other.
		if _, has := t["keys"]; !has {
			return map[string]any{}, nil
		}
		vals = []any{}
	}
	switch vals := vals.(type) {
	case map[string]any:
		if _, has := t["keys"]; has {
			return nil, argErr(op, "values", "a table of key=value pairs goes without keys; with keys, values must be a list")
		}
		if len(vals) > MaxBatch {
			return nil, argErr(op, "values", "at most %d keys per call, got %d", MaxBatch, len(vals))
		}
		for k, v := range vals {
			key, err := checkKey(op, "values key", k)
			if err != nil {
				return nil, err
			}
			text, err := valueText(op, "values["+key+"]", v)
			if err != nil {
				return nil, err
			}
			pairs = append(pairs, pair{key, text})
		}
	case []any:
		keys, err := keyList(op, t, "keys")
		if err != nil {
			return nil, err
		}
		if len(keys) != len(vals) {
			return nil, argErr(op, "values", "has %d values for %d keys", len(vals), len(keys))
		}
		for i, k := range keys {
			text, err := valueText(op, "values["+strconv.Itoa(i+1)+"]", vals[i])
			if err != nil {
				return nil, err
			}
			pairs = append(pairs, pair{k, text})
		}
	case nil:
		return nil, argErr(op, "values", "required table of key=value pairs")
	default:
		return nil, argErr(op, "values", "must be a table, got %s", kind(vals))
	}
	// A key given twice keeps its last value.
	last := make(map[string]int, len(pairs))
	for i, p := range pairs {
		last[p.key] = i
	}
	for _, p := range pairs {
		if err := s.checkSize(op, 1+len(p.value)); err != nil {
			return nil, err
		}
	}
	if len(pairs) == 0 {
		return map[string]any{}, nil
	}
	b, err := s.writable(ctx, op, solution)
	if err != nil {
		return nil, err
	}
	// Reserve the quota for every new key up front: either all fit or nothing is written.
	now := s.nowMs()
	b.mu.Lock()
	fresh := 0
	for k := range last {
		if !b.isLive(k, now) {
			fresh++
		}
	}
	b.mu.Unlock()
	if err := b.reserveN(op, fresh, now); err != nil {
		return nil, err
	}
	defer b.release(fresh)
	for i, p := range pairs {
		if last[p.key] != i {
			continue
		}
		v := encodeString(p.value)
		rev, err := b.write(ctx, p.key, v, 0, anyRev)
		if err != nil {
			return nil, storageErr(ctx, op, err)
		}
		b.applyOwn(p.key, rev, false, 0, v)
	}
	return map[string]any{}, nil
}

func (s *Store) opMdelete(ctx context.Context, solution string, t map[string]any) (any, error) {
	const op = "mdelete"
	keys, err := keyList(op, t, "keys")
	if err != nil {
		return nil, err
	}
	b, err := s.readable(ctx, op, solution)
	if err != nil {
		return nil, err
	}
	deleted := 0
	if b != nil {
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			n, err := s.deleteKey(ctx, op, b, k)
			if err != nil {
				return nil, err
			}
			deleted += n
		}
	}
	return map[string]any{"deleted": float64(deleted)}, nil
}

var _ service.Caller = (*Store)(nil)
