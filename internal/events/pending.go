package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// PendingCounter counts the durable events of a solution not yet done, by topic: what
// connectors hold back for when a solution's handlers fall behind.
type PendingCounter struct {
	js jetstream.JetStream

	mu sync.Mutex
	st jetstream.Stream // EventsStream, once found
}

// NewPendingCounter counts in the EventsStream of js.
func NewPendingCounter(js jetstream.JetStream) *PendingCounter { return &PendingCounter{js: js} }

// Count is, by topic, how many events of sol EventsStream holds: with its interest retention,
// those stored and not yet done by every handler they reached (waiting, running, or waiting
// for a retry). It takes one request to the server. ok is false when the stream keeps events
// by limits instead (made by a version before interest retention, on a server before 2.10,
// which cannot change it): it then holds done events too, and cannot tell.
func (p *PendingCounter) Count(ctx context.Context, sol string) (byTopic map[string]uint64, ok bool, err error) {
	st, err := p.stream(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return map[string]uint64{}, true, nil // no event was ever stored
	}
	if err != nil {
		return nil, false, err
	}
	prefix := eventSubject(sol, "")
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		p.forget()
		return map[string]uint64{}, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("count pending events of solution %s: %w", sol, err)
	}
	if info.Config.Retention != jetstream.InterestPolicy {
		return nil, false, nil
	}
	byTopic = make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		if topic, found := strings.CutPrefix(subj, prefix); found {
			byTopic[topic] = n
		}
	}
	return byTopic, true, nil
}

func (p *PendingCounter) stream(ctx context.Context) (jetstream.Stream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st != nil {
		return p.st, nil
	}
	st, err := p.js.Stream(ctx, EventsStream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", EventsStream, err)
	}
	p.st = st
	return st, nil
}

// forget drops the stream found: deleted, it is looked up anew.
func (p *PendingCounter) forget() {
	p.mu.Lock()
	p.st = nil
	p.mu.Unlock()
}
