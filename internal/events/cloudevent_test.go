package events

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/traceparent"
)

func TestEventCloudEventRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 29, 18, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		in   Event
	}{
		{name: "JSON data", in: Event{ID: "e1", Solution: "sol1", Topic: "orders.created", Service: "orders", Type: "created", Time: at, Source: "/solutions/sol1", Data: json.RawMessage(`{"n":1,"items":["a"]}`)}},
		{name: "no data", in: Event{ID: "e2", Solution: "sol1", Topic: "orders", Service: "orders", Time: at, Source: "/solutions/sol1"}},
		{name: "correlation id and extensions", in: Event{ID: "e3", Solution: "sol1", Topic: "orders.created.eu", Service: "orders", Type: "created.eu", Time: at, Source: "https://shop.example/orders",
			CorrelationID: "c-9", Subject: "order/42", DataSchema: "https://shop.example/schema.json", Extensions: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "partitionkey": "42"},
			Data: json.RawMessage(`[1,2,3]`)}},
		{name: "text data", in: Event{ID: "e4", Solution: "sol1", Topic: "logs.line", Service: "logs", Type: "line", Time: at, Source: "/solutions/sol1", DataContentType: "text/plain; charset=utf-8", Data: "hello, world"}},
		{name: "JSON content type with parameters", in: Event{ID: "e5", Solution: "sol1", Topic: "a.b", Service: "a", Type: "b", Time: at, Source: "/x", DataContentType: "application/vnd.shop+json", Data: json.RawMessage(`"s"`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ce, err := ToCloudEvent(tc.in)
			if err != nil {
				t.Fatalf("to CloudEvent: %v", err)
			}
			if ce.Type() != tc.in.Topic || ce.ID() != tc.in.ID || ce.Extensions()[ExtSolution] != tc.in.Solution {
				t.Fatalf("CloudEvent type %q id %q solution %v, want the topic, id and solution", ce.Type(), ce.ID(), ce.Extensions()[ExtSolution])
			}
			// Through the wire format too: structured mode's JSON.
			wire, err := json.Marshal(ce)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var back cloudevents.Event
			if err := json.Unmarshal(wire, &back); err != nil {
				t.Fatalf("decode %s: %v", wire, err)
			}
			got, err := FromCloudEvent(tc.in.Solution, back)
			if err != nil {
				t.Fatalf("from CloudEvent: %v", err)
			}
			got, err = prepare(context.Background(), nil, got)
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			// prepare starts a trace for an event that came without one.
			if tc.in.Extensions[TraceparentExtension] == "" {
				if !traceparent.Valid(got.Extensions[TraceparentExtension]) {
					t.Fatalf("prepared event's traceparent %q is not valid", got.Extensions[TraceparentExtension])
				}
				delete(got.Extensions, TraceparentExtension)
				if len(got.Extensions) == 0 {
					got.Extensions = nil
				}
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Fatalf("round trip changed the event:\n got %#v\nwant %#v\n(wire %s)", got, tc.in, wire)
			}
		})
	}
}

func TestCloudEventEventRoundTrip(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"minimal", `{"specversion":"1.0","id":"1","source":"/src","type":"orders.created"}`},
		{"JSON data", `{"specversion":"1.0","id":"2","source":"urn:shop","type":"orders.created","time":"2026-11-29T18:00:00.5Z","datacontenttype":"application/json","data":{"n":1}}`},
		{"text data", `{"specversion":"1.0","id":"3","source":"/src","type":"logs","datacontenttype":"text/plain","data":"a line"}`},
		{"extensions", `{"specversion":"1.0","id":"4","source":"/src","type":"a.b","subject":"s","dataschema":"https://x/s.json","correlationid":"c1","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","data":[1]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce cloudevents.Event
			if err := json.Unmarshal([]byte(tc.in), &ce); err != nil {
				t.Fatalf("decode: %v", err)
			}
			e, err := FromCloudEvent("sol1", ce)
			if err != nil {
				t.Fatalf("from CloudEvent: %v", err)
			}
			back, err := ToCloudEvent(e)
			if err != nil {
				t.Fatalf("to CloudEvent: %v", err)
			}
			wire, _ := json.Marshal(back)
			var got, want map[string]any
			json.Unmarshal(wire, &got)           //nolint:errcheck // compared below
			json.Unmarshal([]byte(tc.in), &want) //nolint:errcheck // a literal
			want[ExtSolution] = "sol1"           // what conversion adds: whose event it is
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip changed the CloudEvent:\n got %s\nwant %s", wire, tc.in)
			}
		})
	}
}

func TestFromCloudEventRefuses(t *testing.T) {
	tests := []struct {
		name, in, field string
	}{
		{"binary data", `{"specversion":"1.0","id":"1","source":"/s","type":"a","datacontenttype":"application/octet-stream","data_base64":"/w=="}`, "data"},
		{"invalid JSON data", `{"specversion":"1.0","id":"1","source":"/s","type":"a","datacontenttype":"application/json","data_base64":"ew=="}`, "data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce cloudevents.Event
			if err := json.Unmarshal([]byte(tc.in), &ce); err != nil {
				t.Fatalf("decode: %v", err)
			}
			_, err := FromCloudEvent("sol1", ce)
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a field error on %q", err, tc.field)
			}
		})
	}
}
