package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/events"
)

// MQTTError is an MQTT publish the gateway refused: MQTT 3.1.1 cannot answer a publish, so
// the caller logs it and counts it; Reason is what the HTTP paths would have answered.
type MQTTError struct {
	Field, Reason, Message string
}

func (e *MQTTError) Error() string { return e.Message }

// ParseMQTTTopic reads an application's MQTT topic, {application}/{event-type}/{version}: the
// first level is the application, the last the version, and the levels between are the
// event type, joined by dots (order/created and order.created are the same type).
func ParseMQTTTopic(topic string) (application, eventType, version string, ok bool) {
	levels := strings.Split(topic, "/")
	if len(levels) < 3 {
		return "", "", "", false
	}
	application, version = levels[0], levels[len(levels)-1]
	eventType = strings.Join(levels[1:len(levels)-1], ".")
	if application == "" || version == "" || eventType == "" || strings.Contains(eventType, "..") ||
		!legacyTypePattern.MatchString(eventType) || !legacyVersionPattern.MatchString(version) {
		return "", "", "", false
	}
	return application, eventType, version, true
}

// DeliverMQTT takes what caller published over MQTT on topic: the data is the payload (JSON),
// the event id is fresh, its time now. As on the HTTP paths, the caller publishes for its own
// application only, of types its specs declare, with data matching their schemas.
func (g *Gateway) DeliverMQTT(ctx context.Context, caller Caller, topic string, payload []byte) (events.Event, error) {
	e, err := g.deliverMQTT(ctx, caller, topic, payload)
	var me *MQTTError
	if errors.As(err, &me) && me.Reason != "store_failed" {
		app, _, _, _ := ParseMQTTTopic(topic)
		g.noticeMQTTRefusal(caller.Solution, app, topic, me)
	}
	return e, err
}

func (g *Gateway) deliverMQTT(ctx context.Context, caller Caller, topic string, payload []byte) (events.Event, error) {
	name, typ, version, ok := ParseMQTTTopic(topic)
	if !ok {
		g.countRefused("bad_topic")
		return events.Event{}, &MQTTError{Field: "topic", Reason: "bad_topic",
			Message: fmt.Sprintf("MQTT topic %q: want {application}/{event-type}/{version}, such as shop/order.created/v1", clip(topic))}
	}
	app, rf := g.applicationOf(caller, name)
	if rf != nil {
		return events.Event{}, &MQTTError{Field: rf.field, Reason: rf.reason, Message: rf.message}
	}
	if int64(len(payload)) > g.o.MaxBody {
		g.count(app, "-", "too_large")
		return events.Event{}, &MQTTError{Field: "data", Reason: "too_large", Message: fmt.Sprintf("the payload is larger than %d bytes", g.o.MaxBody)}
	}
	in := incoming{eventType: typ, version: version, Event: events.Event{Time: time.Now()}}
	if len(payload) > 0 {
		if !json.Valid(payload) {
			g.count(app, "-", "bad_body")
			return events.Event{}, &MQTTError{Field: "data", Reason: "bad_body", Message: "the payload is not JSON"}
		}
		in.Data, in.DataContentType, in.data = json.RawMessage(payload), "application/json", payload
	}
	e, rf := g.deliver(ctx, app, in)
	if rf != nil {
		return events.Event{}, &MQTTError{Field: rf.field, Reason: rf.reason, Message: rf.message}
	}
	return e, nil
}
