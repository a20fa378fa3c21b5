package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// DefaultLogsHeartbeat is how often a quiet follow of a solution's logs sends a comment line,
// so proxies and clients can tell it is alive.
const DefaultLogsHeartbeat = 15 * time.Second

// logsParams are the query parameters GET .../logs takes.
var logsParams = map[string]bool{"level": true, "since": true, "request_id": true, "error_id": true, "source": true, "cursor": true, "limit": true, "follow": true}

// logsQuery reads the filters and paging of a logs request.
func logsQuery(r *http.Request) (q solutionlog.Query, follow bool, aerr *Error) {
	v := r.URL.Query()
	for k := range v {
		if !logsParams[k] {
			return q, false, errorf(http.StatusBadRequest, k, "unknown query parameter %q; want level, since, request_id, error_id, source, cursor, limit or follow", k)
		}
	}
	q.Level, q.RequestID, q.ErrorID, q.Source = v.Get("level"), v.Get("request_id"), v.Get("error_id"), v.Get("source")
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
		writeFollowersErr(w, err, solutionlog.ErrTooManyFollowers)
		return
	}
	defer release()
	out, err := startSSE(w)
	if err != nil {
		return
	}
	send := func(e solutionlog.Entry) error { return out.send(strconv.FormatUint(e.Seq, 10), e) }
	if err := s.opt.Logs.Follow(r.Context(), sol, q, s.heartbeat(), send, out.keepalive); err != nil && r.Context().Err() == nil {
		s.opt.Logger.Debug("log follow ended", "solution", sol, "err", err)
	}
}
