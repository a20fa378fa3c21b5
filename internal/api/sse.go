package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// sse writes a stream of Server-Sent Events: a live follow of logs or events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE answers 200 with an event stream; an error means the client is gone.
func startSSE(w http.ResponseWriter) (*sse, error) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // proxies must not hold the events back
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: rc}, rc.Flush()
}

// send writes v as one event's JSON data, with its id when not "".
func (s *sse) send(id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// keepalive writes a comment line, so proxies and clients can tell a quiet stream is alive.
func (s *sse) keepalive() error {
	if _, err := s.w.Write([]byte(": keepalive\n\n")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// heartbeat is how often a quiet follow sends a keepalive.
func (s *Server) heartbeat() time.Duration {
	if s.opt.LogsHeartbeat > 0 {
		return s.opt.LogsHeartbeat
	}
	return DefaultLogsHeartbeat
}

// writeFollowersErr answers a follow that found no free slot: 429 when the solution has its
// share (tooMany), 503 when the server is full.
func writeFollowersErr(w http.ResponseWriter, err, tooMany error) {
	status := http.StatusServiceUnavailable
	if errors.Is(err, tooMany) {
		status = http.StatusTooManyRequests
	}
	w.Header().Set("Retry-After", "5")
	writeErr(w, errorf(status, "follow", "%v", err))
}
