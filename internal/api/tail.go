package api

import (
	"net/http"

	"github.com/switchboardhq/switchboard/internal/events"
)

// tailEvents answers GET /api/v1/solutions/{solution}/events?follow=1[&topic=PATTERN]: the
// events stored for the solution from now on, whose topic matches PATTERN (a topic or a
// subscription with wildcards; every topic without one), as Server-Sent Events.
func (s *Server) tailEvents(w http.ResponseWriter, r *http.Request, _ principal) {
	sol := r.PathValue("solution") // owner() checked the token may read this solution's
	v := r.URL.Query()
	for k := range v {
		if k != "follow" && k != "topic" {
			writeErr(w, errorf(http.StatusBadRequest, k, "unknown query parameter %q; want follow or topic", k))
			return
		}
	}
	if f := v.Get("follow"); f != "1" && f != "true" {
		writeErr(w, errorf(http.StatusBadRequest, "follow", "follow %q: want 1 (events are followed live; GET …/events/{id} reports one)", f))
		return
	}
	pattern := v.Get("topic")
	if pattern != "" {
		if err := events.ValidateSubscription(pattern); err != nil {
			writeErr(w, errorf(http.StatusBadRequest, "topic", "%v", err))
			return
		}
	}
	release, err := s.opt.Tails.TakeTail(sol)
	if err != nil {
		writeFollowersErr(w, err, events.ErrTooManyTails)
		return
	}
	defer release()
	// The stream is answered once the tail is in place, so an event published after the
	// client saw the answer's headers is never missed.
	var out *sse
	ready := func() (err error) {
		out, err = startSSE(w)
		return err
	}
	send := func(e events.Event) error { return out.send(e.ID, e) }
	idle := func() error { return out.keepalive() }
	err = s.opt.Tails.Tail(r.Context(), sol, pattern, s.heartbeat(), ready, send, idle)
	switch {
	case err == nil || r.Context().Err() != nil:
	case out == nil:
		writeErr(w, errorf(http.StatusServiceUnavailable, "", "cannot tail the events of %s now: %v", sol, err))
	default:
		s.opt.Logger.Debug("event tail ended", "solution", sol, "err", err)
	}
}
