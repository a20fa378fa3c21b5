package webapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// A script is tried by running it once as an endpoint of its solution would run: the same
// request and response globals, the solution's services and limits; it is never stored.

// RunRequest is a script to run once and the request it answers.
type RunRequest struct {
	// Name is the script's chunk name, which its errors carry ("users.lua:3: ...").
	Name   string
	Script string
	Method string // default GET
	// Path is the request's path; Route the endpoint's path template (such as /users/{id})
	// whose parameters are taken from Path. Either defaults to the other, then to "/".
	Path, Route string
	Header      http.Header
	Query       url.Values
	// Body is the request's body, nil for none; read as a real request's would be, by its
	// Content-Type header.
	Body      *string
	RequestID string
}

// RunResult is what a run once produced.
type RunResult struct {
	Response    *RunResponse `json:"response,omitempty"`
	Logs        []LogEntry   `json:"logs"`
	DurationMS  float64      `json:"duration_ms"`
	MemoryBytes int64        `json:"memory_bytes"`
	Error       *RunError    `json:"error,omitempty"`
	RequestID   string       `json:"request_id"`
}

// RunResponse is the HTTP answer the script made.
type RunResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// Body is the answer's text; an answer that is not UTF-8 text comes as BodyBase64 instead.
	Body       string `json:"body"`
	BodyBase64 []byte `json:"body_base64,omitempty"`
}

// RunError is why a run failed: the whole message (the run's owner is asking), and the
// script's line when the error names one.
type RunError struct {
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
}

// LogEntry is one entry a run wrote to its log.
type LogEntry struct {
	Time      time.Time      `json:"time"`
	Level     string         `json:"level"`
	Solution  string         `json:"solution"`
	Source    string         `json:"source"`
	RequestID string         `json:"request_id,omitempty"`
	Message   string         `json:"message"`
	Fields    map[string]any `json:"fields,omitempty"`
}

// Bounds of the logs one run once keeps; past them, a last entry counts what was left out.
const (
	MaxRunLogEntries = 1000
	MaxRunLogBytes   = 256 << 10
)

// runLog keeps what a run writes to its log, within the bounds.
type runLog struct {
	sol, reqID string
	entries    []LogEntry
	bytes      int
	dropped    int
}

func (l *runLog) write(level slog.Level, msg string, fields map[string]any) {
	size := len(msg) + 64
	for k, v := range fields {
		size += len(k) + len(fmt.Sprint(v))
	}
	if len(l.entries) >= MaxRunLogEntries || l.bytes+size > MaxRunLogBytes {
		l.dropped++
		return
	}
	l.bytes += size
	var copied map[string]any
	if len(fields) > 0 {
		copied = make(map[string]any, len(fields))
		for k, v := range fields {
			copied[k] = v
		}
	}
	l.entries = append(l.entries, LogEntry{Time: time.Now().UTC(), Level: LevelName(level), Solution: l.sol, Source: "run",
		RequestID: l.reqID, Message: msg, Fields: copied})
}

// done is the entries, with a last one counting those left out.
func (l *runLog) done() []LogEntry {
	if l.dropped > 0 {
		l.entries = append(l.entries, LogEntry{Time: time.Now().UTC(), Level: "warn", Solution: l.sol, Source: "run", RequestID: l.reqID,
			Message: fmt.Sprintf("… %d more log entries left out (a run shows at most %d entries or %d KiB)", l.dropped, MaxRunLogEntries, MaxRunLogBytes>>10)})
	}
	if l.entries == nil {
		return []LogEntry{}
	}
	return l.entries
}

