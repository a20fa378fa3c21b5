package keystore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/service"
)

// readyTimeout bounds the wait for a bucket's index to load when the caller set no deadline.
const readyTimeout = 30 * time.Second

// entry is what the index knows of a key: the revision, expiry and size of its last message,
// or a tombstone when that message is a delete marker.
type entry struct {
	rev  uint64
	exp  int64 // unix ms, 0 for none
	size int32 // stored value bytes
	dead bool  // the last message is a delete marker
	at   int64 // for tombstones: when the deletion happened, unix ns (wall clock)
}

// index is an in-memory view of a bucket's keys, used for the quota, list, info and the
// sweeper, so none of them has to read values. It is fed by a headers-only ordered consumer on
// the bucket (which also brings in writes of other hub instances) and by this process's own
// writes as soon as they are acknowledged. Entries carry the revision, so whichever of the two
// arrives second is ignored. Loading it on open is the recount the quota needs after a restart.
type index struct {
	keys     map[string]entry
	live     int              // entries that are not tombstones (expired ones included)
	bytes    int64            // key + value bytes of those entries
	expiring map[string]int64 // live entries with an expiry → the expiry
	dead     int              // tombstones
	pending  int              // quota reservations of writes in flight
	seen     uint64           // last stream sequence the consumer applied
	sorted   []string         // every key in keys, sorted; rebuilt when sortedOK is false
	sortedOK bool
	vals     map[string]cachedValue // see cache.go
	valBytes int64
}

func (x *index) init() {
	x.keys = map[string]entry{}
	x.vals = map[string]cachedValue{}
	x.expiring = map[string]int64{}
}

// apply records the key's message rev. Own writes (fromWatcher false) at or below seen were
// already applied by the consumer, which may have applied later changes of the key since.
func (x *index) apply(key string, rev uint64, dead bool, exp int64, size int, at int64, fromWatcher bool) {
	if fromWatcher {
		if rev > x.seen {
			x.seen = rev
		}
	} else if rev <= x.seen {
		return
	}
	cur, ok := x.keys[key]
	if ok && cur.rev >= rev {
		return
	}
	if ok {
		x.unaccount(key, cur)
	} else {
		x.sortedOK = false
	}
	e := entry{rev: rev, exp: exp, size: int32(size), dead: dead, at: at}
	if dead {
		e.exp, e.size = 0, 0
	}
	x.keys[key] = e
	if dead {
		x.dead++
		return
	}
	x.live++
	x.bytes += int64(len(key)) + int64(size)
	if exp > 0 {
		x.expiring[key] = exp
	}
}

func (x *index) unaccount(key string, e entry) {
	if e.dead {
		x.dead--
		return
	}
	x.live--
	x.bytes -= int64(len(key)) + int64(e.size)
	if e.exp > 0 {
		delete(x.expiring, key)
	}
}

// forgetTombstone drops a tombstone once its marker was purged from the stream.
func (x *index) forgetTombstone(key string, rev uint64) {
	if e, ok := x.keys[key]; ok && e.dead && e.rev == rev {
		delete(x.keys, key)
		x.dead--
		x.sortedOK = false
	}
}

// isLive reports whether the index holds an unexpired value for key at now (unix ms).
func (x *index) isLive(key string, now int64) bool {
	e, ok := x.keys[key]
	return ok && !e.dead && (e.exp == 0 || e.exp > now)
}

// usage is the count and bytes of keys live at now.
func (x *index) usage(now int64) (count int, bytes int64) {
	count, bytes = x.live, x.bytes
	for k, exp := range x.expiring {
		if exp <= now {
			count--
			bytes -= int64(len(k)) + int64(x.keys[k].size)
		}
	}
	return count, bytes
}

func (x *index) sortedKeys() []string {
	if !x.sortedOK {
		x.sorted = x.sorted[:0]
		for k := range x.keys {
			x.sorted = append(x.sorted, k)
		}
		slices.Sort(x.sorted)
		x.sortedOK = true
	}
	return x.sorted
}

// ensureIndex starts the bucket's index consumer if needed and waits until it holds every key
// that existed when it started.
func (b *bucket) ensureIndex(ctx context.Context) error {
	b.idxMu.Lock()
	if !b.idxStarted {
		if err := b.startIndex(ctx); err != nil {
			b.idxMu.Unlock()
			b.checkGone(err)
			return err
		}
		b.idxStarted = true
	}
	b.idxMu.Unlock()
	select {
	case <-b.ready:
		return nil
	default:
	}
	wait := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	select {
	case <-b.ready:
		return nil
	case <-wait.Done():
		return errors.New("index of the keystore did not load in time")
	}
}

