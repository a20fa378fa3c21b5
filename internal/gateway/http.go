package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	cebinding "github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/strictjson"
)

// publish answers POST /gateway/{application}/publish: one CloudEvent, in binary (ce-*
// headers) or structured (application/cloudevents+json) mode; 204 once stored. The event's
// type is the declared type, its version the extension eventtypeversion — or, as Kyma's full
// types spell it, the type's last segment (sap.kyma.custom.<application>.order.created.v1).
func (g *Gateway) publish(w http.ResponseWriter, r *http.Request) {
	app, rf := g.accept(r)
	if rf != nil {
		writeRefusal(w, rf)
		return
	}
	ticket := g.ticket(app)
	defer ticket.Release()
	body, rf := g.readBody(w, r, ticket)
	if rf != nil {
		g.count(app, "-", rf.reason)
		writeRefusal(w, rf)
		return
	}
	in, rf := cloudEventOf(r, app, body)
	if rf != nil {
		g.count(app, "-", rf.reason)
		writeRefusal(w, rf)
		return
	}
	if _, rf := g.deliver(r.Context(), app, in); rf != nil {
		writeRefusal(w, rf)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// legacyEvent is Kyma's legacy event (POST /{application}/v1/events).
type legacyEvent struct {
	EventType        string          `json:"event-type"`
	EventTypeVersion string          `json:"event-type-version"`
	EventID          string          `json:"event-id"`
	EventTime        string          `json:"event-time"`
	Data             json.RawMessage `json:"data"`
}

// Kyma's rules for the legacy fields.
var (
	legacyTypePattern    = regexp.MustCompile(`^[a-zA-Z0-9._/:-]{1,255}$`)
	legacyVersionPattern = regexp.MustCompile(`^[a-zA-Z0-9]{1,64}$`)
)

// legacy answers POST /gateway/{application}/v1/events: Kyma's legacy JSON event; 200 with
// {"event-id"} once stored. Errors have Kyma's legacy shape ({status, type, message,
// details: [{field, type, message}]}).
func (g *Gateway) legacy(w http.ResponseWriter, r *http.Request) {
	app, rf := g.accept(r)
	if rf != nil {
		writeLegacyRefusal(w, rf)
		return
	}
	ticket := g.ticket(app)
	defer ticket.Release()
	body, rf := g.readBody(w, r, ticket)
	if rf == nil {
		var in incoming
		in, rf = legacyEventOf(body)
		if rf == nil {
			var e events.Event
			if e, rf = g.deliver(r.Context(), app, in); rf == nil {
				writeJSON(w, http.StatusOK, map[string]string{"event-id": e.ID, "status": "", "reason": ""})
				return
			}
			writeLegacyRefusal(w, rf)
			return
		}
	}
	g.count(app, "-", rf.reason)
	writeLegacyRefusal(w, rf)
}

// ticket holds what app's request holds against the gate (nil without one).
func (g *Gateway) ticket(app Application) *admission.Ticket {
	if g.o.Gate == nil {
		return nil
	}
	return g.o.Gate.Open(app.Solution)
}

// readBody reads a request's body, up to MaxBody, at the pace asked and within what the
// gate lets the solution hold.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, t *admission.Ticket) ([]byte, *refusal) {
	body, err := g.o.Pace.ReadRequest(w, r, t, g.o.MaxBody)
	var tooLarge *http.MaxBytesError
	var held *admission.Error
	switch {
	case errors.As(err, &held):
		w.Header().Set("Retry-After", strconv.Itoa(int(admission.RetryAfter/time.Second)))
		return nil, refuse(held.Status(), "", "admission", "%v; try again later", held)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, refuse(http.StatusRequestTimeout, "", "too_slow", "the body came too slowly")
	case errors.As(err, &tooLarge):
		return nil, refuse(http.StatusRequestEntityTooLarge, "", "too_large", "the body is larger than %d bytes", g.o.MaxBody)
	case err != nil:
		return nil, refuse(http.StatusBadRequest, "", "bad_body", "reading the body: %v", err)
	}
	return body, nil
}

func legacyEventOf(body []byte) (incoming, *refusal) {
	if err := strictjson.CheckDuplicates(body); err != nil {
		return incoming{}, refuse(http.StatusBadRequest, "", "bad_body", "%v", err)
	}
	var le legacyEvent
	if err := json.Unmarshal(body, &le); err != nil {
		return incoming{}, refuse(http.StatusBadRequest, "", "bad_body", "not a legacy event (a JSON object with event-type, event-type-version, event-time and data): %v", err)
	}
	for _, f := range []struct{ name, v string }{{"event-type", le.EventType}, {"event-type-version", le.EventTypeVersion}, {"event-time", le.EventTime}} {
		if f.v == "" {
			return incoming{}, refuse(http.StatusBadRequest, f.name, "missing_field", "%s: required", f.name)
		}
	}
	if len(le.Data) == 0 {
		return incoming{}, refuse(http.StatusBadRequest, "data", "missing_field", "data: required")
	}
	if !legacyTypePattern.MatchString(le.EventType) {
		return incoming{}, refuse(http.StatusBadRequest, "event-type", "invalid_field", "event-type %q: letters, digits, '.', '_', '-', '/' and ':', at most 255", clip(le.EventType))
	}
	if !legacyVersionPattern.MatchString(le.EventTypeVersion) {
		return incoming{}, refuse(http.StatusBadRequest, "event-type-version", "invalid_field", "event-type-version %q: letters and digits, such as v1", clip(le.EventTypeVersion))
	}
	t, err := time.Parse(time.RFC3339, le.EventTime)
	if err != nil {
		return incoming{}, refuse(http.StatusBadRequest, "event-time", "invalid_field", "event-time %q: want RFC 3339, such as 2026-01-02T15:04:05Z", clip(le.EventTime))
	}
	in := incoming{eventType: le.EventType, version: le.EventTypeVersion, Event: events.Event{ID: le.EventID, Time: t}}
	if string(le.Data) != "null" {
		in.Data, in.DataContentType, in.data = le.Data, "application/json", le.Data
	}
	return in, nil
}

// kymaTypePrefix begins Kyma's full event types: sap.kyma.custom.<application>.<type>.<version>.
const kymaTypePrefix = "sap.kyma.custom."

var versionSegment = regexp.MustCompile(`^v[0-9]+$`)

func cloudEventOf(r *http.Request, app Application, body []byte) (incoming, *refusal) {
	ce, err := cebinding.ToEvent(r.Context(), cehttp.NewMessage(r.Header, io.NopCloser(bytes.NewReader(body))))
	if err != nil {
		return incoming{}, refuse(http.StatusBadRequest, "cloudevent", "bad_body", "not a CloudEvent (binary mode with ce-* headers, or application/cloudevents+json): %v", err)
	}
	// The solution is the application's; FromCloudEvent checks the rest of the event.
	e, err := events.FromCloudEvent(app.Solution, *ce)
	if err != nil {
		var fe *solution.FieldError
		if errors.As(err, &fe) {
			return incoming{}, refuse(http.StatusBadRequest, fe.Field, "invalid_field", "%v", err)
		}
		return incoming{}, refuse(http.StatusBadRequest, "cloudevent", "invalid_field", "%v", err)
	}
	typ, version := e.Topic, e.Extensions[ExtEventTypeVersion]
	delete(e.Extensions, ExtEventTypeVersion)
	typ = strings.TrimPrefix(typ, kymaTypePrefix+app.Name+".")
	if version == "" {
		if i := strings.LastIndexByte(typ, '.'); i > 0 && versionSegment.MatchString(typ[i+1:]) {
			typ, version = typ[:i], typ[i+1:]
		}
	}
	in := incoming{Event: e, eventType: typ, version: version}
	in.Topic = ""
	switch d := e.Data.(type) {
	case json.RawMessage:
		in.data = d
	case string:
		in.data, _ = json.Marshal(d)
	}
	return in, nil
}

// clip shortens what a sender gave for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the sender is gone
}

func authenticateHeader(w http.ResponseWriter, rf *refusal) {
	if rf.challenge != "" {
		w.Header().Set("WWW-Authenticate", rf.challenge)
	}
	if rf.retryAfter != "" {
		w.Header().Set("Retry-After", rf.retryAfter)
	}
}

// writeRefusal answers as the rest of Switchboard's API does: {"error", "field"}.
func writeRefusal(w http.ResponseWriter, rf *refusal) {
	authenticateHeader(w, rf)
	body := map[string]any{"error": rf.message}
	if rf.field != "" {
		body["field"] = rf.field
	}
	writeJSON(w, rf.status, body)
}

// writeLegacyRefusal answers as Kyma's legacy publisher did.
func writeLegacyRefusal(w http.ResponseWriter, rf *refusal) {
	authenticateHeader(w, rf)
	body := map[string]any{"status": rf.status, "type": http.StatusText(rf.status), "message": rf.message}
	if rf.field != "" {
		body["details"] = []map[string]string{{"field": rf.field, "type": rf.reason, "message": rf.message}}
	}
	writeJSON(w, rf.status, body)
}
