package events

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cetypes "github.com/cloudevents/sdk-go/v2/types"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// CloudEvents extensions that hold Event fields of their own.
const (
	ExtSolution      = "solution"
	ExtCorrelationID = "correlationid"
)

// DefaultSource is the CloudEvents source of an event published without one.
func DefaultSource(sol string) string { return "/solutions/" + sol }

// ToCloudEvent is e as a CloudEvent (specversion 1.0): the topic is its type, the solution and
// correlation id are extensions. JSON data (no content type, or a JSON one) is encoded as
// JSON; other data must be a string and is sent as its bytes.
func ToCloudEvent(e Event) (cloudevents.Event, error) {
	ce := cloudevents.New()
	ce.SetID(e.ID)
	ce.SetType(e.Topic)
	src := e.Source
	if src == "" {
		src = DefaultSource(e.Solution)
	}
	ce.SetSource(src)
	if !e.Time.IsZero() {
		ce.SetTime(e.Time)
	}
	if e.Subject != "" {
		ce.SetSubject(e.Subject)
	}
	if e.DataSchema != "" {
		ce.SetDataSchema(e.DataSchema)
	}
	for k, v := range e.Extensions {
		ce.SetExtension(k, v)
	}
	if e.Solution != "" {
		ce.SetExtension(ExtSolution, e.Solution)
	}
	if e.CorrelationID != "" {
		ce.SetExtension(ExtCorrelationID, e.CorrelationID)
	}
	if e.DataContentType != "" {
		ce.SetDataContentType(e.DataContentType)
	}
	data, err := dataBytes(e)
	if err != nil {
		return cloudevents.Event{}, err
	}
	// No datacontenttype stays none: CloudEvents reads that as JSON, as Switchboard does.
	ce.DataEncoded = data
	if err := ce.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("event %s is not a valid CloudEvent: %w", e.ID, err)
	}
	return ce, nil
}

// dataBytes is e's data as a CloudEvent carries it; nil when it has none.
func dataBytes(e Event) ([]byte, error) {
	switch d := e.Data.(type) {
	case nil:
		return nil, nil
	case script.Body:
		return []byte(d.Data), nil
	case json.RawMessage:
		if string(d) == "null" {
			return nil, nil
		}
		if !IsJSONType(e.DataContentType) {
			var s string
			if err := json.Unmarshal(d, &s); err != nil {
				return nil, fmt.Errorf("event %s: data of type %s must be a string", e.ID, e.DataContentType)
			}
			return []byte(s), nil
		}
		return d, nil
	case string:
		if !IsJSONType(e.DataContentType) {
			return []byte(d), nil
		}
	}
	if !IsJSONType(e.DataContentType) {
		return nil, fmt.Errorf("event %s: data of type %s must be a string", e.ID, e.DataContentType)
	}
	b, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("event %s: data is not JSON: %w", e.ID, err)
	}
	return b, nil
}

// FromCloudEvent is the event of solution sol that ce describes; the solution extension, if
// any, is not trusted (the caller's solution is sol). JSON data stays raw (json.RawMessage);
// text data becomes a string. Invalid input is a *solution.FieldError naming the CloudEvents
// attribute.
func FromCloudEvent(sol string, ce cloudevents.Event) (Event, error) {
	if err := ce.Validate(); err != nil {
		// The SDK lists each problem on a line of its own.
		return Event{}, &solution.FieldError{Field: "cloudevent", Reason: strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")}
	}
	if ce.SpecVersion() != cloudevents.CloudEventsVersionV1 {
		return Event{}, &solution.FieldError{Field: "specversion", Reason: fmt.Sprintf("%q: want %q", ce.SpecVersion(), cloudevents.CloudEventsVersionV1)}
	}
	e := Event{
		ID: ce.ID(), Solution: sol, Topic: ce.Type(), Time: ce.Time(),
		Source: ce.Source(), Subject: ce.Subject(), DataContentType: ce.DataContentType(), DataSchema: ce.DataSchema(),
	}
	for k, v := range ce.Extensions() {
		s, err := cetypes.Format(v)
		if err != nil {
			return Event{}, &solution.FieldError{Field: k, Reason: err.Error()}
		}
		switch k {
		case ExtSolution:
		case ExtCorrelationID:
			e.CorrelationID = s
		default:
			if e.Extensions == nil {
				e.Extensions = map[string]string{}
			}
			e.Extensions[k] = s
		}
	}
	if data := ce.Data(); len(data) > 0 {
		switch {
		case IsJSONType(e.DataContentType):
			if !json.Valid(data) {
				return Event{}, &solution.FieldError{Field: "data", Reason: "not valid JSON (datacontenttype is " + orDefault(e.DataContentType, "JSON") + ")"}
			}
			e.Data = json.RawMessage(data)
		case utf8.Valid(data):
			e.Data = string(data)
		default:
			return Event{}, &solution.FieldError{Field: "data", Reason: "binary data is not supported: send JSON or UTF-8 text"}
		}
	}
	return e, nil
}

// IsJSONType reports whether a datacontenttype holds JSON; none means JSON, as CloudEvents'
// JSON format has it.
func IsJSONType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
