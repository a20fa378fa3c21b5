package keystore

// The index knows every key's revision: exactly when this process is the bucket's only writer
// (the embedded server in-process only, see Store.follow), and with other writers as of its
// consumer's lag (see follow.go). Values this process wrote or read at the revision the index
// holds answer reads without asking the stream.
//
// Which reads use the cache: get, mget and the read-only commands (strlen, getrange, lrange,
// llen, lindex, smembers, sismember, scard, exists, ttl, type and the like), and the first read
// of a read-modify-write. A read-modify-write (incr, setnx, append, the list and set edits,
// delete, expire, ...) writes with the revision it read as a compare-and-set: a revision the
// cache had stale makes the write fail, and it retries after reading the stream, so a stale
// cache costs a retry and never loses an update. A SET needs no read, except to skip storing a
// value the key already holds, which with other writers waits until the index caught up
// (bucket.unchanged).

const (
	// maxCachedValue is the largest value (type byte + payload) kept in memory.
	maxCachedValue = 16 << 10
	// maxCachedBytes bounds a bucket's cached values; past it the cache starts over.
	maxCachedBytes = 4 << 20
)

// cachedValue is a key's value at revision rev.
type cachedValue struct {
	rev  uint64
	exp  int64
	data []byte // type byte + payload; never changed once cached
}

// isLoaded reports whether the index holds every key of the bucket.
func (b *bucket) isLoaded() bool {
	select {
	case <-b.ready:
		return true
	default:
		return false
	}
}

// cached answers a read from memory when the index is authoritative: a key the index does not
// hold does not exist, a tombstone is a deleted key, and a live key is served if its value at
// the index's revision is cached. ok is false when the stream must be asked.
func (b *bucket) cached(key string) (st stored, ok bool) {
	if !b.isLoaded() || (b.s.follow && !b.following()) {
		return stored{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, known := b.keys[key]
	switch {
	case !known:
		return stored{}, true
	case e.dead:
		return stored{rev: e.rev}, true
	}
	v, hit := b.vals[key]
	if !hit || v.rev != e.rev {
		return stored{}, false
	}
	// Callers may build on data (append, list edits): hand out a copy.
	data := append([]byte(nil), v.data[1:]...)
	return stored{rev: v.rev, present: true, exp: v.exp, typ: v.data[0], data: data}, true
}

// remember caches value (type byte + payload) as key's value at rev, if rev is the index's
// current revision of the key; a cached value of an older revision is dropped. A late
// acknowledgement of an older write leaves a newer cached value alone. Callers hold b.mu.
func (b *bucket) remember(key string, rev uint64, exp int64, value []byte) {
	e, known := b.keys[key]
	old, had := b.vals[key]
	if had && (!known || old.rev != e.rev || rev == e.rev) {
		b.valBytes -= int64(len(old.data))
		delete(b.vals, key)
	}
	if !known || e.rev != rev || e.dead || len(value) == 0 || len(value) > maxCachedValue {
		return
	}
	if b.valBytes+int64(len(value)) > maxCachedBytes {
		clear(b.vals)
		b.valBytes = 0
	}
	b.vals[key] = cachedValue{rev: rev, exp: exp, data: append([]byte(nil), value...)}
	b.valBytes += int64(len(value))
}

// forgetValue drops key's cached value (after a compare-and-set found the key changed).
func (b *bucket) forgetValue(key string) {
	b.mu.Lock()
	if old, had := b.vals[key]; had {
		b.valBytes -= int64(len(old.data))
		delete(b.vals, key)
	}
	b.mu.Unlock()
}

// holds reports whether the cache says key holds exactly value (type byte + payload) with no
// expiry. Only the sole writer can take that as the truth; others see bucket.unchanged.
func (b *bucket) holds(key string, value []byte) bool {
	if !b.isLoaded() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, known := b.keys[key]
	if !known || e.dead || e.exp != 0 {
		return false
	}
	v, hit := b.vals[key]
	return hit && v.rev == e.rev && v.exp == 0 && string(v.data) == string(value)
}
