// Package eventsvc is the Events core service: a solution's scripts publish events to their own
// solution's handlers, durably, as POST /api/v1/solutions/{solution}/events does.
package eventsvc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Publisher stores an event for its handlers; *events.Dispatcher is one.
type Publisher interface {
	Enqueue(ctx context.Context, e events.Event) error
}

// Service is the Events core service.
type Service struct {
	pub Publisher
}

// New returns the Events service.
func New(p Publisher) *Service { return &Service{pub: p} }

// Spec describes Events.
func (s *Service) Spec() service.Spec {
	return service.Spec{
		Name:        "events",
		Kind:        service.KindCore,
		Description: "Publishes events to this solution's handlers.",
		Operations: []service.Operation{
			{Name: "publish", Description: "Stores an event for the handlers subscribed to its topic, which run later: {topic=\"orders.created\", data=…, correlation_id=…, id=…}; returns {id=…}."},
		},
	}
}

// Call runs one Events operation, always for the calling script's own solution.
func (s *Service) Call(ctx context.Context, sol, operation string, args any) (any, error) {
	if !strings.EqualFold(operation, "publish") {
		return nil, service.Errorf(404, "events has no operation %q (it has publish)", operation)
	}
	a, _ := args.(map[string]any)
	e := events.Event{Solution: sol}
	for k, v := range a {
		switch k {
		case "topic", "id", "correlation_id":
			str, ok := v.(string)
			if !ok {
				return nil, service.Errorf(400, "events.publish: %s: want a string", k)
			}
			switch k {
			case "topic":
				e.Topic = str
			case "id":
				e.ID = str
			default:
				e.CorrelationID = str
			}
		case "data":
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, service.Errorf(400, "events.publish: data: not JSON: %v", err)
			}
			e.Data = json.RawMessage(raw)
		default:
			return nil, service.Errorf(400, "events.publish: unknown field %q (want topic, data, correlation_id, id)", k)
		}
	}
	if e.Topic == "" {
		return nil, service.Errorf(400, "events.publish: topic: required")
	}
	if e.ID == "" {
		e.ID = events.NewID()
	}
	if err := s.pub.Enqueue(ctx, e); err != nil {
		var fe *solution.FieldError
		switch {
		case errors.As(err, &fe):
			return nil, service.Errorf(400, "events.publish: %v", err)
		case errors.Is(err, events.ErrNoHandler):
			return nil, service.Errorf(404, "events.publish: no handler of this solution subscribes to topic %q", e.Topic)
		}
		return nil, err
	}
	return map[string]any{"id": e.ID}, nil
}
