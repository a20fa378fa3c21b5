package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/webapp"
)

// Runner runs a script once for a solution, as its endpoint would, without deploying it.
type Runner interface {
	RunOnce(ctx context.Context, solution string, req webapp.RunRequest) (webapp.RunResult, error)
}

// runBody is the body of POST /api/v1/solutions/{solution}/run.
type runBody struct {
	Script  *string               `json:"script"`
	Name    string                `json:"name"`
	Method  string                `json:"method"`
	Path    string                `json:"path"`
	Route   string                `json:"route"`
	Headers map[string]string     `json:"headers"`
	Query   map[string]queryValue `json:"query"`
	Body    json.RawMessage       `json:"body"`
}

// queryValue is one query parameter: a string, or an array of strings for a repeated one.
type queryValue []string

func (q *queryValue) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*q = queryValue{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*q = many
	return nil
}

// maxRunName bounds the chunk name a run's errors carry.
const maxRunName = 256

// runScript answers POST /api/v1/solutions/{solution}/run: the script is compiled and run once
// with the solution's services and limits, as its endpoint would run, and never stored. The
// answer is the response it made, what it logged, its time and memory, and why it failed.
func (s *Server) runScript(w http.ResponseWriter, r *http.Request, _ principal) {
	var body runBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	req, aerr := body.request()
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	req.RequestID = r.Header.Get("X-Request-Id")
	if len(req.RequestID) > 128 || strings.ContainsAny(req.RequestID, "\r\n\x00") {
		req.RequestID = ""
	}
	sol := r.PathValue("solution")
	res, err := s.opt.Runs.RunOnce(r.Context(), sol, req)
	var le *script.LimitError
	switch {
	case errors.As(err, &le) && le.Limit == script.LimitServerMemory:
		w.Header().Set("Retry-After", "1")
		writeErr(w, errorf(http.StatusServiceUnavailable, "", "server busy: %v", le))
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case err != nil:
		writeErr(w, err)
		return
	}
	s.opt.Logger.Info("script run once", "solution", sol, "request_id", res.RequestID, "failed", res.Error != nil)
	writeJSON(w, http.StatusOK, res)
}

// request checks the body and makes the run's request of it.
func (b *runBody) request() (webapp.RunRequest, *Error) {
	if b.Script == nil {
		return webapp.RunRequest{}, errorf(http.StatusBadRequest, "script", "script: required")
	}
	if len(*b.Script) > solution.MaxScriptBytes {
		return webapp.RunRequest{}, errorf(http.StatusRequestEntityTooLarge, "script", "script: longer than %d bytes", solution.MaxScriptBytes)
	}
	if len(b.Name) > maxRunName || strings.ContainsFunc(b.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return webapp.RunRequest{}, errorf(http.StatusBadRequest, "name", "name: at most %d characters, no control characters", maxRunName)
	}
	req := webapp.RunRequest{Name: b.Name, Script: *b.Script, Path: b.Path, Route: b.Route, Header: http.Header{}, Query: url.Values{}}
	if b.Method != "" {
		req.Method = strings.ToUpper(b.Method)
		if !slices.Contains(solution.Methods, req.Method) {
			return webapp.RunRequest{}, errorf(http.StatusBadRequest, "method", "method %q is not one of %s", b.Method, strings.Join(solution.Methods, ", "))
		}
	}
	for k, v := range b.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return webapp.RunRequest{}, errorf(http.StatusBadRequest, "headers", "header %q: want a token name and a value without line breaks", k)
		}
		req.Header.Add(k, v)
	}
	for k, vs := range b.Query {
		req.Query[k] = vs
	}
	switch raw := strings.TrimSpace(string(b.Body)); {
	case raw == "" || raw == "null":
	case raw[0] == '"':
		var text string
		if err := json.Unmarshal(b.Body, &text); err != nil {
			return webapp.RunRequest{}, errorf(http.StatusBadRequest, "body", "body: %v", err)
		}
		req.Body = &text
	default:
		// A JSON value is sent as JSON.
		req.Body = &raw
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	return req, nil
}

// validHeaderName reports whether k is an HTTP token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
