package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// With other writers (Store.follow), the index learns their writes from its consumer, a little
// after they are stored. The cache (cache.go) then serves a value while the index still holds
// the revision it was cached at, so a read is at most the consumer's lag old, as a read from a
// replica would be; writes of this instance update index and cache when acknowledged, so an
// instance reads its own writes. That only holds while the consumer delivers every message: it
// stops holding when the consumer reports an error or the connection drops, and holds again
// once a catch-up round (below) saw the index apply everything the consumer had pending.
//
// A catch-up round asks the stream's leader for the bucket's last sequence and waits until the
// index applied that far. It asks the stream, not the index's consumer: the
// consumer learns of a stored message a moment after the write is acknowledged (and may live
// on a replica that is behind), so its "nothing pending" can predate a write already stored.
// A call that needs the index to hold every write stored before the call began (a SET that
// would change nothing, see bucket.unchanged) waits for a round that started after it did; the
// callers that arrive while a round is out share the next one, so many calls cost one request.

// syncTimeout bounds one catch-up round.
const syncTimeout = 2 * time.Second

var errIndexBehind = errors.New("keystore index: the consumer is behind the bucket")

// syncRound is one catch-up round; err is set before done is closed.
type syncRound struct {
	done chan struct{}
	err  error
}

// following reports whether the index is known to follow the bucket without gaps. When not,
// it starts a catch-up round in the background.
func (b *bucket) following() bool {
	if b.synced.Load() && b.s.bus.Disconnects() == b.syncedAt.Load() {
		return true
	}
	b.kick()
	return false
}

// markSynced records that the index held every message of the bucket as of the connection's
// disconnects-th loss.
func (b *bucket) markSynced(disconnects uint64) {
	b.syncedAt.Store(disconnects)
	b.synced.Store(true)
}

// kick starts a catch-up round unless one is out.
func (b *bucket) kick() {
	b.syncMu.Lock()
	if b.syncRunning == nil {
		r := &syncRound{done: make(chan struct{})}
		b.syncRunning = r
		go b.runRounds(r)
	}
	b.syncMu.Unlock()
}

