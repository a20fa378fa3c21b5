package keystore

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/switchboardhq/switchboard/internal/service"
)

// maxAttempts bounds the compare-and-set retries of one read-modify-write. Within one process
// writers of a key queue on its stripe lock, so retries only come from other hub instances or
// from unconditional sets racing with it.
const maxAttempts = 100

type changeKind uint8

const (
	keepIt changeKind = iota // leave the key as it is
	putIt                    // store value with expiry exp
	dropIt                   // delete the key
)

// change is what a read-modify-write decided to do with the key.
type change struct {
	kind  changeKind
	value []byte // type byte + payload
	exp   int64
}

func keep() change { return change{} }
func drop() change { return change{kind: dropIt} }
func putString(v string, exp int64) change {
	return change{kind: putIt, value: encodeString(v), exp: exp}
}
func putItems(t byte, items []string, exp int64) change {
	if len(items) == 0 {
		// Redis deletes a list or set when its last element goes.
		return drop()
	}
	return change{kind: putIt, value: encodeItems(t, items), exp: exp}
}

// current is a read-modify-write's view of the key: present is false when the key is missing or
// expired (then typ, data and exp are zero).
type current struct {
	present bool
	typ     byte
	data    []byte
	exp     int64
}

// view masks an expired value as missing.
func view(st stored, now int64) current {
	if !st.live(now) {
		return current{}
	}
	return current{present: true, typ: st.typ, data: st.data, exp: st.exp}
}

// mutateFunc decides the change from the key's current state at now (unix ms) and returns the
// result for the script.
type mutateFunc func(cur current, now int64) (change, any, error)

// mutate runs fn as a compare-and-set on the key's revision, re-reading and re-running it until
// the write lands on the revision it read, so no concurrent update is lost.
//
// Read-modify-writes of one key that arrive while one is being written queue up, and the next
// write applies them all, in order, each to the value the one before it left: one round trip to
// JetStream for many increments of a hot counter, each caller still answered with its own
// result once the write holding it is stored.
func (s *Store) mutate(ctx context.Context, op string, b *bucket, key string, fn mutateFunc) (any, error) {
	m := &mutation{op: op, fn: fn, done: make(chan mutationResult, 1)}
	k := b.solution + "\x00" + key
	s.combineMu.Lock()
	c := s.combining[k]
	if c == nil {
		if s.combining == nil {
			s.combining = map[string]*combined{}
		}
		c = &combined{}
		s.combining[k] = c
		go s.drain(k, c, b, key)
	}
	c.queue = append(c.queue, m)
	s.combineMu.Unlock()
	select {
	case r := <-m.done:
		return r.res, r.err
	case <-ctx.Done():
	}
	s.combineMu.Lock()
	if i := slices.Index(c.queue, m); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
		s.combineMu.Unlock()
		return nil, storageErr(ctx, op, ctx.Err())
	}
	s.combineMu.Unlock()
	// Already being written: its outcome is on the way, and is the answer.
	r := <-m.done
	return r.res, r.err
}

// combined is the read-modify-writes of one key waiting for the next write.
type combined struct{ queue []*mutation }

type mutation struct {
	op   string
	fn   mutateFunc
	done chan mutationResult
}

type mutationResult struct {
	res any
	err error
}

// mutateTimeout bounds one write of queued read-modify-writes, whose callers may have gone.
const mutateTimeout = 30 * time.Second

// drain writes the key's queued read-modify-writes until none is left.
func (s *Store) drain(k string, c *combined, b *bucket, key string) {
	for {
		s.combineMu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			delete(s.combining, k)
			s.combineMu.Unlock()
			return
		}
		s.combineMu.Unlock()
		results := s.apply(b, key, batch)
		for i, m := range batch {
			m.done <- results[i]
		}
	}
}

// apply runs batch's functions in order on the key's value and writes the outcome once.
func (s *Store) apply(b *bucket, key string, batch []*mutation) []mutationResult {
	mu := s.stripe(b.solution, key)
	mu.Lock()
	defer mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), mutateTimeout)
	defer cancel()
	results := make([]mutationResult, len(batch))
	// fail gives every function that did not fail on its own the storage error.
	fail := func(err error) []mutationResult {
		for i, m := range batch {
			if results[i].err == nil {
				results[i] = mutationResult{err: storageErr(ctx, m.op, err)}
			}
		}
		return results
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 2 {
			// Back off a little against writers in other processes.
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
		}
		// The first attempt may read the cache; after a conflict it was stale (another
		// instance wrote the key), so read the stream.
		load := b.load
		if attempt > 0 {
			load = b.fetch
		}
		st, err := load(ctx, key)
		if err != nil {
			return fail(err)
		}
		now := s.nowMs()
		cur := view(st, now)
		was := cur.present
		final := keep()
		for i, m := range batch {
			ch, res, err := safely(m, cur, now)
			if err == nil && ch.kind == putIt {
				err = s.checkSize(m.op, len(ch.value))
			}
			if err != nil {
				results[i] = mutationResult{err: err}
				continue
			}
			results[i] = mutationResult{res: res}
			switch ch.kind {
			case putIt:
				cur = current{present: true, typ: ch.value[0], data: ch.value[1:], exp: ch.exp}
				final = ch
			case dropIt:
				cur = current{}
				final = ch
			}
		}
		switch final.kind {
		case keepIt:
			return results
		case dropIt:
			if !st.present {
				return results
			}
			rev, err := b.remove(ctx, key, st.rev)
			if isConflict(err) {
				b.forgetValue(key)
				continue
			}
			if err != nil {
				return fail(err)
			}
			b.applyOwn(key, rev, true, 0, nil)
			return results
		case putIt:
			if !was {
				if err := b.reserve(batch[0].op, now); err != nil {
					for i := range results {
						results[i] = mutationResult{err: err}
					}
					return results
				}
			}
			rev, err := b.write(ctx, key, final.value, final.exp, st.rev)
			if err == nil {
				b.applyOwn(key, rev, false, final.exp, final.value)
			}
			if !was {
				b.release(1)
			}
			if isConflict(err) {
				b.forgetValue(key)
				continue
			}
			if err != nil {
				return fail(err)
			}
			return results
		}
	}
	for i, m := range batch {
		results[i] = mutationResult{err: service.Errorf(statusUnavailable, "keystore.%s: key is updated too often concurrently; try again", m.op)}
	}
	return results
}

