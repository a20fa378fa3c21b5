package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Health bounds: a /readyz probe costs at most one JetStream API call per healthTTL, and
// never waits longer than healthTimeout for it.
const (
	healthTTL     = 2 * time.Second
	healthTimeout = time.Second
)

// health caches the last JetStream check, so frequent probes stay cheap.
type health struct {
	mu       sync.Mutex
	ttl      time.Duration
	at       time.Time // when err was found; zero before the first check
	err      error
	checking bool
}

// Health returns nil when this instance can use JetStream: the connection is up and the
// JetStream API answers (in a cluster only the meta leader answers, so a server that lost
// its quorum fails the check). The answer is cached for a couple of seconds; while one probe
// checks, the others get the last answer instead of waiting.
func (b *Bus) Health() error {
	if !b.Ready() {
		return errors.New("not connected to NATS")
	}
	h := &b.health
	h.mu.Lock()
	ttl := h.ttl
	if ttl == 0 {
		ttl = healthTTL
	}
	if h.checking || (!h.at.IsZero() && time.Since(h.at) < ttl) {
		err := h.err
		h.mu.Unlock()
		return err
	}
	h.checking = true
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	_, err := b.js.AccountInfo(ctx)
	if err != nil {
		err = fmt.Errorf("JetStream not answering (no NATS quorum?): %w", err)
	}
	h.mu.Lock()
	h.at, h.err, h.checking = time.Now(), err, false
	h.mu.Unlock()
	return err
}
