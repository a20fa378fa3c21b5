// Package outbound is the Outbound core service: a solution's scripts publish messages to
// brokers through the solution's outbound connectors (direction out), as
// Outbound.publish{connector="alerts", topic="…", data=…}.
package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/service"
)

// Publisher publishes through a solution's outbound connectors; *connector.Outbound is one.
type Publisher interface {
	Lookup(sol, name string) (connector.Connector, connector.OutKind, error)
	Publish(ctx context.Context, sol, name string, m connector.Outgoing) (connector.Receipt, error)
}

// Service is the Outbound core service.
type Service struct {
	pub Publisher
}

// New returns the Outbound service.
func New(p Publisher) *Service { return &Service{pub: p} }

// Spec describes Outbound.
func (s *Service) Spec() service.Spec {
	return service.Spec{
		Name:        "outbound",
		Kind:        service.KindCore,
		Description: "Publishes messages to brokers (NATS, MQTT, AMQP, Redis streams, Kafka) and e-mail (SMTP) through this solution's outbound connectors.",
		Operations: []service.Operation{
			{Name: "publish", Description: "Publishes one message through an outbound connector and waits for the broker to take it: " +
				"{connector=\"alerts\", subject=…|topic=…|routing_key=…|stream=…|recipient=… (as the connector's type names it; default its config's), data=… (a table is sent as JSON, a string as it is), " +
				"headers={…}, content_type=…, key=… (kafka), qos=…, retain=… (mqtt)}; returns {ok=true, id=…} or {error=…, status=…}."},
		},
	}
}

// argNames are every argument some type takes, for the message naming one a type does not.
var argNames = []string{"connector", "data", "subject", "topic", "routing_key", "stream", "recipient", "key", "headers", "content_type", "qos", "retain"}

// Call runs one Outbound operation, always for the calling script's own solution: a
// connector name is looked up in that solution alone.
func (s *Service) Call(ctx context.Context, sol, operation string, args any) (any, error) {
	if !strings.EqualFold(operation, "publish") {
		return nil, service.Errorf(http.StatusNotFound, "outbound has no operation %q (it has publish)", operation)
	}
	a, ok := args.(map[string]any)
	if !ok {
		return nil, badArg("", "want a table such as {connector=\"alerts\", topic=\"…\", data=…}")
	}
	name, ok := a["connector"].(string)
	if !ok || name == "" {
		return nil, badArg("connector", "required: the name of one of this solution's outbound connectors")
	}
	c, k, err := s.pub.Lookup(sol, name)
	if err != nil {
		return nil, callError(name, err)
	}
	m, err := outgoing(c, k, a)
	if err != nil {
		return nil, err
	}
	r, err := s.pub.Publish(ctx, sol, name, m)
	if err != nil {
		return nil, callError(name, err)
	}
	out := map[string]any{"ok": true}
	for f, v := range r.Fields {
		out[f] = v
	}
	if r.ID != "" {
		out["id"] = r.ID
	}
	return out, nil
}

// outgoing is the message the arguments a make for connector c of type k.
func outgoing(c connector.Connector, k connector.OutKind, a map[string]any) (connector.Outgoing, error) {
	var m connector.Outgoing
	for _, arg := range slices.Sorted(maps.Keys(a)) {
		v := a[arg]
		if !k.Takes(arg) {
			if slices.Contains(argNames, arg) {
				return m, badArg(arg, fmt.Sprintf("a %s connector does not take it; it takes %s", c.Type, strings.Join(k.Arguments(), ", ")))
			}
			return m, badArg(arg, fmt.Sprintf("unknown argument; a %s connector takes %s", c.Type, strings.Join(k.Arguments(), ", ")))
		}
		var err error
		switch arg {
		case "connector", "data":
		case k.To:
			m.To, err = text(v)
			if err == nil && m.To == "" {
				err = errors.New("empty; leave it out for the connector's default")
			}
		case "key":
			m.Key, err = text(v)
		case "content_type":
			m.ContentType, err = text(v)
		case "headers":
			m.Headers, err = headers(v)
		case "qos":
			var q int
			if q, err = integer(v); err == nil {
				m.QoS = &q
			}
		case "retain":
			b, ok := v.(bool)
			if !ok {
				err = errors.New("want true or false")
			}
			m.Retain = &b
		}
		if err != nil {
			return m, badArg(arg, err.Error())
		}
	}
	v, ok := a["data"]
	if !ok {
		return m, badArg("data", "required: a table (sent as JSON) or a string (sent as it is)")
	}
	var err error
	if m.Data, err = data(v, &m); err != nil {
		return m, badArg("data", err.Error())
	}
	return m, nil
}

// data is the payload of v: a string as it is, anything else as JSON (and, unless the
// script says otherwise, of content type application/json).
func data(v any, m *connector.Outgoing) ([]byte, error) {
	if s, ok := v.(string); ok {
		return []byte(s), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if m.ContentType == "" {
		m.ContentType = "application/json"
	}
	return b, nil
}

func text(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errors.New("want a string")
	}
	return s, nil
}

func integer(v any) (int, error) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, errors.New("want a whole number")
	}
	return int(f), nil
}

// headers are a table of names to strings (numbers and booleans written as text).
func headers(v any) (map[string]string, error) {
	t, ok := v.(map[string]any)
	if !ok {
		if l, isList := v.([]any); isList && len(l) == 0 {
			return nil, nil // {} converts as an empty list
		}
		return nil, errors.New("want a table of names to strings, such as {[\"x-source\"]=\"sensor-7\"}")
	}
	if len(t) > connector.MaxOutHeaders {
		return nil, fmt.Errorf("%d of them, more than %d", len(t), connector.MaxOutHeaders)
	}
	out := make(map[string]string, len(t))
	for k, v := range t {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64, bool:
			out[k] = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("%s: want a string", k)
		}
	}
	return out, nil
}

func badArg(arg, reason string) *service.Error {
	if arg == "" {
		return service.Errorf(http.StatusBadRequest, "outbound.publish: %s", reason)
	}
	return service.Errorf(http.StatusBadRequest, "outbound.publish: %s: %s", arg, reason)
}

// callError is how a script sees err of a publish through connector name: a status saying
// whose fault it was (400 its arguments, 404 no such connector, 409 paused, 429/503 busy,
// 502 the broker, 504 out of time) and a message naming the argument or the connector.
func callError(name string, err error) error {
	var (
		ae   *connector.ArgError
		busy *connector.BusyError
		pe   *connector.PublishError
	)
	switch {
	case errors.Is(err, connector.ErrNoOutbound):
		return service.Errorf(http.StatusNotFound, "outbound.publish: connector: no connector %q in this solution", name)
	case errors.As(err, &ae):
		return badArg(ae.Arg, ae.Reason)
	case errors.Is(err, connector.ErrPaused):
		return service.Errorf(http.StatusConflict, "outbound.publish: connector: %s is paused", name)
	case errors.As(err, &busy):
		status := http.StatusServiceUnavailable
		if busy.Solution {
			status = http.StatusTooManyRequests
		}
		return service.Errorf(status, "outbound.publish: %s", busy.Error())
	case errors.As(err, &pe):
		status := http.StatusBadGateway
		if pe.Timeout {
			status = http.StatusGatewayTimeout
		}
		return service.Errorf(status, "outbound.publish: %s: %s", name, pe.Error())
	}
	return service.Errorf(http.StatusInternalServerError, "outbound.publish: %s: %v", name, err)
}
