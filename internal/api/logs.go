package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// DefaultLogsHeartbeat is how often a quiet follow of a solution's logs sends a comment line,
// so proxies and clients can tell it is alive.
const DefaultLogsHeartbeat = 15 * time.Second

// logsParams are the query parameters GET .../logs takes.
var logsParams = map[string]bool{"level": true, "since": true, "request_id": true, "source": true, "cursor": true, "limit": true, "follow": true}

// logsQuery reads the filters and paging of a logs request.
func logsQuery(r *http.Request) (q solutionlog.Query, follow bool, aerr *Error) {
	v := r.URL.Query()
	for k := range v {
		if !logsParams[k] {
			return q, false, errorf(http.StatusBadRequest, k, "unknown query parameter %q; want level, since, request_id, source, cursor, limit or follow", k)
		}
	}
	q.Level, q.RequestID, q.Source = v.Get("level"), v.Get("request_id"), v.Get("source")
	var err error
	if q.Since, err = solutionlog.ParseSince(v.Get("since"), time.Now()); err != nil {
		return q, false, errorf(http.StatusBadRequest, "since", "since %v", err)
	}
	cursor := v.Get("cursor")
	if cursor == "" {
		cursor = r.Header.Get("Last-Event-ID") // a follow that reconnects resumes where it was
	}
	if q.After, err = solutionlog.ParseCursor(cursor); err != nil {
		return q, false, errorf(http.StatusBadRequest, "cursor", "cursor %v", err)
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 {
			return q, false, errorf(http.StatusBadRequest, "limit", "limit %q: want 1 to %d", l, solutionlog.MaxLimit)
		}
	}
	if err := q.Validate(); err != nil {
		field := "limit"
		if q.Level != "" && solutionlog.LevelRank(q.Level) < 0 {
			field = "level"
		}
		return q, false, errorf(http.StatusBadRequest, field, "%v", err)
	}
	switch f := v.Get("follow"); f {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		return q, false, errorf(http.StatusBadRequest, "follow", "follow %q: want 1 or 0", f)
	}
	return q, follow, nil
}

// solutionLogs answers GET /api/v1/solutions/{solution}/logs: a page of the solution's log,
// or with follow=1 its entries as Server-Sent Events as they are written.
func (s *Server) solutionLogs(w http.ResponseWriter, r *http.Request, _ principal) {
	sol := r.PathValue("solution") // owner() checked the token may read this solution's
	q, follow, aerr := logsQuery(r)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	if !follow {
		page, err := s.opt.Logs.Read(r.Context(), sol, q)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, page)
		return
	}
	release, err := s.opt.Logs.TakeFollower(sol)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, solutionlog.ErrTooManyFollowers) {
			status = http.StatusTooManyRequests
		}
		w.Header().Set("Retry-After", "5")
		writeErr(w, errorf(status, "follow", "%v", err))
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // proxies must not hold the events back
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := s.opt.LogsHeartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultLogsHeartbeat
	}
	send := func(e solutionlog.Entry) error {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.Seq, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	idle := func() error {
		if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := s.opt.Logs.Follow(r.Context(), sol, q, heartbeat, send, idle); err != nil && r.Context().Err() == nil {
		s.opt.Logger.Debug("log follow ended", "solution", sol, "err", err)
	}
}