func (b *bucket) startIndex(ctx context.Context) error {
	// The index will hold every message stored before it loaded, if the connection is not
	// lost meanwhile.
	b.loadedAt.Store(b.s.bus.Disconnects())
	cons, err := b.s.js.OrderedConsumer(ctx, b.streamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    true,
		// A stopped index's consumer is removed by the server after this long.
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		b.markReady()
		if !b.s.follow {
			// Nothing to load and nothing to follow: the consumer is not needed.
			_ = b.s.js.DeleteConsumer(ctx, b.streamName, info.Name)
			return nil
		}
	}
	cc, err := cons.Consume(b.onIndexMsg, jetstream.ConsumeErrHandler(b.onIndexErr))
	if err != nil {
		return err
	}
	b.cc, b.cons = cc, cons
	return nil
}

func (b *bucket) markReady() {
	b.readyOnce.Do(func() {
		b.markSynced(b.loadedAt.Load())
		close(b.ready)
	})
}

func (b *bucket) stopIndex() {
	b.idxMu.Lock()
	defer b.idxMu.Unlock()
	if b.cc != nil {
		b.cc.Stop()
		b.cc = nil
	}
}

// finishLoad stops a loaded index that does not follow other writers and deletes its consumer
// rather than leaving it to the server's inactivity cleanup.
func (b *bucket) finishLoad() {
	b.idxMu.Lock()
	cons := b.cons
	b.cons = nil
	b.idxMu.Unlock()
	b.stopIndex()
	if cons == nil {
		return
	}
	if info := cons.CachedInfo(); info != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.s.js.DeleteConsumer(ctx, b.streamName, info.Name)
	}
}

func (b *bucket) onIndexMsg(msg jetstream.Msg) {
	if b.s.indexHook != nil {
		b.s.indexHook()
	}
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	h := msg.Headers()
	dead := isMarker(h)
	var exp int64
	var size int
	if !dead {
		exp, _ = strconv.ParseInt(h.Get(hdrExpires), 10, 64)
		size, _ = strconv.Atoi(h.Get(hdrMsgSize))
	}
	subj := msg.Subject()
	key, ok := "", false
	if strings.HasPrefix(subj, b.prefix) {
		key, ok = decodeKey(subj[len(b.prefix):])
	}
	b.mu.Lock()
	if ok {
		if e, known := b.keys[key]; b.s.fence && (!known || e.rev < md.Sequence.Stream) &&
			time.Since(md.Timestamp) < fenceQuiet && !b.isOwn(md.Sequence.Stream) {
			// A recent write, not this instance's own: another instance writes the bucket.
			b.lastForeign.Store(mono())
		}
		b.apply(key, md.Sequence.Stream, dead, exp, size, md.Timestamp.UnixNano(), true)
	} else if md.Sequence.Stream > b.seen {
		// Not a key this package wrote (another tool used the bucket); skip it.
		b.seen = md.Sequence.Stream
	}
	b.notifySeen()
	b.mu.Unlock()
	if md.NumPending == 0 {
		b.markReady()
		if !b.s.follow {
			// Loaded; this process's own writes keep the index current from here.
			go b.finishLoad()
		}
	}
}

func (b *bucket) onIndexErr(_ jetstream.ConsumeContext, err error) {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// The bucket was dropped (by another instance): forget it; the next call reopens.
		go b.s.forget(b)
		return
	}
	// It may have missed messages (it starts over from the last one it delivered): the cache
	// answers again once a catch-up round saw the index current.
	b.synced.Store(false)
	b.s.log.Debug("keystore index consumer", "solution", b.solution, "err", err)
}

// applyOwn records this process's acknowledged write of value (type byte + payload; nil for a
// deletion) in the index, and caches the value.
func (b *bucket) applyOwn(key string, rev uint64, dead bool, exp int64, value []byte) {
	b.mu.Lock()
	b.apply(key, rev, dead, exp, len(value), time.Now().UnixNano(), false)
	b.remember(key, rev, exp, value)
	b.mu.Unlock()
}

// reserve takes one key of the quota for a write that makes a key live. The reservation is
// released with release once the write is done (and applied to the index) or failed.
func (b *bucket) reserve(op string, now int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	max := b.s.opts.MaxKeys
	if b.live+b.pending >= max {
		if n, _ := b.usage(now); n+b.pending >= max {
			return quotaErr(op, max)
		}
	}
	b.pending++
	return nil
}

// reserveN takes n keys of the quota at once (all or none), for mset.
func (b *bucket) reserveN(op string, n int, now int64) error {
	if n == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	max := b.s.opts.MaxKeys
	if b.live+b.pending+n > max {
		if live, _ := b.usage(now); live+b.pending+n > max {
			return quotaErr(op, max)
		}
	}
	b.pending += n
	return nil
}

func (b *bucket) release(n int) {
	b.mu.Lock()
	b.pending -= n
	b.mu.Unlock()
}

func quotaErr(op string, max int) error {
	return service.Errorf(statusInsufficient, "keystore.%s: key quota exceeded: the solution already holds its maximum of %d keys; delete some first", op, max)
}
