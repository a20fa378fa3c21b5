package connector

import (
	"context"
	"time"
)

// ready tells a sink that wants to know that its source is connected and subscribed: from
// then on a message sent to the source reaches the connector. A source calls it once per Run.
func ready(s Sink) {
	if r, ok := s.(interface{ Ready() }); ok {
		r.Ready()
	}
}

// dropMessages tells a sink that wants to know that n messages were lost before reaching it
// (a source that cannot be asked to wait, such as core NATS, dropped them): they are counted
// as received and rejected, and logged.
func dropMessages(s Sink, n int, why string) {
	if d, ok := s.(interface{ Dropped(n int, why string) }); ok {
		d.Dropped(n, why)
	}
}

// Dropped counts n messages the source lost before they reached the sink.
func (s *sink) Dropped(n int, why string) {
	s.r.set(func(st *Status) {
		st.Received += uint64(n)
		st.Rejected += uint64(n)
	})
	c := s.r.c
	s.r.m.log.Warn("connector messages dropped", "solution", c.Solution, "connector", c.Name, "count", n, "reason", why)
}

// Ready turns the connector's state from connecting to running, and says so on its lease at
// once rather than at the next heartbeat, so that every instance shows it.
func (s *sink) Ready() {
	s.r.set(func(st *Status) {
		if st.State == StateConnecting {
			st.State, st.Since = StateRunning, time.Now().UTC()
		}
	})
	if s.r.m.leases != nil { // nil for a sink made alone, in a test
		s.r.beat(context.Background())
	}
}
