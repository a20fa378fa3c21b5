package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	cebinding "github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
)

// publishBody is a plain (not CloudEvents) event.
type publishBody struct {
	ID            string          `json:"id"`
	Topic         *string         `json:"topic"`
	Data          json.RawMessage `json:"data"`
	CorrelationID string          `json:"correlation_id"`
}

// publishEvent answers POST /api/v1/solutions/{solution}/events: the event is stored and its
// handlers run durably later (202 {"id"}), or with ?mode=sync run now and their results are
// the answer. The body is a plain event, or a CloudEvent in binary (ce-* headers) or
// structured (application/cloudevents+json) HTTP mode.
func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request, _ principal) {
	sol := r.PathValue("solution")
	sync, aerr := syncMode(r, false)
	if aerr != nil {
		writeErr(w, aerr)
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
	e, err := s.eventOf(r, sol, body, ticket)
	if err != nil {
		writeErr(w, err)
		return
	}
	if e.ID == "" {
		e.ID = events.NewID() // here, not in the dispatcher, so the answer can name it
	}
	if sync && s.opt.Handlers != nil {
		// Names the handlers whose results the answer holds, so that a client tells one
		// handler's result from a table of several (by handler name).
		var names []string
		for _, h := range s.opt.Handlers.Subscribed(sol, e.Topic) {
			names = append(names, h.Name)
		}
		if len(names) > 0 {
			w.Header().Set("X-Switchboard-Handlers", strings.Join(names, ","))
		}
	}
	s.deliver(w, r, ticket, e, sync, func(err error) { s.writePublishErr(w, sol, e.Topic, err) })
}

// eventOf is the event a publish request's body describes.
func (s *Server) eventOf(r *http.Request, sol string, body []byte, ticket *admission.Ticket) (events.Event, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/cloudevents-batch+json":
		return events.Event{}, errorf(http.StatusUnsupportedMediaType, "", "CloudEvents batches are not accepted: publish one event per request")
	case mt == "application/cloudevents+json" || r.Header.Get("Ce-Specversion") != "":
		if aerr := checkJSONIf(mt == "application/cloudevents+json", body); aerr != nil {
			return events.Event{}, aerr
		}
		ce, err := cebinding.ToEvent(r.Context(), cehttp.NewMessage(r.Header, io.NopCloser(bytes.NewReader(body))))
		if err != nil {
			return events.Event{}, errorf(http.StatusBadRequest, "cloudevent", "not a valid CloudEvent: %v", err)
		}
		return events.FromCloudEvent(sol, *ce)
	case mt != "" && mt != "application/json":
		return events.Event{}, errorf(http.StatusUnsupportedMediaType, "", "Content-Type must be application/json (a plain event), application/cloudevents+json, or a CloudEvent in binary mode with ce-* headers; not %q", mt)
	}
	var pb publishBody
	if err := s.decodeBody(ticket, body, &pb); err != nil {
		return events.Event{}, err
	}
	if pb.Topic == nil {
		return events.Event{}, errorf(http.StatusBadRequest, "topic", "topic: required")
	}
	e := events.Event{ID: pb.ID, Solution: sol, Topic: *pb.Topic, CorrelationID: pb.CorrelationID}
	if len(pb.Data) > 0 && string(pb.Data) != "null" {
		e.Data = pb.Data
	}
	return e, nil
}

// checkJSONIf is checkJSON when cond holds.
func checkJSONIf(cond bool, body []byte) *Error {
	if !cond {
		return nil
	}
	return checkJSON(body)
}

// writePublishErr answers a publish whose handlers could not run or failed.
func (s *Server) writePublishErr(w http.ResponseWriter, sol, topic string, err error) {
	if errors.Is(err, events.ErrNoHandler) {
		writeErr(w, errorf(http.StatusNotFound, "topic", "no handler of solution %s subscribes to topic %q", sol, topic))
		return
	}
	s.writeEventErr(w, sol, err)
}