// checkSize refuses a stored value (type byte + payload, n bytes in all) whose payload is larger
// than MaxValueBytes. The type byte is not counted, so a 1 MiB string fits a 1 MiB limit.
func (s *Store) checkSize(op string, n int) error {
	if n-1 > s.opts.MaxValueBytes {
		return service.Errorf(statusTooLarge, "keystore.%s: value too large: %d bytes, the maximum is %d", op, n-1, s.opts.MaxValueBytes)
	}
	return nil
}

// writeString stores a string unconditionally (SET semantics: any type and expiry are replaced).
// It needs no read: the index says whether the key is new for the quota.
func (s *Store) writeString(ctx context.Context, op string, b *bucket, key, value string, exp int64) error {
	v := encodeString(value)
	if err := s.checkSize(op, len(v)); err != nil {
		return err
	}
	if exp == 0 && b.unchanged(ctx, key, v) {
		return nil // the key already holds exactly this, with no expiry: nothing would change
	}
	now := s.nowMs()
	b.mu.Lock()
	live := b.isLive(key, now)
	b.mu.Unlock()
	if !live {
		if err := b.reserve(op, now); err != nil {
			return err
		}
		defer b.release(1)
	}
	rev, err := b.write(ctx, key, v, exp, anyRev)
	if err != nil {
		return storageErr(ctx, op, err)
	}
	b.applyOwn(key, rev, false, exp, v)
	return nil
}

// writable returns the solution's bucket, created if needed, with its index loaded (the quota
// needs it).
func (s *Store) writable(ctx context.Context, op, solution string) (*bucket, error) {
	if !s.exists(solution) {
		return nil, goneErr(op, solution)
	}
	b, err := s.bucket(ctx, solution, true)
	if err != nil {
		return nil, storageErr(ctx, op, err)
	}
	if !s.exists(solution) {
		// Deleted while the bucket was being opened (perhaps created): the deletion's own Drop
		// may have run before that, so drop again.
		if derr := s.Drop(context.WithoutCancel(ctx), solution); derr != nil {
			s.log.Error("drop the keystore of a deleted solution", "solution", solution, "err", derr)
		}
		return nil, goneErr(op, solution)
	}
	if err := b.ensureIndex(ctx); err != nil {
		return nil, storageErr(ctx, op, err)
	}
	return b, nil
}

// readable returns the solution's bucket, or nil when it has none (nothing is created).
func (s *Store) readable(ctx context.Context, op, solution string) (*bucket, error) {
	b, err := s.bucket(ctx, solution, false)
	if err != nil {
		return nil, storageErr(ctx, op, err)
	}
	return b, nil
}

// read loads a key for a read-only operation; a solution without a bucket reads as empty.
func (s *Store) read(ctx context.Context, op, solution, key string) (current, int64, error) {
	b, err := s.readable(ctx, op, solution)
	if err != nil || b == nil {
		return current{}, s.nowMs(), err
	}
	st, err := b.load(ctx, key)
	if err != nil {
		return current{}, 0, storageErr(ctx, op, err)
	}
	now := s.nowMs()
	return view(st, now), now, nil
}

func (s *Store) exists(solution string) bool {
	return s.opts.Exists == nil || s.opts.Exists(solution)
}

func goneErr(op, solution string) error {
	return service.Errorf(404, "keystore.%s: solution %s does not exist (any more)", op, solution)
}

// safely runs m's function; a panic in it fails that caller's operation, not the others in
// its batch, nor the hub.
func safely(m *mutation, cur current, now int64) (ch change, res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			ch, res, err = keep(), nil, service.Errorf(http.StatusInternalServerError, "keystore.%s: internal error: %v", m.op, r)
		}
	}()
	ch, res, err = m.fn(cur, now)
	if err == nil && ch.kind == putIt && len(ch.value) == 0 {
		err = service.Errorf(http.StatusInternalServerError, "keystore.%s: internal error: empty value", m.op)
	}
	return ch, res, err
}
