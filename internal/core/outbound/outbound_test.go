package outbound

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/service"
)

// fakePublisher has solution "a"'s connectors: alerts (mqtt, out), events (kafka, out),
// tick (cron, in); publishing returns err, or a receipt.
type fakePublisher struct {
	got []connector.Outgoing
	err error
}

func (f *fakePublisher) Lookup(sol, name string) (connector.Connector, connector.OutKind, error) {
	types := map[string]string{"alerts": "mqtt", "events": "kafka"}
	if sol != "a" {
		return connector.Connector{}, connector.OutKind{}, fmt.Errorf("connector %q: %w", name, connector.ErrNoOutbound)
	}
	if name == "tick" {
		return connector.Connector{}, connector.OutKind{}, &connector.ArgError{Arg: "connector", Reason: "tick is an inbound connector (direction in)"}
	}
	typ, ok := types[name]
	if !ok {
		return connector.Connector{}, connector.OutKind{}, fmt.Errorf("connector %q: %w", name, connector.ErrNoOutbound)
	}
	k, _ := connector.OutKindOf(typ)
	return connector.Connector{Solution: sol, Name: name, Type: typ, Direction: connector.DirectionOut}, k, nil
}

func (f *fakePublisher) Publish(_ context.Context, _, _ string, m connector.Outgoing) (connector.Receipt, error) {
	f.got = append(f.got, m)
	if f.err != nil {
		return connector.Receipt{}, f.err
	}
	return connector.Receipt{ID: "r-1", Fields: map[string]any{"partition": int32(0)}}, nil
}

func qos(n int) *int { return &n }
func yes() *bool     { b := true; return &b }

// TestPublishArguments: a script's table becomes the message: data a table as JSON (content
// type application/json unless given), a string as it is; the destination under the name
// the type gives it; headers as strings.
func TestPublishArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		sol  string
		args map[string]any
		want connector.Outgoing
	}{
		{"mqtt, a table", "a", map[string]any{"connector": "alerts", "topic": "alerts/high", "data": map[string]any{"level": 3.0}},
			connector.Outgoing{To: "alerts/high", Data: []byte(`{"level":3}`), ContentType: "application/json"}},
		{"mqtt, a string, everything", "a", map[string]any{"connector": "alerts", "data": "on", "qos": 2.0, "retain": true, "content_type": "text/plain",
			"headers": map[string]any{"x-n": 7.0, "x-ok": true, "x-s": "s"}},
			connector.Outgoing{Data: []byte("on"), QoS: qos(2), Retain: yes(), ContentType: "text/plain", Headers: map[string]string{"x-n": "7", "x-ok": "true", "x-s": "s"}}},
		{"kafka, a list, a key", "a", map[string]any{"connector": "events", "topic": "orders", "key": "k1", "data": []any{1.0, "two"}, "content_type": "application/vnd.x+json"},
			connector.Outgoing{To: "orders", Key: "k1", Data: []byte(`[1,"two"]`), ContentType: "application/vnd.x+json"}},
		{"an empty table is {}", "a", map[string]any{"connector": "alerts", "data": map[string]any{}, "headers": map[string]any{}},
			connector.Outgoing{Data: []byte(`{}`), ContentType: "application/json", Headers: map[string]string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePublisher{}
			res, err := New(f).Call(context.Background(), tc.sol, "publish", tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.got) != 1 || !reflect.DeepEqual(f.got[0], tc.want) {
				t.Fatalf("published %+v, want %+v", f.got, tc.want)
			}
			if r := res.(map[string]any); r["ok"] != true || r["id"] != "r-1" || r["partition"] != int32(0) {
				t.Fatalf("answer %v", r)
			}
		})
	}
}

