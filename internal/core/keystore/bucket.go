package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message headers. A bucket is a standard JetStream KV bucket (stream KV_<bucket>, one subject
// $KV.<bucket>.<encoded key> per key, history 1), written with plain JetStream publishes so the
// expiry can travel as a header beside the value.
const (
	// hdrExpires is a value's expiry in unix milliseconds; absent means none.
	hdrExpires = "Sb-Expires"
	// hdrKVOperation marks a delete ("DEL") or purge ("PURGE"), as the KV API writes them.
	hdrKVOperation = "KV-Operation"
	hdrMsgSize     = "Nats-Msg-Size"
)

// encodeKey maps an arbitrary key to a subject token: base64url without padding uses only
// [A-Za-z0-9_-], never '.', '*' or '>', and is reversible, so "../x", "a.b", "*" or a key spelling
// another solution's name are all just a token inside this solution's bucket.
func encodeKey(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeKey(token string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// bucket is one solution's KV bucket: its stream handle and, once a call needs it, the index
// of its keys (see index.go).
type bucket struct {
	s          *Store
	solution   string
	stream     jetstream.Stream
	streamName string
	prefix     string // "$KV.<bucket>."
	direct     string // direct-get subject prefix, "" when the stream does not allow direct gets

	lastUsed atomic.Int64 // unix nanoseconds of the last call, for idle eviction

	// Fencing (see fence.go).
	fenceMu     sync.RWMutex           // guards holding and heldAt; held by answers from memory
	holding     bool                   // this instance holds the fence and its index caught up
	heldAt      uint64                 // the bus's disconnect count when the fence was taken
	aliveUntil  atomic.Int64           // mono() until which the holder answers from memory
	ownPrefix   atomic.Pointer[string] // this instance's fence prefix, while it has one
	otherPrefix atomic.Pointer[string] // another holder's prefix, as last seen
	hotSince    atomic.Int64           // mono() when the current one-second count began
	hotCount    atomic.Int64           // same-value SETs that waited for a round since then
	fenceAfter  atomic.Int64           // mono() before which this instance does not fence
	fenceBusy   atomic.Bool            // a fence is being taken
	fenceOpMu   sync.Mutex             // one takeFence or giveUp at a time
	pubMu       sync.RWMutex           // held by publishes; locked while the subjects move
	lastForeign atomic.Int64           // mono() when the index last applied another's write
	ownInFlight atomic.Int64           // this instance's publishes not answered yet
	ownMu       sync.Mutex             // guards ownSeqs and ownNext
	ownSeqs     [64]uint64             // the sequences of this instance's last stored messages
	ownNext     int
	unfenceMu   sync.Mutex    // one release request at a time
	lockRev     atomic.Uint64 // the revision of the lock record this instance last stored

	idxMu      sync.Mutex // guards starting and stopping the index watcher
	idxStarted bool
	loadedAt   atomic.Uint64 // the bus's disconnect count when the index started loading
	cc         jetstream.ConsumeContext
	cons       jetstream.Consumer
	ready      chan struct{} // closed once the watcher delivered every key that existed at start
	readyOnce  sync.Once

	// Following other writers (see follow.go).
	synced      atomic.Bool   // the index followed the bucket without gaps as of syncedAt
	syncedAt    atomic.Uint64 // the bus's disconnect count when synced was last established
	syncMu      sync.Mutex    // guards the two rounds below
	syncRunning *syncRound    // the catch-up round out, nil when none
	syncNext    *syncRound    // the round to run after it, joined by calls arriving meanwhile

	mu sync.Mutex // guards the index below and the two fields after it
	index
	seenWant uint64        // the sequence seenCh waits for
	seenCh   chan struct{} // closed once index.seen reaches seenWant; nil when no one waits
}

func newBucket(s *Store, solution string, stream jetstream.Stream) *bucket {
	name := bucketPrefix + solution
	b := &bucket{
		s:          s,
		solution:   solution,
		stream:     stream,
		streamName: "KV_" + name,
		prefix:     "$KV." + name + ".",
		ready:      make(chan struct{}),
	}
	if info := stream.CachedInfo(); info != nil && info.Config.AllowDirect {
		b.direct = "$JS.API.DIRECT.GET." + b.streamName + "." + b.prefix
	}
	b.index.init()
	b.touch()
	return b
}

func (b *bucket) touch() { b.lastUsed.Store(time.Now().UnixNano()) }

func (b *bucket) subject(key string) string { return b.prefix + encodeKey(key) }

// stored is what the bucket holds for a key.
type stored struct {
	rev     uint64 // sequence of the key's last message (value or delete marker); 0 when none
	present bool   // the last message is a value (possibly expired)
	exp     int64  // expiry in unix ms, 0 for none
	typ     byte
	data    []byte // the value after its type byte
}

// live reports whether the key holds a value at time now (unix ms).
func (st *stored) live(now int64) bool { return st.present && (st.exp == 0 || st.exp > now) }

// load reads a key's current message, from the cache where it may (see cache.go).
func (b *bucket) load(ctx context.Context, key string) (stored, error) {
	if st, ok := b.cached(key); ok {
		return st, nil
	}
	return b.fetch(ctx, key)
}

// fetch reads a key's current message from the stream.
func (b *bucket) fetch(ctx context.Context, key string) (stored, error) {
	b.s.streamReads.Add(1)
	seq, h, data, err := b.last(ctx, key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return stored{}, nil
	}
	if err != nil {
		b.checkGone(err)
		return stored{}, err
	}
	if isMarker(h) {
		return stored{rev: seq}, nil
	}
	if len(data) == 0 {
		return stored{}, errCorrupt
	}
	st := stored{rev: seq, present: true, typ: data[0], data: data[1:]}
	switch st.typ {
	case typeString, typeList, typeSet:
	default:
		return stored{}, errCorrupt
	}
	if v := h.Get(hdrExpires); v != "" {
		if st.exp, err = strconv.ParseInt(v, 10, 64); err != nil {
			return stored{}, errCorrupt
		}
	}
	b.mu.Lock()
	b.remember(key, seq, st.exp, data)
	b.mu.Unlock()
	return st, nil
}

// directTimeout bounds a direct get when the caller set no deadline, as the JetStream API does.
const directTimeout = 5 * time.Second

// last fetches the key's last message. On the hot path of every read it asks the stream's
// direct-get endpoint itself: the JetStream API's GetLastMsgForSubject does the same request
// but also marshals an unused JSON body, formats the subject and parses a timestamp, about a
// fifth of the allocations of a Keystore.get.
func (b *bucket) last(ctx context.Context, key string) (uint64, nats.Header, []byte, error) {
	if b.direct == "" {
		m, err := b.stream.GetLastMsgForSubject(ctx, b.subject(key))
		if err != nil {
			return 0, nil, nil, err
		}
		return m.Sequence, m.Header, m.Data, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, directTimeout)
		defer cancel()
	}
	m, err := b.s.bus.Conn().RequestWithContext(ctx, b.direct+encodeKey(key), nil)
	for wait := 5 * time.Millisecond; errors.Is(err, nats.ErrNoResponders); wait = min(2*wait, 250*time.Millisecond) {
		// Nobody serves the stream's direct gets on this node. On a cluster that is a stream
		// just made, found by this call's lookup before it has a leader (or before this node
		// learnt of its responders); unless the stream is gone, the read waits for it.
		if _, serr := b.s.bus.Stream(ctx, b.streamName, false); serr != nil {
			return 0, nil, nil, serr
		}
		select {
		case <-ctx.Done():
			return 0, nil, nil, fmt.Errorf("%w (the stream had no direct-get responder: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		m, err = b.s.bus.Conn().RequestWithContext(ctx, b.direct+encodeKey(key), nil)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	if len(m.Data) == 0 {
		switch m.Header.Get("Status") {
		case "":
		case "404":
			return 0, nil, nil, jetstream.ErrMsgNotFound
		default:
			return 0, nil, nil, fmt.Errorf("direct get: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
		}
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("direct get: bad sequence header: %w", err)
	}
	return seq, m.Header, m.Data, nil
}

func isMarker(h nats.Header) bool {
	return h.Get(hdrKVOperation) != "" || h.Get(jetstream.MarkerReasonHeader) != ""
}

// anyRev passed as the expected revision writes unconditionally.
const anyRev = ^uint64(0)

// write stores value (type byte + payload) with expiry exp (0 for none). Unless expect is anyRev,
// the write only succeeds if the key's last message is still revision expect (0: no message at
// all); otherwise isConflict(err) holds.
func (b *bucket) write(ctx context.Context, key string, value []byte, exp int64, expect uint64) (uint64, error) {
	m := &nats.Msg{Subject: b.keySubject(key), Data: value}
	if exp > 0 || expect != anyRev {
		m.Header = make(nats.Header, 2)
		if exp > 0 {
			m.Header[hdrExpires] = []string{strconv.FormatInt(exp, 10)}
		}
		if expect != anyRev {
			m.Header[jetstream.ExpectedLastSubjSeqHeader] = []string{strconv.FormatUint(expect, 10)}
		}
	}
	return b.publish(ctx, m)
}

// remove writes a delete marker for key, only if its last message is still revision expect.
func (b *bucket) remove(ctx context.Context, key string, expect uint64) (uint64, error) {
	m := &nats.Msg{Subject: b.keySubject(key), Header: nats.Header{
		hdrKVOperation:                      []string{"DEL"},
		jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(expect, 10)},
	}}
	return b.publish(ctx, m)
}

// publish sends m to the bucket's stream and returns the stored sequence. It is JetStream's
// PublishMsg (including its retries while a stream leader is being elected) with a cheaper
// acknowledgement parse: a successful ack is scanned for its sequence instead of decoded
// through reflection, and only errors go through encoding/json.
func (b *bucket) publish(ctx context.Context, m *nats.Msg) (uint64, error) {
	if b.s.fence {
		// A publish in flight while the stream's subjects move may be dropped by a server that
		// has not yet learnt of the move, and never answered: none is in flight then.
		b.pubMu.RLock()
		defer b.pubMu.RUnlock()
		b.ownInFlight.Add(1)
		defer b.ownInFlight.Add(-1)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, directTimeout)
		defer cancel()
	}
	nc := b.s.bus.Conn()
	for attempt := 0; ; attempt++ {
		resp, err := nc.RequestMsgWithContext(ctx, m)
		if errors.Is(err, nats.ErrNoResponders) {
			if attempt < fenceRetries && b.redirect(ctx, m) {
				continue
			}
			if attempt < jetstream.DefaultPubRetryAttempts {
				select {
				case <-ctx.Done():
					return 0, ctx.Err()
				case <-time.After(jetstream.DefaultPubRetryWait):
				}
				continue
			}
			err = jetstream.ErrNoStreamResponse
		}
		if err != nil {
			b.checkGone(err)
			return 0, err
		}
		seq, err := parseAck(resp.Data)
		if err == nil {
			b.ownMu.Lock()
			b.ownSeqs[b.ownNext] = seq
			b.ownNext = (b.ownNext + 1) % len(b.ownSeqs)
			b.ownMu.Unlock()
		}
		return seq, err
	}
}

// publishOnce sends m to the bucket's stream once, without following fences.
func (b *bucket) publishOnce(ctx context.Context, m *nats.Msg) (uint64, error) {
	resp, err := b.s.bus.Conn().RequestMsgWithContext(ctx, m)
	if err != nil {
		return 0, err
	}
	return parseAck(resp.Data)
}

// parseAck reads a JetStream publish acknowledgement.
func parseAck(data []byte) (uint64, error) {
	const seqField = `"seq":`
	if !bytes.Contains(data, []byte(`"error"`)) {
		if i := bytes.Index(data, []byte(seqField)); i >= 0 {
			j := i + len(seqField)
			k := j
			for k < len(data) && data[k] >= '0' && data[k] <= '9' {
				k++
			}
			if seq, err := strconv.ParseUint(string(data[j:k]), 10, 64); err == nil && seq > 0 {
				return seq, nil
			}
		}
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return 0, fmt.Errorf("nats: %w", ack.Error)
	}
	if ack.Stream == "" {
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Seq, nil
}

// isConflict reports a failed compare-and-set: the key changed since it was read.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// checkGone forgets the bucket when its stream no longer exists (dropped by another instance),
// so the next call sees the solution as empty instead of failing forever.
func (b *bucket) checkGone(err error) {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) {
		b.s.forget(b)
	}
}
