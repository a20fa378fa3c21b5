package servicekit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Request is one call of the hub to an operation.
type Request struct {
	// Operation is the operationId called.
	Operation string
	// Solution is the id of the calling solution (X-Switchboard-Solution).
	Solution string
	// RequestID identifies the request in logs (X-Request-Id); Traceparent is its W3C trace
	// context. Both are forwarded by Call and Trigger made with the handler's context.
	RequestID, Traceparent string
	// Args are the call's arguments: the keys of the JSON body (a body that is not an object
	// is under the name of the body parameter, else "body"), then the header parameters the
	// document declares, the query parameters (a string, or a []any of strings when repeated)
	// and the path parameters of the operation's template, each overriding the previous ones.
	Args map[string]any
	// Body is the raw body of the call.
	Body []byte
	// Header holds the call's headers.
	Header http.Header
}

type requestKey struct{}

// RequestFromContext returns the Request a HandlerFunc's context belongs to.
func RequestFromContext(ctx context.Context) (*Request, bool) {
	r, ok := ctx.Value(requestKey{}).(*Request)
	return r, ok
}

// Handler returns the http.Handler serving the hub: the health path (GET and HEAD, never
// signed) and the document's operations, each checked for the hub's signature unless
// Config.InsecureSkipVerify. Errors are answered as {"error": "..."}: 401 for a bad signature,
// 503 before registration, 404 for a path that is no operation's, 405 for a method the path has
// no operation for, 501 for an operation without a function, 400 for a body that is not JSON.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == s.doc.healthPath {
		s.serveHealth(w, r)
		return
	}
	segs, ok := s.doc.relative(r.URL.EscapedPath())
	if !ok {
		writeError(w, http.StatusNotFound, "no operation at "+r.URL.Path)
		return
	}
	var best []*route // the routes of the most specific template matching the path
	var params map[string]string
	for _, rt := range s.doc.routes {
		p, ok := rt.match(segs)
		switch {
		case !ok:
		case len(best) == 0 || rt.more(best[0]):
			best, params = []*route{rt}, nil
			if rt.method == r.Method {
				params = p
			}
		case rt.shape() == best[0].shape():
			best = append(best, rt)
			if rt.method == r.Method {
				params = p
			}
		}
	}
	if len(best) == 0 {
		writeError(w, http.StatusNotFound, "no operation at "+r.URL.Path)
		return
	}
	i := slices.IndexFunc(best, func(rt *route) bool { return rt.method == r.Method })
	if i < 0 {
		var allow []string
		for _, rt := range best {
			allow = append(allow, rt.method)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	rt := best[i]

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if !s.cfg.InsecureSkipVerify {
		if err := s.VerifyRequest(r, body); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, ErrNotRegistered) {
				status = http.StatusServiceUnavailable
			}
			s.log.Warn("servicekit: refused a call", "operation", rt.id, "remote", r.RemoteAddr, "error", err)
			writeError(w, status, strings.TrimPrefix(err.Error(), "servicekit: "))
			return
		}
	}
	fn := s.handler(rt.id)
	if fn == nil {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("operation %s is not implemented", rt.id))
		return
	}
	args, err := buildArgs(rt, r, body, params)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req := &Request{
		Operation:   rt.id,
		Solution:    r.Header.Get(HeaderSolution),
		RequestID:   r.Header.Get(HeaderRequestID),
		Traceparent: r.Header.Get(HeaderTraceparent),
		Args:        args,
		Body:        body,
		Header:      r.Header,
	}
	result, err := s.call(context.WithValue(r.Context(), requestKey{}, req), fn, req)
	if err != nil {
		status, msg := errorStatus(err)
		level := s.log.Info
		if status >= 500 {
			level = s.log.Error
		}
		level("servicekit: operation failed", "operation", rt.id, "solution", req.Solution, "request_id", req.RequestID, "status", status, "error", err)
		writeError(w, status, msg)
		return
	}
	if result == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out, ok := result.(json.RawMessage)
	if !ok {
		if out, err = json.Marshal(result); err != nil {
			s.log.Error("servicekit: result is not JSON", "operation", rt.id, "error", err)
			writeError(w, http.StatusInternalServerError, "the result cannot be encoded as JSON: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}

// call runs fn, turning a panic into an error.
func (s *Service) call(ctx context.Context, fn HandlerFunc, req *Request) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("servicekit: operation panicked", "operation", req.Operation, "panic", v)
			result, err = nil, fmt.Errorf("operation %s failed", req.Operation)
		}
	}()
	return fn(ctx, req)
}

func (s *Service) serveHealth(w http.ResponseWriter, r *http.Request) {
	if s.cfg.HealthCheck != nil {
		if err := s.cfg.HealthCheck(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// buildArgs merges the body, the declared header parameters, the query and the path
// parameters of a call.
func buildArgs(rt *route, r *http.Request, body []byte, params map[string]string) (map[string]any, error) {
	args := map[string]any{}
	if b := bytes.TrimSpace(body); len(b) > 0 {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, errors.New("the body is not valid JSON")
		}
		if obj, ok := v.(map[string]any); ok {
			args = obj
		} else if rt.bodyName != "" {
			args[rt.bodyName] = v
		} else {
			args["body"] = v
		}
	}
	for _, p := range rt.params {
		if p.In == "header" {
			if v := r.Header.Values(p.Name); len(v) > 0 {
				args[p.Name] = v[0]
			}
		}
	}
	for k, vs := range r.URL.Query() {
		if len(vs) == 1 {
			args[k] = vs[0]
			continue
		}
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		args[k] = list
	}
	for k, v := range params {
		args[k] = v
	}
	return args, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
