package api

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/automation"
	"github.com/switchboardhq/switchboard/internal/kaa"
)

// Automations publishes Kaa automation invocations; *automation.Trigger is one.
type Automations interface {
	Invoke(ctx context.Context, sol string, r automation.Request) (automation.Published, error)
}

// invokeAutomation answers POST /api/v1/solutions/{solution}/automations/{type}: the body,
// as it is, is the invocation's payload (none: null; said to be JSON, it must be JSON without
// a repeated key); ?timeout= (milliseconds, 0 never
// expires) and ?correlation_id= are optional. 202 with what was published.
func (s *Server) invokeAutomation(w http.ResponseWriter, r *http.Request, _ principal) {
	sol := r.PathValue("solution")
	req := automation.Request{Type: r.PathValue("type"), CorrelationID: r.URL.Query().Get("correlation_id")}
	if v := r.URL.Query().Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 || ms > 1<<40 {
			writeErr(w, errorf(http.StatusBadRequest, "timeout", "want whole milliseconds, 0 (never expires) or more, got %q", v))
			return
		}
		req.Timeout = time.Duration(ms) * time.Millisecond
	}
	if r.ContentLength > kaa.MaxPayloadBytes {
		writeErr(w, errorf(http.StatusRequestEntityTooLarge, "payload", "%d bytes, at most %d", r.ContentLength, kaa.MaxPayloadBytes))
		return
	}
	ticket, err := s.admit(sol)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer ticket.Release()
	body, aerr := s.readBody(w, r, ticket)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	if len(body) > kaa.MaxPayloadBytes {
		writeErr(w, errorf(http.StatusRequestEntityTooLarge, "payload", "%d bytes, at most %d", len(body), kaa.MaxPayloadBytes))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); len(body) > 0 && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		// Said to be JSON: it must be, once — Switchboard's executor reads it as the event's data.
		if aerr := checkJSON(body); aerr != nil {
			writeErr(w, aerr)
			return
		}
	}
	if len(body) > 0 {
		req.Payload = &body
	}
	pub, err := s.opt.Automations.Invoke(r.Context(), sol, req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, pub)
}