// catchUp returns once the index applied every message the bucket held when catchUp was
// called, or the error that prevented knowing it.
func (b *bucket) catchUp(ctx context.Context) error {
	b.syncMu.Lock()
	var r *syncRound
	switch {
	case b.syncRunning == nil:
		r = &syncRound{done: make(chan struct{})}
		b.syncRunning = r
		go b.runRounds(r)
	case b.syncNext != nil:
		r = b.syncNext
	default:
		// The round out may have asked before this call began: wait for the next one.
		r = &syncRound{done: make(chan struct{})}
		b.syncNext = r
	}
	b.syncMu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runRounds runs r, then the rounds queued meanwhile, one at a time.
func (b *bucket) runRounds(r *syncRound) {
	for r != nil {
		r.err = b.syncOnce()
		close(r.done)
		b.syncMu.Lock()
		r = b.syncNext
		b.syncNext = nil
		b.syncRunning = r
		b.syncMu.Unlock()
	}
}

// syncOnce asks the stream's leader for the bucket's last sequence (probeLast) and waits until
// the index applied it. That sequence may name a message that never reaches the index (the
// sweeper purged it, or the write it belonged to failed), so the wait is short; after it, the
// round asks whether any message exists beyond what the index applied, until none does.
func (b *bucket) syncOnce() error {
	b.s.syncRounds.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	b.idxMu.Lock()
	cons := b.cons
	b.idxMu.Unlock()
	if cons == nil || !b.isLoaded() {
		return errIndexBehind
	}
	// Read before asking: a loss after this makes the result stale again.
	disconnects := b.s.bus.Disconnects()
	if last, err := b.probeLast(ctx); err == nil {
		wctx, cancel := context.WithTimeout(ctx, probeWait)
		err = b.waitSeen(wctx, last)
		cancel()
		if err == nil {
			b.markSynced(disconnects)
			return nil
		}
	}
	for {
		b.mu.Lock()
		seen := b.seen
		b.mu.Unlock()
		next, err := b.after(ctx, seen)
		if err != nil {
			return err
		}
		if next == 0 {
			b.markSynced(disconnects)
			return nil
		}
		if err := b.waitSeen(ctx, next); err != nil {
			return err
		}
	}
}

// probeWait is how long a round waits for the index to reach the sequence probeLast named
// before asking which messages exist beyond what it applied.
const probeWait = 50 * time.Millisecond

// probeAttemptTimeout bounds one probe before it is sent again, when buckets may be fenced
// (see probeLast).
const probeAttemptTimeout = 500 * time.Millisecond

// probeSubject is where probeLast publishes: a subject of the bucket no key encodes to (a key
// token is base64url of at least one byte, never 5 characters long), so it could not show as
// a key even if it were stored, which its expectation prevents.
const probeSubject = "_sync"

// impossibleSeq is an expected last sequence no stream reaches.
const impossibleSeq = "9223372036854775807"

// probeLast learns the last sequence the stream's leader has stored or is storing, by a
// publish that expects an impossible last sequence: the leader refuses it, naming its own,
// and stores nothing. A publish goes to the leader alone and is answered in order after every
// write it took before, so every write acknowledged before the probe was sent has a sequence
// at most the one named; and the answer carries no message, whatever the size of the values.
// (A JetStream API request, on a cluster, is received and decoded by every server; a direct
// get may be answered by a replica that is behind, and returns the message whole.)
func (b *bucket) probeLast(ctx context.Context) (uint64, error) {
	var resp *nats.Msg
	for attempt := 0; ; attempt++ {
		m := &nats.Msg{Subject: b.probeSubjectNow(), Header: nats.Header{jetstream.ExpectedLastSeqHeader: []string{impossibleSeq}}}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if b.s.fence {
			actx, cancel = context.WithTimeout(ctx, probeAttemptTimeout)
		}
		var err error
		resp, err = b.s.bus.Conn().RequestMsgWithContext(actx, m)
		cancel()
		if err == nil {
			break
		}
		retry := false
		switch {
		case ctx.Err() != nil || attempt >= 3:
		case errors.Is(err, nats.ErrNoResponders):
			// Another instance fenced the bucket, or gave its fence up: probe where it stores now.
			retry = b.s.fence && b.ownPrefix.Load() == nil && b.learnFence(ctx)
		case errors.Is(err, context.DeadlineExceeded) && b.s.fence:
			// Sent while the stream's subjects were moving, it may have gone where the stream
			// no longer listens, and will never be answered.
			retry = true
		}
		if !retry {
			return 0, fmt.Errorf("probe %s: %w", b.streamName, err)
		}
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Error == nil {
		return 0, fmt.Errorf("probe %s: unexpected answer %.200q", b.streamName, resp.Data)
	}
	const prefix = "wrong last sequence: "
	if ack.Error.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence || !strings.HasPrefix(ack.Error.Description, prefix) {
		return 0, fmt.Errorf("probe %s: %w", b.streamName, ack.Error)
	}
	seq, err := strconv.ParseUint(ack.Error.Description[len(prefix):], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %q: %w", b.streamName, ack.Error.Description, err)
	}
	return seq, nil
}

// after is the sequence of the bucket's first message beyond seq, 0 when there is none. It asks
// through the JetStream API, which only the stream's leader answers.
func (b *bucket) after(ctx context.Context, seq uint64) (uint64, error) {
	req := []byte(`{"seq":` + strconv.FormatUint(seq+1, 10) + `,"next_by_subj":"` + b.prefix + `>"}`)
	m, err := b.s.bus.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+b.streamName, req)
	if err != nil {
		return 0, fmt.Errorf("messages of %s after %d: %w", b.streamName, seq, err)
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error"`
		Message struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return 0, fmt.Errorf("messages of %s after %d: %w", b.streamName, seq, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return 0, nil
		}
		return 0, fmt.Errorf("messages of %s after %d: %w", b.streamName, seq, resp.Error)
	}
	return resp.Message.Seq, nil
}

// waitSeen waits until the index applied stream sequence seq. Rounds run one at a time, so
// there is at most one waiter.
func (b *bucket) waitSeen(ctx context.Context, seq uint64) error {
	b.mu.Lock()
	if b.seen >= seq {
		b.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	b.seenWant, b.seenCh = seq, ch
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		if b.seenCh == ch {
			b.seenCh = nil
		}
		b.mu.Unlock()
		return errIndexBehind
	}
}

// notifySeen wakes the round waiting for the index to reach b.seen. Callers hold b.mu.
func (b *bucket) notifySeen() {
	if b.seenCh != nil && b.seen >= b.seenWant {
		close(b.seenCh)
		b.seenCh = nil
	}
}

// unchanged reports whether key holds exactly value (type byte + payload) with no expiry, so
// a SET of it would change nothing anyone can observe. With other writers the cache may not
// know yet of a write they made, which the SET must then replace: only once the index applied
// every write stored before this call began does the cache answer as the stream would.
func (b *bucket) unchanged(ctx context.Context, key string, value []byte) bool {
	if !b.holds(key, value) {
		return false
	}
	if !b.s.follow {
		return true
	}
	if same, ok := b.fastUnchanged(key, value); ok {
		return same
	}
	b.noteRound()
	if err := b.catchUp(ctx); err != nil {
		return false // write it: correct, only slower
	}
	return b.holds(key, value)
}
