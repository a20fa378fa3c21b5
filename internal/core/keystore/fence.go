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

// Fencing. With other writers (follow.go), a SET of the value a key holds waits for a catch-up
// round, a round trip to the stream's leader. When one instance is the only one writing a busy
// bucket, it fences the bucket instead: it moves the stream's subjects to a prefix of its own,
// with a subject transform back to $KV.<bucket>.<key>, so every message is stored, read and
// watched as before, but a publish to $KV.<bucket>.… finds no stream. While the fence stands only
// the holder stores, so its index knows every write, and it answers that SET from memory as the
// only writer does.
//
// The fence is claimed by a compare-and-set of the bucket's lock record (subject $KV.<bucket>._lock,
// never a key), so two instances cannot both hold it. Another instance that needs to write asks
// the holder to give the fence up (a request to the release subject in the record); the holder
// stops answering from memory, restores the subjects and replies, then the write goes ahead.
// A holder that does not answer (it died, or lost the cluster) has the fence taken down by force:
// the holder answers from memory only until fenceLease after sending the last renewal of its lock
// record that was stored through its prefix, so once the subjects are restored and fenceLease
// has passed, nothing it answers can miss the write that follows.

const (
	// lockToken is the subject token of a bucket's lock record: five characters, which no key
	// encodes to (see probeSubject).
	lockToken = "_lock"
	// fenceSubjects prefixes a holder's subjects: sb.keystore.fence.<holder>.<bucket>.<key>.
	fenceSubjects = "sb.keystore.fence."
	// releaseSubjects prefixes the subject each instance answers release requests on.
	releaseSubjects = "sb.keystore.release."

	// fenceLease is how long after sending a renewal that was stored the holder answers from
	// memory.
	fenceLease = 2 * time.Second
	// fenceKeepalive is how often the holder renews its fence.
	fenceKeepalive = 400 * time.Millisecond
	// fenceHot is how many same-value SETs within a second, each waiting for a round, make an
	// instance fence the bucket.
	fenceHot = 64
	// fencePause is how long an instance waits before fencing a bucket again after giving it
	// up, or after an attempt failed: writers on several instances do not bounce the fence.
	fencePause = 30 * time.Second
	// releaseTimeout bounds a release request before the fence is taken down by force.
	releaseTimeout = 2 * time.Second
	// fenceQuiet is how long the index must have applied no other instance's write before this
	// instance fences the bucket.
	fenceQuiet = 3 * time.Second
	// fenceRetries bounds how often one write follows a fence (taken, moved or given up).
	fenceRetries = 4
)

var errNotFenced = errors.New("keystore: the bucket is not fenced")

