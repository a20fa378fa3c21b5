package keystore

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sweepLoop runs the housekeeping of every loaded bucket each SweepInterval until Close.
func (s *Store) sweepLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.buckets.Range(func(_, v any) bool {
			s.sweep(ctx, v.(*bucket))
			return ctx.Err() == nil
		})
	}
}

// sweep deletes the bucket's expired keys, purges delete markers old enough that every index has
// seen them, and unloads the bucket when it has been idle with nothing left to sweep.
func (s *Store) sweep(ctx context.Context, b *bucket) {
	b.idxMu.Lock()
	started := b.idxStarted
	b.idxMu.Unlock()
	if !started {
		s.evictIfIdle(b, true)
		return
	}
	select {
	case <-b.ready:
	default:
		return
	}
	now := s.nowMs()
	wall := time.Now().UnixNano()
	type target struct {
		key string
		rev uint64
	}
	var expired, markers []target
	b.mu.Lock()
	for k, exp := range b.expiring {
		if exp <= now {
			expired = append(expired, target{k, b.keys[k].rev})
		}
	}
	if b.dead > 0 {
		for k, e := range b.keys {
			// When following, only markers the consumer has passed: one it has yet to deliver
			// would otherwise come back as a tombstone that is never purged.
			if e.dead && (!s.follow || e.rev <= b.seen) && wall-e.at >= s.markerAge.Load() {
				markers = append(markers, target{k, e.rev})
			}
		}
	}
	empty := len(b.expiring) == 0 && b.dead == 0
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if b.otherPrefix.Load() != nil {
		expired = nil // another instance holds the bucket and sweeps it
	}
	for _, t := range expired {
		// Compare-and-set on the revision read: a key rewritten since is left alone.
		rev, err := b.remove(ctx, t.key, t.rev)
		if err == nil {
			b.applyOwn(t.key, rev, true, 0, nil)
		} else if !isConflict(err) {
			s.log.Warn("keystore: delete expired key", "solution", b.solution, "err", err)
			return
		}
	}
	for _, t := range markers {
		// Remove the marker and anything older on its subject, never a newer value.
		err := b.stream.Purge(ctx, jetstream.WithPurgeSubject(b.subject(t.key)), jetstream.WithPurgeSequence(t.rev+1))
		if err != nil {
			s.log.Warn("keystore: purge delete marker", "solution", b.solution, "err", err)
			return
		}
		b.mu.Lock()
		b.forgetTombstone(t.key, t.rev)
		b.mu.Unlock()
	}
	s.evictIfIdle(b, empty)
}

// evictIfIdle unloads a bucket nobody used for idleAfter, so a hub with many solutions keeps
// indexes (and consumers) only for the active ones. It stays loaded while it has expiries or
// markers to sweep.
func (s *Store) evictIfIdle(b *bucket, empty bool) {
	if !empty || time.Since(time.Unix(0, b.lastUsed.Load())) < time.Duration(s.idleAfter.Load()) {
		return
	}
	s.forget(b)
}
