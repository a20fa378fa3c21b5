package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// DeadLetters reads, replays and purges solutions' dead letters; *events.Dispatcher is one.
type DeadLetters interface {
	DeadLetters(ctx context.Context, sol string, q events.DeadLetterQuery) (events.DeadLetterPage, error)
	DeadLetter(ctx context.Context, sol string, seq uint64) (events.StoredDeadLetter, error)
	ReplayDeadLetters(ctx context.Context, sol string, sel events.DeadLetterSelection) (int, error)
	PurgeDeadLetters(ctx context.Context, sol string, sel events.DeadLetterSelection) (int, error)
}

func (s *Server) handleDeadLetters() {
	s.handle("GET /api/v1/solutions/{solution}/deadletters", s.owner(s.listDeadLetters))
	s.handle("GET /api/v1/solutions/{solution}/deadletters/{seq}", onlyPostReplay(s.owner(s.getDeadLetter)))
	s.handle("POST /api/v1/solutions/{solution}/deadletters/replay", s.owner(s.replayDeadLetters))
	s.handle("DELETE /api/v1/solutions/{solution}/deadletters", s.owner(s.purgeDeadLetters))
	s.handle("DELETE /api/v1/solutions/{solution}/deadletters/{seq}", onlyPostReplay(s.owner(s.deleteDeadLetter)))
}

// onlyPostReplay answers …/deadletters/replay, which the {seq} routes also match, as the
// mux answers a method a path does not take: 405, before any authentication.
func onlyPostReplay(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("seq") == "replay" {
			w.Header().Set("Allow", "POST")
			writeErr(w, errorf(http.StatusMethodNotAllowed, "", "%s is not allowed on %s (allowed: POST)", r.Method, r.URL.Path))
			return
		}
		next(w, r)
	}
}

// deadLetterParams reads the filters in a dead-letter request's query; allowed names the
// parameters the route takes besides handler, topic and since.
func deadLetterParams(r *http.Request, allowed ...string) (f events.DeadLetterFilter, aerr *Error) {
	v := r.URL.Query()
	known := map[string]bool{"handler": true, "topic": true, "since": true}
	for _, a := range allowed {
		known[a] = true
	}
	for k := range v {
		if !known[k] {
			return f, errorf(http.StatusBadRequest, k, "unknown query parameter %q", k)
		}
	}
	f.Handler, f.Topic = v.Get("handler"), v.Get("topic")
	var err error
	if f.Since, err = solutionlog.ParseSince(v.Get("since"), time.Now()); err != nil {
		return f, errorf(http.StatusBadRequest, "since", "since %v", err)
	}
	return f, nil
}

// deadLetterSeq reads the {seq} of a dead-letter path.
func deadLetterSeq(r *http.Request) (uint64, *Error) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		return 0, errorf(http.StatusBadRequest, "seq", "seq %q: want the seq of a dead letter, a positive number", r.PathValue("seq"))
	}
	return seq, nil
}

// writeDeadLetterErr answers a failed dead-letter request.
func writeDeadLetterErr(w http.ResponseWriter, err error) {
	if errors.Is(err, events.ErrNoDeadLetter) {
		writeErr(w, errorf(http.StatusNotFound, "seq", "%v", err))
		return
	}
	if errors.Is(err, events.ErrHandlerGone) {
		writeErr(w, errorf(http.StatusConflict, "seq", "%v", err))
		return
	}
	writeErr(w, err)
}

// listDeadLetters answers GET …/deadletters: a page of the solution's dead letters.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, _ principal) {
	f, aerr := deadLetterParams(r, "cursor", "limit")
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	q := events.DeadLetterQuery{DeadLetterFilter: f}
	v := r.URL.Query()
	var err error
	if q.After, err = solutionlog.ParseCursor(v.Get("cursor")); err != nil {
		writeErr(w, errorf(http.StatusBadRequest, "cursor", "cursor %v", err))
		return
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > events.MaxDeadLetterLimit {
			writeErr(w, errorf(http.StatusBadRequest, "limit", "limit %q: want 1 to %d", l, events.MaxDeadLetterLimit))
			return
		}
	}
	page, err := s.opt.DeadLetters.DeadLetters(r.Context(), r.PathValue("solution"), q)
	if err != nil {
		writeDeadLetterErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getDeadLetter(w http.ResponseWriter, r *http.Request, _ principal) {
	seq, aerr := deadLetterSeq(r)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	dl, err := s.opt.DeadLetters.DeadLetter(r.Context(), r.PathValue("solution"), seq)
	if err != nil {
		writeDeadLetterErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dl)
}

// replayDeadLetters answers POST …/deadletters/replay: the dead letters the body selects go
// back to their handlers as fresh deliveries.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request, _ principal) {
	var body struct {
		Seq     uint64 `json:"seq"`
		Handler string `json:"handler"`
		Topic   string `json:"topic"`
		Since   string `json:"since"`
		All     bool   `json:"all"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	sel := events.DeadLetterSelection{Seq: body.Seq, All: body.All, DeadLetterFilter: events.DeadLetterFilter{Handler: body.Handler, Topic: body.Topic}}
	if sel.Since, err = solutionlog.ParseSince(body.Since, time.Now()); err != nil {
		writeErr(w, errorf(http.StatusBadRequest, "since", "since %v", err))
		return
	}
	// Once begun, a replay finishes even if the client goes away.
	n, err := s.opt.DeadLetters.ReplayDeadLetters(context.WithoutCancel(r.Context()), r.PathValue("solution"), sel)
	if err != nil {
		writeDeadLetterErr(w, err)
		return
	}
	s.opt.Logger.Info("dead letters replayed", "solution", r.PathValue("solution"), "count", n)
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}

// purgeDeadLetters answers DELETE …/deadletters: removes those the query selects (all=true
// for every one).
func (s *Server) purgeDeadLetters(w http.ResponseWriter, r *http.Request, _ principal) {
	f, aerr := deadLetterParams(r, "all")
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	sel := events.DeadLetterSelection{DeadLetterFilter: f}
	switch a := r.URL.Query().Get("all"); a {
	case "", "false", "0":
	case "true", "1":
		sel.All = true
	default:
		writeErr(w, errorf(http.StatusBadRequest, "all", "all %q: want true or false", a))
		return
	}
	s.purge(w, r, sel)
}

func (s *Server) deleteDeadLetter(w http.ResponseWriter, r *http.Request, _ principal) {
	seq, aerr := deadLetterSeq(r)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	s.purge(w, r, events.DeadLetterSelection{Seq: seq})
}

func (s *Server) purge(w http.ResponseWriter, r *http.Request, sel events.DeadLetterSelection) {
	n, err := s.opt.DeadLetters.PurgeDeadLetters(context.WithoutCancel(r.Context()), r.PathValue("solution"), sel)
	if err != nil {
		writeDeadLetterErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"purged": n})
}