// TestPublishErrors: bad arguments, an unknown connector (another solution's the same), an
// inbound one, and the publisher's failures are {error=…, status=…} naming the argument or
// the connector, never a raise.
func TestPublishErrors(t *testing.T) {
	big := strings.Repeat("x", 10)
	for _, tc := range []struct {
		name   string
		sol    string
		args   any
		pubErr error
		status int
		msg    string
	}{
		{"not a table", "a", "alerts", nil, 400, "outbound.publish: want a table"},
		{"no connector", "a", map[string]any{"data": "x"}, nil, 400, "outbound.publish: connector: required"},
		{"connector not a string", "a", map[string]any{"connector": 5.0, "data": "x"}, nil, 400, "outbound.publish: connector: required"},
		{"unknown connector", "a", map[string]any{"connector": "nope", "data": "x"}, nil, 404, `outbound.publish: connector: no connector "nope" in this solution`},
		{"another solution's", "b", map[string]any{"connector": "alerts", "data": "x"}, nil, 404, `outbound.publish: connector: no connector "alerts" in this solution`},
		{"inbound", "a", map[string]any{"connector": "tick", "data": "x"}, nil, 400, "outbound.publish: connector: tick is an inbound connector"},
		{"no data", "a", map[string]any{"connector": "alerts", "topic": "a"}, nil, 400, "outbound.publish: data: required"},
		{"a field mqtt does not take", "a", map[string]any{"connector": "alerts", "data": "x", "key": "k"}, nil, 400, "outbound.publish: key: a mqtt connector does not take it; it takes connector, data, topic, qos, retain, headers, content_type"},
		{"subject to mqtt", "a", map[string]any{"connector": "alerts", "data": "x", "subject": "a.b"}, nil, 400, "outbound.publish: subject: a mqtt connector does not take it"},
		{"qos to kafka", "a", map[string]any{"connector": "events", "data": "x", "qos": 1.0}, nil, 400, "outbound.publish: qos: a kafka connector does not take it"},
		{"an unknown argument", "a", map[string]any{"connector": "alerts", "data": "x", "colour": "red"}, nil, 400, "outbound.publish: colour: unknown argument"},
		{"topic not a string", "a", map[string]any{"connector": "alerts", "data": "x", "topic": 5.0}, nil, 400, "outbound.publish: topic: want a string"},
		{"empty topic", "a", map[string]any{"connector": "alerts", "data": "x", "topic": ""}, nil, 400, "outbound.publish: topic: empty"},
		{"qos not whole", "a", map[string]any{"connector": "alerts", "data": "x", "qos": 1.5}, nil, 400, "outbound.publish: qos: want a whole number"},
		{"retain not a boolean", "a", map[string]any{"connector": "alerts", "data": "x", "retain": "yes"}, nil, 400, "outbound.publish: retain: want true or false"},
		{"headers a list", "a", map[string]any{"connector": "alerts", "data": "x", "headers": []any{"a"}}, nil, 400, "outbound.publish: headers: want a table"},
		{"a header a table", "a", map[string]any{"connector": "alerts", "data": "x", "headers": map[string]any{"a": map[string]any{}}}, nil, 400, "outbound.publish: headers: a: want a string"},
		{"the publisher refuses an argument", "a", map[string]any{"connector": "alerts", "data": big}, &connector.ArgError{Arg: "data", Reason: "larger than 1048576 bytes"}, 400, "outbound.publish: data: larger than 1048576 bytes"},
		{"paused", "a", map[string]any{"connector": "alerts", "data": "x"}, fmt.Errorf("connector alerts: %w", connector.ErrPaused), 409, "outbound.publish: connector: alerts is paused"},
		{"busy, the solution", "a", map[string]any{"connector": "alerts", "data": "x"}, &connector.BusyError{Solution: true, Limit: 32}, 429, "outbound.publish: busy: 32 publishes of this solution"},
		{"busy, connections", "a", map[string]any{"connector": "alerts", "data": "x"}, &connector.BusyError{Solution: true, Connections: true, Limit: 16}, 429, "outbound.publish: busy: the 16 connections"},
		{"busy, the instance", "a", map[string]any{"connector": "alerts", "data": "x"}, &connector.BusyError{Limit: 256}, 503, "outbound.publish: busy: 256 publishes are under way"},
		{"the broker", "a", map[string]any{"connector": "alerts", "data": "x"}, &connector.PublishError{Attempts: 3, Err: errors.New("mqtt mqtt://b:1883: connection refused")}, 502, "outbound.publish: alerts: mqtt mqtt://b:1883: connection refused (3 attempts)"},
		{"out of time", "a", map[string]any{"connector": "alerts", "data": "x"}, &connector.PublishError{Attempts: 2, Timeout: true, Err: context.DeadlineExceeded}, 504, "outbound.publish: alerts: context deadline exceeded (2 attempts)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePublisher{err: tc.pubErr}
			_, err := New(f).Call(context.Background(), tc.sol, "publish", tc.args)
			var se *service.Error
			if !errors.As(err, &se) || se.Status != tc.status || !strings.HasPrefix(se.Message, tc.msg) {
				t.Fatalf("%v (%T), want %d %q…", err, err, tc.status, tc.msg)
			}
		})
	}
	if _, err := New(&fakePublisher{}).Call(context.Background(), "a", "subscribe", nil); err == nil || !strings.Contains(err.Error(), "it has publish") {
		t.Fatalf("unknown operation: %v", err)
	}
}