// lockRecord is a bucket's lock record; an empty Holder is a free lock.
type lockRecord struct {
	Holder  string `json:"holder,omitempty"`
	Release string `json:"release,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
}

// monoStart anchors mono, a monotonic clock in nanoseconds that fits an atomic.Int64.
var monoStart = time.Now()

func mono() int64 { return int64(time.Since(monoStart)) }

// isOwn reports whether seq may be a message this instance stored: one it was acknowledged, or
// any while one of its publishes awaits its acknowledgement (the echo can come first).
func (b *bucket) isOwn(seq uint64) bool {
	if b.ownInFlight.Load() > 0 {
		return true
	}
	b.ownMu.Lock()
	defer b.ownMu.Unlock()
	for _, s := range b.ownSeqs {
		if s == seq {
			return true
		}
	}
	return false
}

// supportsFence reports whether a server of this version has stream subject transforms (2.10+).
func supportsFence(version string) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (major > 2 || major == 2 && minor >= 10)
}

// fastUnchanged answers unchanged from memory when this instance holds the fence: ok is false
// when it does not (or its lease lapsed), and the caller takes a catch-up round.
func (b *bucket) fastUnchanged(key string, value []byte) (same, ok bool) {
	b.fenceMu.RLock()
	defer b.fenceMu.RUnlock()
	if !b.holding || mono() >= b.aliveUntil.Load() || b.s.bus.Disconnects() != b.heldAt {
		return false, false
	}
	return b.holds(key, value), true
}

// noteRound counts a same-value SET that waited for a round, and fences the bucket in the
// background once they come fenceHot a second.
func (b *bucket) noteRound() {
	if !b.s.fence {
		return
	}
	now := mono()
	if since := b.hotSince.Load(); now-since > int64(time.Second) {
		b.hotSince.Store(now)
		b.hotCount.Store(0)
	}
	if b.hotCount.Add(1) < fenceHot || now < b.fenceAfter.Load() || b.ownPrefix.Load() != nil {
		return // not busy enough, paused, or held already (its lease waits for a renewal)
	}
	if last := b.lastForeign.Load(); last != 0 && now-last < int64(fenceQuiet) {
		return // another instance writes the bucket: its writes would each ask for a release
	}
	if !b.fenceBusy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer b.fenceBusy.Store(false)
		if b.otherPrefix.Load() != nil && !b.holderGone() {
			b.fenceAfter.Store(mono() + int64(fencePause))
			return
		}
		if err := b.takeFence(); err != nil {
			b.fenceAfter.Store(mono() + int64(fencePause))
			b.s.log.Debug("keystore: fence", "solution", b.solution, "err", err)
		}
	}()
}

// holderGone reports whether the instance holding the bucket is gone, and then takes its fence
// down, so that this instance may fence the bucket instead of waiting for a round on every SET.
func (b *bucket) holderGone() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*fenceLease+releaseTimeout)
	defer cancel()
	rec, _, err := b.readLock(ctx)
	if err != nil || rec.Holder == "" || rec.Holder == b.s.fenceID {
		return err == nil
	}
	pctx, pcancel := context.WithTimeout(ctx, releaseTimeout)
	_, err = b.s.bus.Conn().RequestWithContext(pctx, rec.Release, []byte(pingPrefix+b.solution))
	pcancel()
	if err == nil {
		return false
	}
	err = b.unfence(ctx)
	return err == nil || errors.Is(err, errNotFenced)
}

// pingPrefix marks a release request that only asks whether the holder is there.
const pingPrefix = "ping "

// takeFence claims the lock record, moves the stream's subjects to this instance's prefix, and
// once a catch-up round through that prefix saw the index current, answers from memory.
func (b *bucket) takeFence() error {
	// One at a time with giveUp: a release must not be overtaken by a fence still being taken.
	b.fenceOpMu.Lock()
	defer b.fenceOpMu.Unlock()
	if b.ownPrefix.Load() != nil || mono() < b.fenceAfter.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec, rev, err := b.readLock(ctx)
	if err != nil {
		return err
	}
	if rec.Holder != "" && rec.Holder != b.s.fenceID {
		p := rec.Prefix
		b.otherPrefix.Store(&p)
		return fmt.Errorf("held by %s", rec.Holder)
	}
	info, err := b.stream.Info(ctx)
	if err != nil {
		return err
	}
	cfg := info.Config
	if !b.openSubjects(cfg.Subjects) {
		return fmt.Errorf("subjects %v", cfg.Subjects)
	}
	pfx := fenceSubjects + b.s.fenceID + "." + b.prefix[len("$KV."):]
	data, _ := json.Marshal(lockRecord{Holder: b.s.fenceID, Release: b.s.releaseSubject(), Prefix: pfx})
	claim := &nats.Msg{Subject: b.prefix + lockToken, Data: data, Header: nats.Header{
		jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(rev, 10)},
	}}
	lockRev, err := b.publishOnce(ctx, claim)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	b.lockRev.Store(lockRev)
	cfg.Subjects = []string{pfx + ">"}
	cfg.SubjectTransform = &jetstream.SubjectTransformConfig{Source: pfx + ">", Destination: b.prefix + ">"}
	b.pubMu.Lock()
	if _, err := b.s.js.UpdateStream(ctx, cfg); err != nil {
		b.pubMu.Unlock()
		b.freeLock(ctx, b.s.fenceID)
		return fmt.Errorf("move subjects: %w", err)
	}
	b.ownPrefix.Store(&pfx)
	disconnects := b.s.bus.Disconnects()
	// On a cluster the other servers learn that the stream takes the new subjects a moment
	// after the update is answered: until then a probe through them finds no stream.
	for {
		pctx, pcancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, err := b.probeLast(pctx)
		pcancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			b.pubMu.Unlock()
			_ = b.giveUpLocked(context.Background())
			return fmt.Errorf("probe the fence: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.pubMu.Unlock()
	// A write stored before the subjects moved is applied by this round; none can be after.
	if err := b.catchUp(ctx); err != nil {
		_ = b.giveUpLocked(ctx)
		return fmt.Errorf("catch up: %w", err)
	}
	// The lease starts from a renewal stored through the fence, which therefore stood after sent.
	sent := mono()
	if err := b.renew(ctx); err != nil {
		_ = b.giveUpLocked(ctx)
		return fmt.Errorf("renew the fence: %w", err)
	}
	b.fenceMu.Lock()
	b.holding, b.heldAt = true, disconnects
	b.aliveUntil.Store(sent + int64(fenceLease))
	b.fenceMu.Unlock()
	b.s.fencesTaken.Add(1)
	b.s.log.Debug("keystore: fenced", "solution", b.solution)
	go b.keepFence(pfx)
	return nil
}

// renew stores the lock record again through the fence, as a compare-and-set on the revision
// this instance last stored. A write, not a probe: a stream leader cut off from the others' quorum
// may still refuse a probe, as if current, until it steps down, but cannot store anything; so a
// renewal succeeds only while the fence stands for the cluster.
func (b *bucket) renew(ctx context.Context) error {
	p := b.ownPrefix.Load()
	if p == nil {
		return errNotFenced
	}
	data, _ := json.Marshal(lockRecord{Holder: b.s.fenceID, Release: b.s.releaseSubject(), Prefix: *p})
	m := &nats.Msg{Subject: *p + lockToken, Data: data, Header: nats.Header{
		jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(b.lockRev.Load(), 10)},
	}}
	rev, err := b.publishOnce(ctx, m)
	if err != nil {
		return err
	}
	b.lockRev.Store(rev)
	return nil
}

// keepFence renews the fence every fenceKeepalive while this instance holds it, extending the
// time it answers from memory; a renewal finding no stream, or another lock record, means the
// fence was taken down.
func (b *bucket) keepFence(pfx string) {
	t := time.NewTicker(fenceKeepalive)
	defer t.Stop()
	for range t.C {
		if p := b.ownPrefix.Load(); p == nil || *p != pfx || b.s.closed.Load() {
			return
		}
		sent := mono()
		disconnects := b.s.bus.Disconnects()
		ctx, cancel := context.WithTimeout(context.Background(), fenceLease)
		err := b.renew(ctx)
		if err == nil && disconnects != b.heldDisconnects() && b.catchUp(ctx) == nil {
			// The connection was lost and is back: answer from memory again once a round saw
			// the index current.
			b.fenceMu.Lock()
			b.heldAt = disconnects
			b.fenceMu.Unlock()
		}
		cancel()
		switch {
		case err == nil:
			b.aliveUntil.Store(sent + int64(fenceLease))
		case errors.Is(err, nats.ErrNoResponders) || isConflict(err):
			// The subjects were restored, or the lock record was freed or claimed.
			b.dropFence()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b.freeLock(ctx, b.s.fenceID)
			cancel()
			return
		}
	}
}

func (b *bucket) heldDisconnects() uint64 {
	b.fenceMu.RLock()
	defer b.fenceMu.RUnlock()
	return b.heldAt
}

// dropFence stops answering from memory and publishing through the fence.
func (b *bucket) dropFence() {
	b.fenceMu.Lock()
	b.holding = false
	b.fenceMu.Unlock()
	b.ownPrefix.Store(nil)
	b.fenceAfter.Store(mono() + int64(fencePause))
}

// giveUp releases a fence this instance holds: it stops answering from memory first, then
// restores the subjects and frees the lock record.
func (b *bucket) giveUp(ctx context.Context) error {
	b.fenceMu.Lock()
	b.holding = false // at once: the fence being taken meanwhile is given up right after
	b.fenceMu.Unlock()
	b.fenceAfter.Store(mono() + int64(fencePause))
	b.fenceOpMu.Lock()
	defer b.fenceOpMu.Unlock()
	return b.giveUpLocked(ctx)
}

// giveUpLocked is giveUp for callers holding fenceOpMu.
func (b *bucket) giveUpLocked(ctx context.Context) error {
	b.fenceMu.Lock()
	b.holding = false
	b.fenceMu.Unlock()
	b.fenceAfter.Store(mono() + int64(fencePause))
	b.pubMu.Lock()
	err := b.restoreSubjects(ctx, b.s.fenceID)
	b.ownPrefix.Store(nil)
	b.pubMu.Unlock()
	if err == nil {
		b.freeLock(ctx, b.s.fenceID)
	}
	return err
}

// unfence makes the bucket writable through $KV.<bucket>.… when another instance fenced it: it
// asks the holder to give the fence up, and when the holder does not answer, takes it down and
// waits out the holder's lease. errNotFenced: the subjects were open already.
func (b *bucket) unfence(ctx context.Context) error {
	b.unfenceMu.Lock()
	defer b.unfenceMu.Unlock()
	info, err := b.stream.Info(ctx)
	if err != nil {
		return err
	}
	if b.openSubjects(info.Config.Subjects) {
		b.otherPrefix.Store(nil)
		return errNotFenced
	}
	rec, _, err := b.readLock(ctx)
	if err != nil {
		// Unreadable: no holder to ask, so the fence comes down by force below.
		b.s.log.Warn("keystore: lock record", "solution", b.solution, "err", err)
		rec = lockRecord{}
	}
	b.s.releasesAsked.Add(1)
	if rec.Release != "" && rec.Holder != b.s.fenceID {
		rctx, cancel := context.WithTimeout(ctx, releaseTimeout)
		resp, err := b.s.bus.Conn().RequestWithContext(rctx, rec.Release, []byte(b.solution))
		cancel()
		if err == nil && string(resp.Data) == "ok" {
			b.otherPrefix.Store(nil)
			return nil
		}
	}
	b.s.log.Warn("keystore: the instance holding a bucket did not give it up; taking it down", "solution", b.solution, "holder", rec.Holder)
	if err := b.restoreSubjects(ctx, ""); err != nil {
		return err
	}
	select {
	case <-time.After(fenceLease + fenceLease/10):
	case <-ctx.Done():
		return ctx.Err()
	}
	b.freeLock(ctx, rec.Holder)
	b.otherPrefix.Store(nil)
	return nil
}

// openSubjects reports whether the stream takes the bucket's own subjects (no fence).
func (b *bucket) openSubjects(subjects []string) bool {
	return len(subjects) == 1 && subjects[0] == b.prefix+">"
}

// restoreSubjects gives the stream back its own subjects, without the transform: when holder
// is set, only if that instance's fence is on it.
func (b *bucket) restoreSubjects(ctx context.Context, holder string) error {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return err
	}
	cfg := info.Config
	if b.openSubjects(cfg.Subjects) {
		return nil
	}
	if holder != "" && (len(cfg.Subjects) != 1 || !strings.HasPrefix(cfg.Subjects[0], fenceSubjects+holder+".")) {
		return nil
	}
	cfg.Subjects = []string{b.prefix + ">"}
	cfg.SubjectTransform = nil
	if _, err := b.s.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("restore subjects: %w", err)
	}
	return nil
}

// readLock reads the bucket's lock record and its revision (0 when there is none).
func (b *bucket) readLock(ctx context.Context) (lockRecord, uint64, error) {
	var rec lockRecord
	m, err := b.stream.GetLastMsgForSubject(ctx, b.prefix+lockToken)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return rec, 0, nil
	}
	if err != nil {
		return rec, 0, fmt.Errorf("lock record: %w", err)
	}
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &rec); err != nil {
			return rec, 0, fmt.Errorf("lock record: %w", err)
		}
	}
	return rec, m.Sequence, nil
}

// freeLock empties the lock record if holder still holds it.
func (b *bucket) freeLock(ctx context.Context, holder string) {
	rec, rev, err := b.readLock(ctx)
	if err != nil || rec.Holder != holder || rev == 0 {
		return
	}
	m := &nats.Msg{Subject: b.prefix + lockToken, Header: nats.Header{
		jetstream.ExpectedLastSubjSeqHeader: []string{strconv.FormatUint(rev, 10)},
	}}
	_, _ = b.publishOnce(ctx, m)
}

// probeSubjectNow is where a catch-up round publishes its probe: through this
// instance's fence, else through another holder's, else the bucket's own subjects. The probe is
// refused and stores nothing whichever way it goes.
func (b *bucket) probeSubjectNow() string {
	if p := b.ownPrefix.Load(); p != nil {
		return *p + probeSubject
	}
	if p := b.otherPrefix.Load(); p != nil {
		return *p + probeSubject
	}
	return b.prefix + probeSubject
}

// learnFence records, after a probe found no stream, which prefix the stream takes now.
func (b *bucket) learnFence(ctx context.Context) bool {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return false
	}
	subj := info.Config.Subjects
	if b.openSubjects(subj) {
		b.otherPrefix.Store(nil)
		return true
	}
	if len(subj) == 1 && strings.HasSuffix(subj[0], ">") {
		p := strings.TrimSuffix(subj[0], ">")
		if own := b.ownPrefix.Load(); own == nil || *own != p {
			b.otherPrefix.Store(&p)
			return true
		}
	}
	return false
}

// keySubject is the subject this instance publishes key's messages to: through its fence while
// it holds one.
func (b *bucket) keySubject(key string) string {
	if p := b.ownPrefix.Load(); p != nil {
		return *p + encodeKey(key)
	}
	return b.prefix + encodeKey(key)
}

// redirect readies m for another attempt after its publish found no stream: to the subjects
// this instance publishes to now (its fence was taken or given up meanwhile), or, when those
// are the bucket's own, after the instance holding the bucket gave it up.
func (b *bucket) redirect(ctx context.Context, m *nats.Msg) bool {
	if !b.s.fence {
		return false
	}
	i := strings.LastIndexByte(m.Subject, '.')
	if i < 0 {
		return false
	}
	token := m.Subject[i+1:]
	want := b.prefix
	if p := b.ownPrefix.Load(); p != nil {
		want = *p
	}
	if m.Subject != want+token {
		m.Subject = want + token
		return true
	}
	if want != b.prefix {
		return false // through our own fence, and it is gone: keepFence notices
	}
	return b.unfence(ctx) == nil
}

// releaseSubject is where this instance answers release requests.
func (s *Store) releaseSubject() string { return releaseSubjects + s.fenceID }

// onRelease gives up this instance's fence on the solution named in the request.
func (s *Store) onRelease(m *nats.Msg) {
	answer := "ok"
	solution, ping := strings.CutPrefix(string(m.Data), pingPrefix)
	v, ok := s.buckets.Load(solution)
	if ping {
		answer = "here"
	} else if !validSolution(solution) || !ok {
		answer = "not held here"
	} else {
		b := v.(*bucket)
		held := b.ownPrefix.Load() != nil
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := b.giveUp(ctx); err != nil {
			// The asker takes the fence down itself; the reason stays in this instance's log.
			s.log.Warn("keystore: give up fence", "solution", solution, "err", err)
			answer = "could not give it up"
		} else if held {
			s.releasesGiven.Add(1)
		}
		cancel()
	}
	_ = m.Respond([]byte(answer))
}

// giveUpAll releases every fence this instance holds (on Close).
func (s *Store) giveUpAll() {
	s.buckets.Range(func(_, v any) bool {
		b := v.(*bucket)
		if b.ownPrefix.Load() != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := b.giveUp(ctx); err != nil {
				s.log.Warn("keystore: give up fence", "solution", b.solution, "err", err)
			}
			cancel()
		}
		return true
	})
}

// Stats are counters of this instance's Keystore, for metrics.
type Stats struct {
	CatchUpRounds int64 // catch-up rounds (follow.go)
	FencesTaken   int64 // buckets this instance fenced
	ReleasesAsked int64 // times a write found a bucket fenced by another instance
	ReleasesGiven int64 // fences given up at another instance's request
	FencesHeld    int64 // buckets this instance answers from memory as their fence's holder
}

// Stats returns the counters as of now.
func (s *Store) Stats() Stats {
	st := Stats{
		CatchUpRounds: s.syncRounds.Load(),
		FencesTaken:   s.fencesTaken.Load(),
		ReleasesAsked: s.releasesAsked.Load(),
		ReleasesGiven: s.releasesGiven.Load(),
	}
	s.buckets.Range(func(_, v any) bool {
		b := v.(*bucket)
		b.fenceMu.RLock()
		if b.holding {
			st.FencesHeld++
		}
		b.fenceMu.RUnlock()
		return true
	})
	return st
}