// LevelName is a log level as log entries name it: debug, info, warn or error.
func LevelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// RunOnce compiles req's script and runs it once for sol as its endpoint would run. A script
// that does not compile is a *script.CompileError; a run the server could not give its memory
// a *script.LimitError of script.LimitServerMemory; the context's error when ctx ended. A run
// that failed otherwise is a RunResult with Error.
func (h *Handler) RunOnce(ctx context.Context, sol string, req RunRequest) (RunResult, error) {
	s, ok := h.opt.Store.Get(sol)
	if !ok {
		return RunResult{}, fmt.Errorf("solution %s: %w", sol, solution.ErrNotFound)
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	rt, path, values, err := runRoute(req)
	if err != nil {
		return RunResult{}, err
	}
	name := req.Name
	if name == "" {
		name = "run"
	}
	p, err := script.Compile(name, req.Script)
	if err != nil {
		return RunResult{}, err
	}
	rt.program = p
	if req.RequestID == "" {
		req.RequestID = newID()
	}
	hr := &http.Request{Method: req.Method, URL: &url.URL{Path: path, RawQuery: req.Query.Encode()}, Header: req.Header}
	if hr.Header == nil {
		hr.Header = http.Header{}
	}
	var body script.Body
	if req.Body != nil {
		body = bodyOf(hr.Header.Get("Content-Type"), *req.Body)
	}
	var services script.Services
	if h.opt.Services != nil {
		services = h.opt.Services(sol)
	}
	logs := &runLog{sol: sol, reqID: req.RequestID}
	start := time.Now()
	res, err := h.opt.Runner.Run(service.WithOrigin(ctx, service.Origin{RequestID: req.RequestID}), p, script.Run{
		Solution: sol,
		Limits:   Limits(s.Limits),
		Services: services,
		Vars: map[string]any{
			"request": script.Lazy(func() any { return requestTable(hr, rt, path, values, req.RequestID, start, body) }),
			"response": script.Lazy(func() any {
				return map[string]any{"code": float64(http.StatusOK), "headers": map[string]any{}}
			}),
		},
		ReadBack:   []string{"response"},
		Held:       int64(len(body.Data)),
		KeepResult: true,
		Log:        logs.write,
		Measure:    true,
	})
	out := RunResult{DurationMS: float64(time.Since(start).Microseconds()) / 1000, MemoryBytes: res.Memory, RequestID: req.RequestID}
	var le *script.LimitError
	switch {
	case errors.As(err, &le) && le.Limit == script.LimitServerMemory:
		return RunResult{}, err
	case ctx.Err() != nil:
		return RunResult{}, ctx.Err()
	case err != nil:
		out.Error = runError(err)
		out.Logs = logs.done()
		return out, nil
	}
	defer res.Release()
	rec := &responseRecorder{header: http.Header{}, code: http.StatusOK}
	for _, problem := range writeScriptResponse(rec, res, origin{sol: sol, base: "/apps/" + sol}) {
		logs.write(slog.LevelWarn, "endpoint script response: "+problem, nil)
	}
	out.Response = rec.response()
	out.Logs = logs.done()
	return out, nil
}

// runRoute is the route a run answers (its template and parameter names), the request's path,
// and the parameters' values in it.
func runRoute(req RunRequest) (*route, string, []string, error) {
	path, template := req.Path, req.Route
	field := "route"
	switch {
	case path == "" && template == "":
		path, template = "/", "/"
	case template == "":
		template, field = path, "path"
	case path == "":
		if len(paramNames(template)) > 0 {
			return nil, "", nil, &solution.FieldError{Field: "path", Reason: fmt.Sprintf("required: the route %s has parameters; give the path of a request, such as %s", template, exampleFor(template))}
		}
		path = template
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
		return nil, "", nil, &solution.FieldError{Field: "path", Reason: "must start with / and hold no ? or # (give the query as query)"}
	}
	if err := solution.ValidatePath(template); err != nil {
		var fe *solution.FieldError
		if errors.As(err, &fe) {
			fe.Field = field
		}
		return nil, "", nil, err
	}
	rt := &route{method: req.Method, template: template, params: paramNames(template)}
	r := newRouter()
	r.add(req.Method, template, rt)
	_, values, ok := r.match(path)
	if !ok {
		return nil, "", nil, &solution.FieldError{Field: "path", Reason: fmt.Sprintf("%s does not match the route %s", path, template)}
	}
	return rt, path, values, nil
}

// exampleFor is a path matching template, each parameter replaced by 1.
func exampleFor(template string) string {
	segs := splitPath(template)
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "1"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// runError is a failed run's error for its owner: the whole message and the line.
func runError(err error) *RunError {
	var re *script.RuntimeError
	if errors.As(err, &re) {
		return &RunError{Message: re.Message, Line: re.Line}
	}
	return &RunError{Message: err.Error()}
}

// responseRecorder keeps the answer a script's response makes.
type responseRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(code int)        { r.code = code }

func (r *responseRecorder) response() *RunResponse {
	out := &RunResponse{Status: r.code, Headers: make(map[string]string, len(r.header))}
	keys := make([]string, 0, len(r.header))
	for k := range r.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Headers[k] = strings.Join(r.header[k], ", ")
	}
	if b := r.body.Bytes(); utf8.Valid(b) {
		out.Body = string(b)
	} else {
		out.BodyBase64 = bytes.Clone(b)
	}
	return out
}
