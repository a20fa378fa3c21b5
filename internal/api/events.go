package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	cebinding "github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
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
	if isBatch(r, body) {
		if sync {
			writeErr(w, errorf(http.StatusBadRequest, "mode", "a batch of events is stored for durable delivery only; publish one event per request with mode=sync"))
			return
		}
		s.publishBatch(w, r, sol, body, ticket)
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

// MaxBatch bounds the events of one batch.
const MaxBatch = 1000

// isBatch reports whether a publish request holds a batch: CloudEvents' batched mode, or a
// JSON array of plain events.
func isBatch(r *http.Request, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/cloudevents-batch+json" {
		return true
	}
	return (mt == "" || mt == "application/json") && r.Header.Get("Ce-Specversion") == "" &&
		len(bytes.TrimLeft(body, " \t\r\n")) > 0 && bytes.TrimLeft(body, " \t\r\n")[0] == '['
}

// publishBatch stores a batch of events (202 {"ids": […]}, in order) in one go: the fastest
// way in. Should one be refused, none is stored, and the error names it (events[3].topic).
func (s *Server) publishBatch(w http.ResponseWriter, r *http.Request, sol string, body []byte, ticket *admission.Ticket) {
	es, err := s.batchOf(r, sol, body, ticket)
	if err != nil {
		writeErr(w, err)
		return
	}
	ids := make([]string, len(es))
	for i := range es {
		if es[i].ID == "" {
			es[i].ID = events.NewID()
		}
		ids[i] = es[i].ID
	}
	errs := s.opt.Events.EnqueueBatch(origin(r), es)
	var stored, failed []string
	for i, err := range errs {
		if err == nil {
			stored = append(stored, ids[i])
			continue
		}
		if errors.Is(err, events.ErrNoHandler) {
			writeErr(w, errorf(http.StatusNotFound, fmt.Sprintf("events[%d].topic", i), "events[%d]: no handler of solution %s subscribes to topic %q", i, sol, es[i].Topic))
			return
		}
		var fe *solution.FieldError
		if errors.As(err, &fe) {
			writeErr(w, errorf(http.StatusBadRequest, fmt.Sprintf("events[%d].%s", i, fe.Field), "events[%d].%s: %s", i, fe.Field, fe.Reason))
			return
		}
		failed = append(failed, ids[i])
	}
	if len(failed) > 0 {
		// Storage failed part-way: sending the whole batch again stores each id once.
		s.opt.Logger.Error("batch of events not stored whole", "solution", sol, "stored", len(stored), "failed", len(failed), "err", errs)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"error":  "some events of the batch were not stored; send the batch again (events already stored are not stored twice)",
			"stored": stored, "not_stored": failed})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"ids": ids})
}

// batchOf is the events a batch request's body holds.
func (s *Server) batchOf(r *http.Request, sol string, body []byte, ticket *admission.Ticket) ([]events.Event, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/cloudevents-batch+json" {
		if aerr := checkJSON(body); aerr != nil {
			return nil, aerr
		}
		if aerr := s.reserveDecoded(ticket, body); aerr != nil {
			return nil, aerr
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, errorf(http.StatusBadRequest, "", "a CloudEvents batch is a JSON array of structured CloudEvents: %v", err)
		}
		if err := checkBatchSize(len(raws)); err != nil {
			return nil, err
		}
		es := make([]events.Event, len(raws))
		for i, raw := range raws {
			var ce cloudevents.Event
			if err := json.Unmarshal(raw, &ce); err != nil {
				return nil, errorf(http.StatusBadRequest, fmt.Sprintf("events[%d]", i), "events[%d]: not a valid CloudEvent: %v", i, err)
			}
			e, err := events.FromCloudEvent(sol, ce)
			if err != nil {
				var fe *solution.FieldError
				if errors.As(err, &fe) {
					return nil, errorf(http.StatusBadRequest, fmt.Sprintf("events[%d].%s", i, fe.Field), "events[%d].%s: %s", i, fe.Field, fe.Reason)
				}
				return nil, err
			}
			es[i] = e
		}
		return es, nil
	}
	var pbs []publishBody
	if err := s.decodeBody(ticket, body, &pbs); err != nil {
		return nil, err
	}
	if err := checkBatchSize(len(pbs)); err != nil {
		return nil, err
	}
	es := make([]events.Event, len(pbs))
	for i, pb := range pbs {
		if pb.Topic == nil {
			return nil, errorf(http.StatusBadRequest, fmt.Sprintf("events[%d].topic", i), "events[%d].topic: required", i)
		}
		es[i] = events.Event{ID: pb.ID, Solution: sol, Topic: *pb.Topic, CorrelationID: pb.CorrelationID}
		if len(pb.Data) > 0 && string(pb.Data) != "null" {
			es[i].Data = pb.Data
		}
	}
	return es, nil
}

func checkBatchSize(n int) error {
	switch {
	case n == 0:
		return errorf(http.StatusBadRequest, "events", "a batch holds at least one event")
	case n > MaxBatch:
		return errorf(http.StatusRequestEntityTooLarge, "events", "a batch holds at most %d events, not %d", MaxBatch, n)
	}
	return nil
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
