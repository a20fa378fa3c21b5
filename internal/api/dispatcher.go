package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/strictjson"
)

// serviceAuth checks Authorization: <service> <token> for the service named in the path.
func (s *Server) serviceAuth(r *http.Request) *Error {
	name, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || name == "" || token == "" {
		return errorf(http.StatusUnauthorized, "", "a service authenticates with Authorization: <service> <token>")
	}
	if !s.opt.Catalog.Authenticate(name, token) {
		return errorf(http.StatusUnauthorized, "", "unknown service or wrong token")
	}
	if name != r.PathValue("service") {
		return errorf(http.StatusForbidden, "service", "service %s may act only as itself, not as %s", name, r.PathValue("service"))
	}
	sol := r.PathValue("solution")
	if _, ok := s.opt.Store.Get(sol); !ok {
		return errorf(http.StatusForbidden, "solution", "service %s is not added to solution %q", name, sol)
	}
	if _, ok := s.opt.Catalog.AddedConfig(sol, name); !ok {
		return errorf(http.StatusForbidden, "solution", "service %s is not added to solution %q", name, sol)
	}
	return nil
}

// admit opens a ticket of the gate for sol (nil without a gate); readBody holds the body on it
// as it arrives, then takes its run slot. Release it once the answer is written.
func (s *Server) admit(sol string) (*admission.Ticket, error) {
	if s.opt.Gate == nil {
		return nil, nil
	}
	return s.opt.Gate.Open(sol), nil
}

// readBody reads an optional JSON body, its bytes held on ticket (if any) as they arrive, at
// the pace the gate asks for, then takes the ticket's run slot: a body slow to arrive holds no
// run slot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, ticket *admission.Ticket) ([]byte, *Error) {
	body, err := s.opt.BodyPace.ReadRequest(w, r, ticket, s.opt.MaxBody)
	if err == nil {
		err = ticket.Run()
	}
	if err != nil {
		return nil, s.readError(err)
	}
	return body, nil
}

// readError is the answer to a body that could not be read.
func (s *Server) readError(err error) *Error {
	var refused *admission.Error
	switch {
	case errors.As(err, &refused):
		return toAPIError(err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errorf(http.StatusRequestTimeout, "", "%v", err)
	}
	return bodyError(err)
}

// checkJSON refuses a body that is not one JSON value, or that repeats a key.
func checkJSON(body []byte) *Error {
	if err := strictjson.CheckDuplicates(body); err != nil {
		return bodyError(err)
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v) // only to say where and why
		return errorf(http.StatusBadRequest, "", "request body is not valid JSON: %v", err)
	}
	return nil
}

// blank reports whether body holds nothing but white space.
func blank(body []byte) bool { return len(bytes.TrimSpace(body)) == 0 }

// readArgs reads an optional JSON body as call arguments. Their decoded form is held on ticket
// too (see reserveDecoded), so the admission bounds cover the Go values as well as the bytes.
func (s *Server) readArgs(w http.ResponseWriter, r *http.Request, ticket *admission.Ticket) (any, *Error) {
	body, aerr := s.readBody(w, r, ticket)
	if aerr != nil {
		return nil, aerr
	}
	if blank(body) {
		return map[string]any{}, nil
	}
	if aerr := checkJSON(body); aerr != nil {
		return nil, aerr
	}
	if aerr := s.reserveDecoded(ticket, body); aerr != nil {
		return nil, aerr
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, errorf(http.StatusBadRequest, "", "request body is not valid JSON: %v", err)
	}
	return v, nil
}

// callFor answers POST /api/v1/call/{solution}/{service}/{operation}: a service runs an
// operation of {service} for a solution. The caller is named by its Authorization header and
// must be added to the solution; so must the target, unless it is a core service.
func (s *Server) callFor(w http.ResponseWriter, r *http.Request) {
	caller, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !s.opt.Catalog.Authenticate(caller, token) {
		writeErr(w, errorf(http.StatusUnauthorized, "", "a service authenticates with Authorization: <service> <token>"))
		return
	}
	sol, target, op := r.PathValue("solution"), service.NameOf(r.PathValue("service")), r.PathValue("operation")
	if _, ok := s.opt.Store.Get(sol); !ok {
		writeErr(w, errorf(http.StatusForbidden, "solution", "service %s is not added to solution %q", caller, sol))
		return
	}
	if _, ok := s.opt.Catalog.AddedConfig(sol, caller); !ok {
		writeErr(w, errorf(http.StatusForbidden, "solution", "service %s is not added to solution %q", caller, sol))
		return
	}
	ticket, err := s.admit(sol)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer ticket.Release()
	args, aerr := s.readArgs(w, r, ticket)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	res, err := s.opt.Services.Call(origin(r), sol, target, op, args)
	if err != nil {
		writeServiceErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// writeServiceErr answers a failed call with {error, status} and that status.
func writeServiceErr(w http.ResponseWriter, err error) {
	var se *service.Error
	if errors.As(err, &se) {
		writeJSON(w, se.Status, map[string]any{"error": se.Message, "status": se.Status})
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		writeJSON(w, http.StatusGatewayTimeout, map[string]any{"error": "the call took too long", "status": http.StatusGatewayTimeout})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "status": http.StatusInternalServerError})
}

// origin is r's context carrying the request id and trace the calling service sent, so the
// calls this request causes carry them on.
func origin(r *http.Request) context.Context {
	return service.WithOrigin(r.Context(), service.Origin{RequestID: r.Header.Get("X-Request-Id"), Traceparent: r.Header.Get("traceparent")})
}
