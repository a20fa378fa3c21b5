package connector

import (
	"context"
	"sync"
)

// recordSink is a sink that keeps what it would store, as the hub's sink does: a message it
// could not make an event of is counted as rejected and does not fail the batch. fail, when
// set, decides per call (counted from 1) whether Publish fails.
type recordSink struct {
	mu       sync.Mutex
	calls    int
	msgs     []Message
	rejected int
	fail     func(call int, ms []Message) error
}

func (r *recordSink) Publish(_ context.Context, ms []Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(r.calls, ms); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if _, err := EventOf(Connector{Solution: "demo", Name: "c1", Topic: "t"}, m); err != nil {
			r.rejected++
			continue
		}
		r.msgs = append(r.msgs, m)
	}
	return nil
}

// got is what was kept.
func (r *recordSink) got() []Message {
	ms, _ := r.stored()
	return ms
}

// stored is what was kept, and how many were rejected.
func (r *recordSink) stored() ([]Message, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...), r.rejected
}

// count is how many kept messages have data.
func (r *recordSink) count(data string) int {
	n := 0
	for _, m := range r.got() {
		if string(m.Data) == data {
			n++
		}
	}
	return n
}
