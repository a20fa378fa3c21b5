package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/strictjson"
)

// Error is the body of every failed API request.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"`
	// Bound names the admission bound reached, for a 429 or 503 refusal.
	Bound string `json:"bound,omitempty"`
	// ErrorID and RequestID name a failed script run, whose whole error is in the solution's
	// log; Detail is its message, shown only to a solution in debug mode.
	ErrorID string `json:"error_id,omitempty"`
	// Handler names the event handler that failed, for a failed event run.
	Handler   string `json:"handler,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Detail    string `json:"message,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps what the parts return onto statuses, in one place.
func toAPIError(err error) *Error {
	var ae *Error
	var fe *solution.FieldError
	var ce *script.CompileError
	var ve *catalog.ValidationError
	var refused *admission.Error
	switch {
	case errors.As(err, &refused):
		return &Error{Status: refused.Status(), Bound: refused.Reason, Message: refused.Error()}
	case errors.As(err, &ve):
		return &Error{Status: http.StatusUnprocessableEntity, Field: ve.Field, Message: ve.Error()}
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, catalog.ErrNotAdded):
		return &Error{Status: http.StatusNotFound, Message: err.Error()}
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Field: fe.Field, Message: fe.Error()}
	case errors.As(err, &ce):
		return &Error{Status: http.StatusBadRequest, Field: "script", Line: ce.Line, Message: "script: " + ce.Error()}
	case errors.Is(err, solution.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: err.Error()}
	case errors.Is(err, solution.ErrDeleting):
		return &Error{Status: http.StatusConflict, Field: "id", Message: err.Error()}
	case errors.Is(err, solution.ErrExists):
		return &Error{Status: http.StatusConflict, Field: "id", Message: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error: " + err.Error()}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if v != nil {
		json.NewEncoder(w).Encode(v) //nolint:errcheck // client gone
	}
}

func writeErr(w http.ResponseWriter, err error) {
	e := toAPIError(err)
	if e.Bound != "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(admission.RetryAfter/time.Second)))
	}
	writeJSON(w, e.Status, e)
}

// decode reads a JSON object into v, refusing unknown fields, repeated keys (and keys naming
// one field of v in different case), trailing data, oversized bodies and JSON past the bounds
// of strictjson. The body and its decoded form are held on an admission ticket (of the
// solution in the path; management bodies of no solution share one) until release is called,
// once v is no longer needed; the body must arrive within the body read timeout. release is
// never nil.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) (release func(), err error) {
	release = func() {}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return release, errorf(http.StatusUnsupportedMediaType, "", "Content-Type must be application/json, not %q", ct)
	}
	ticket, err := s.admit(r.PathValue("solution"))
	if err != nil {
		return release, err
	}
	release = ticket.Release
	data, aerr := s.readBody(w, r, ticket)
	if aerr != nil {
		return release, aerr
	}
	return release, s.decodeBody(ticket, data, v)
}

// decodeBody is decode's checks and decoding of a body already read and held on ticket.
func (s *Server) decodeBody(ticket *admission.Ticket, data []byte, v any) error {
	if err := strictjson.CheckFor(data, v); err != nil {
		return bodyError(err)
	}
	if json.Valid(data) {
		// Before decoding: any-typed fields (parameters, a registration's document) become
		// Go values many times the size of their text.
		if aerr := s.reserveDecoded(ticket, data); aerr != nil {
			return aerr
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return errorf(http.StatusBadRequest, "", "request body must hold one JSON object, and nothing after it")
	}
	return nil
}

func bodyError(err error) *Error {
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var dup *strictjson.DuplicateKeyError
	var lim *strictjson.LimitError
	switch {
	case errors.As(err, &dup):
		// Two readers of such a body (a proxy, an audit log, this server) could each see another value.
		return errorf(http.StatusBadRequest, dup.Path, "%v: a key may appear once in an object", dup)
	case errors.As(err, &lim) && lim.Bound == strictjson.BoundValues:
		return errorf(http.StatusRequestEntityTooLarge, "", "request body: %v", lim)
	case errors.As(err, &lim):
		return errorf(http.StatusBadRequest, "", "request body: %v", lim)
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "", "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "", "request body is empty; want a JSON object")
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, "", "request body is not valid JSON (at byte %d): %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errorf(http.StatusBadRequest, "", "request body must be a JSON object, not a JSON %s", typ.Value)
		}
		return errorf(http.StatusBadRequest, typ.Field, "%s: want %s, got JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(http.StatusBadRequest, name, "unknown field %q", name)
	}
	return errorf(http.StatusBadRequest, "", "request body: %v", err)
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice", kind == "array":
		return "an array"
	}
	return "an object"
}
