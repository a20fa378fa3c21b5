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
