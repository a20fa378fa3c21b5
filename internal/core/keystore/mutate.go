package keystore

import (
	"context"
	"math/rand/v2"
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
func (s *Store) mutate(ctx context.Context, op string, b *bucket, key string, fn mutateFunc) (any, error) {
	mu := s.stripe(b.solution, key)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 2 {
			// Back off a little against writers in other processes.
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
		}
		if err := ctx.Err(); err != nil {
			return nil, storageErr(ctx, op, err)
		}
		st, err := b.load(ctx, key)
		if err != nil {
			return nil, storageErr(ctx, op, err)
		}
		now := s.nowMs()
		cur := view(st, now)
		ch, res, err := fn(cur, now)
		if err != nil {
			return nil, err
		}
		switch ch.kind {
		case keepIt:
			return res, nil
		case dropIt:
			if !st.present {
				return res, nil
			}
			rev, err := b.remove(ctx, key, st.rev)
			if isConflict(err) {
				b.forgetValue(key)
				continue
			}
			if err != nil {
				return nil, storageErr(ctx, op, err)
			}
			b.applyOwn(key, rev, true, 0, nil)
			return res, nil
		case putIt:
			if err := s.checkSize(op, len(ch.value)); err != nil {
				return nil, err
			}
			reserved := !cur.present
			if reserved {
				if err := b.reserve(op, now); err != nil {
					return nil, err
				}
			}
			rev, err := b.write(ctx, key, ch.value, ch.exp, st.rev)
			if err == nil {
				b.applyOwn(key, rev, false, ch.exp, ch.value)
			}
			if reserved {
				b.release(1)
			}
			if isConflict(err) {
				b.forgetValue(key)
				continue
			}
			if err != nil {
				return nil, storageErr(ctx, op, err)
			}
			return res, nil
		}
	}
	return nil, service.Errorf(statusUnavailable, "keystore.%s: key is updated too often concurrently; try again", op)
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
	if exp == 0 && b.holds(key, v) {
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
