package connector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// eventPublisher stores events; *events.Dispatcher is one.
type eventPublisher interface {
	EnqueueBatch(ctx context.Context, es []events.Event) []error
}

// MaxMessageBytes bounds one message's data; a larger one is rejected (counted and logged),
// not stored.
const MaxMessageBytes = 1 << 20

// sink stores a running connector's messages as events of its topic.
type sink struct {
	r   *runner
	pub eventPublisher
	// app, when set, is the application whose events the connector reads: they go through
	// the manager's gateway instead of to the connector's topic.
	app string
}

func (s *sink) Publish(ctx context.Context, msgs []Message) error {
	if s.app != "" {
		return s.publishApplication(ctx, msgs)
	}
	c := s.r.c
	es := make([]events.Event, 0, len(msgs))
	rejected := 0
	for _, m := range msgs {
		e, err := EventOf(c, m)
		if err != nil {
			rejected++
			s.r.m.log.Warn("connector message rejected", "solution", c.Solution, "connector", c.Name, "id", m.ID, "err", err)
			continue
		}
		es = append(es, e)
	}
	published := 0
	var failed error
	if len(es) > 0 {
		// While the handlers are behind, wait: the source acknowledges nothing meanwhile, so
		// it stops pulling rather than the hub buffering without end.
		if err := s.r.hold(ctx); err != nil {
			return fmt.Errorf("connector %s: %w", c.Name, err)
		}
		errs := s.pub.EnqueueBatch(ctx, es)
		refusedOne := false
		for _, err := range errs {
			var fe *solution.FieldError
			if errors.Is(err, events.ErrNoHandler) || errors.As(err, &fe) {
				refusedOne = true
			}
		}
		if refusedOne {
			// The batch is stored whole or not at all: store the good ones one by one.
			errs = make([]error, len(es))
			for i := range es {
				errs[i] = s.pub.EnqueueBatch(ctx, es[i:i+1])[0]
			}
		}
		for i, err := range errs {
			var fe *solution.FieldError
			switch {
			case err == nil:
				published++
			case errors.Is(err, events.ErrNoHandler), errors.As(err, &fe):
				rejected++
				s.r.m.log.Warn("connector message rejected", "solution", c.Solution, "connector", c.Name, "id", es[i].ID, "err", err)
			default:
				failed = err
			}
		}
	}
	if s.r.gauge != nil {
		s.r.gauge.added(published)
	}
	s.r.set(func(st *Status) {
		st.Received += uint64(len(msgs))
		st.Published += uint64(published)
		st.Rejected += uint64(rejected)
	})
	if failed != nil {
		return fmt.Errorf("store events of connector %s: %w", c.Name, failed)
	}
	return nil
}

// Dropped counts n messages the source lost before handing them over: core NATS drops what
// a subscriber too slow to take them cannot hold.
func (s *sink) Dropped(n int) {
	c := s.r.c
	s.r.m.log.Warn("connector messages dropped: the source sent them faster than they were stored", "solution", c.Solution, "connector", c.Name, "dropped", n)
	s.r.set(func(st *Status) { st.Dropped += uint64(n) })
}

// dropCounter is a Sink that counts what a source lost (see sink.Dropped).
type dropCounter interface{ Dropped(n int) }

// EventOf is the event a connector makes of a message.
func EventOf(c Connector, m Message) (events.Event, error) {
	if len(m.Data) > MaxMessageBytes {
		return events.Event{}, fmt.Errorf("message of %d bytes is larger than %d", len(m.Data), MaxMessageBytes)
	}
	e := events.Event{
		ID:       eventID(c, m.ID),
		Solution: c.Solution,
		Topic:    c.Topic,
		Time:     m.Time,
		Source:   "/solutions/" + c.Solution + "/connectors/" + c.Name,
		Subject:  m.Subject,
	}
	ct := m.ContentType
	switch {
	case ct == "" && json.Valid(m.Data):
		e.Data, e.DataContentType = json.RawMessage(m.Data), "application/json"
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		if !json.Valid(m.Data) {
			return events.Event{}, fmt.Errorf("content type %s, but the data is not JSON", ct)
		}
		e.Data, e.DataContentType = json.RawMessage(m.Data), ct
	case utf8.Valid(m.Data):
		e.Data, e.DataContentType = string(m.Data), cmpOr(ct, "text/plain")
	default:
		return events.Event{}, fmt.Errorf("data of content type %q is neither JSON nor UTF-8 text", ct)
	}
	if len(m.Extensions) > 0 {
		e.Extensions = m.Extensions
	}
	return e, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// eventID is the event id of a message: the connector's name and the source's id, made
// short and printable when it is not; "" (a fresh id) when the source has none.
func eventID(c Connector, id string) string {
	if id == "" {
		return ""
	}
	full := c.Name + ":" + id
	if len(full) <= events.MaxIDBytes && printable(full) {
		return full
	}
	sum := sha256.Sum256([]byte(id))
	return c.Name + ":sha256:" + hex.EncodeToString(sum[:16])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// publishApplication hands an application's messages to the gateway, one by one: each is
// stored for the handlers of its declared topic, or refused (counted and logged).
func (s *sink) publishApplication(ctx context.Context, msgs []Message) error {
	c := s.r.c
	g := s.r.m.gateway
	if g == nil {
		return fmt.Errorf("connector %s: this Switchboard has no event gateway for application %s", c.Name, s.app)
	}
	published, rejected := 0, 0
	var failed error
	for _, m := range msgs {
		err := g.DeliverMQTT(ctx, c.Solution, s.app, m.Subject, m.Data)
		var refused *RefusedError
		switch {
		case err == nil:
			published++
		case errors.As(err, &refused):
			rejected++
			s.r.m.log.Warn("application event refused by the gateway", "solution", c.Solution, "connector", c.Name, "topic", m.Subject, "err", err)
		default:
			failed = err
		}
	}
	s.r.set(func(st *Status) {
		st.Received += uint64(len(msgs))
		st.Published += uint64(published)
		st.Rejected += uint64(rejected)
	})
	if failed != nil {
		return fmt.Errorf("store events of connector %s: %w", c.Name, failed)
	}
	return nil
}
