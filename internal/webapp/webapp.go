// Package webapp serves solution endpoints: it routes /apps/{solution}/{path} (or a solution's
// own host name) to the endpoint's script and turns the script's response into HTTP.
package webapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
	"github.com/switchboardhq/switchboard/internal/tracing"
)

// Runner runs a compiled script.
type Runner interface {
	Run(ctx context.Context, p *script.Program, r script.Run) (script.Result, error)
}

// Store is the part of the solution store the apps router reads.
type Store interface {
	Get(id string) (solution.Solution, bool)
	Endpoints(solution string) []solution.Endpoint
}

// Options configure a Handler.
type Options struct {
	Store      Store
	Runner     Runner
	Services   func(solution string) script.Services
	Metrics    *metrics.Metrics
	Logger     *slog.Logger
	Tracer     *tracing.Tracer // nil: no spans
	AppsDomain string
	MaxBody    int64
	// Gate bounds runs in flight and body bytes held, per solution and in all; nil bounds nothing.
	Gate *admission.Gate
	// BodyPace bounds how long a request body may take to arrive, so a slow sender cannot
	// hold what it reserved for long; zero = no bound.
	BodyPace admission.Pace
	// AddedServices lists, for the solution's API page asked for with the solution's token,
	// the dynamic services it added as the marketplace shows them; nil shows none.
	AddedServices func(solution string) []catalog.Market
	// Logs receives what runs write to their solution's log and one entry per failed run;
	// nil keeps none.
	Logs *solutionlog.Log
}

// Handler serves every solution's endpoints.
type Handler struct {
	opt     Options
	mu      sync.Mutex                         // serialises rebuilds
	routers atomic.Pointer[map[string]*router] // solution → router, replaced whole on change
}

// route is one deployed endpoint, compiled.
type route struct {
	method, template string
	params           []string
	// src is the script compiled: versions count per endpoint and start again at 1 when an
	// endpoint is deleted and deployed anew, so the source, not the version, tells a change.
	src        string
	program    *script.Program
	compileErr error
}

// New returns a Handler with the current endpoints of every solution loaded.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &Handler{opt: o}
	empty := map[string]*router{}
	h.routers.Store(&empty)
	return h
}

// Rebuild recompiles the routes of one solution from the store; scripts whose source did not
// change keep their compiled program. It is called on every change the store sees.
func (h *Handler) Rebuild(sol string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.routers.Load()
	next := make(map[string]*router, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if _, ok := h.opt.Store.Get(sol); !ok {
		delete(next, sol)
		h.routers.Store(&next)
		return
	}
	prev := map[string]*route{}
	if r := old[sol]; r != nil {
		r.walk(func(rt *route) { prev[rt.method+" "+rt.template] = rt })
	}
	r := newRouter()
	for _, ep := range h.opt.Store.Endpoints(sol) {
		rt := prev[ep.Method+" "+ep.Path]
		if rt == nil || rt.src != ep.Script {
			rt = &route{method: ep.Method, template: ep.Path, params: paramNames(ep.Path), src: ep.Script}
			rt.program, rt.compileErr = script.Compile(sol+" "+ep.Method+" "+ep.Path, ep.Script)
			if rt.compileErr != nil {
				h.opt.Logger.Error("endpoint script does not compile", "solution", sol, "method", ep.Method, "path", ep.Path, "err", rt.compileErr)
			}
		}
		r.add(ep.Method, ep.Path, rt)
	}
	next[sol] = r
	h.routers.Store(&next)
}

func (r *router) walk(f func(*route)) {
	var visit func(n *node)
	visit = func(n *node) {
		for _, rt := range n.routes {
			f(rt)
		}
		for _, rt := range n.rest {
			f(rt)
		}
		for _, c := range n.static {
			visit(c)
		}
		if n.param != nil {
			visit(n.param)
		}
	}
	visit(r.root)
}

// SolutionFromHost returns the solution a Host header names under the apps domain.
func (h *Handler) SolutionFromHost(host string) (string, bool) {
	if h.opt.AppsDomain == "" {
		return "", false
	}
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	sol, ok := strings.CutSuffix(strings.ToLower(host), "."+h.opt.AppsDomain)
	if !ok || !solution.IDPattern.MatchString(sol) {
		return "", false
	}
	return sol, true
}

// ServeApp answers a request for solution sol at path (the part after the solution); base is
// where the solution's paths start ("/apps/<sol>", or "" on the solution's own host).
func (h *Handler) ServeApp(w http.ResponseWriter, r *http.Request, sol, path, base string) {
	start := time.Now()
	reqID := requestID(r)
	w.Header().Set("X-Request-Id", reqID)
	org := origin{sol: sol, base: base, host: strings.ToLower(sol + "." + h.opt.AppsDomain)}
	org.protect(w.Header()) // errors too: any answer on the shared origin is a page of it
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if h.opt.Metrics != nil {
			label := sol
			if rec.unknown {
				label = "" // unknown solutions must not create series
			}
			h.opt.Metrics.AppRequests.WithLabelValues(label, strconv.Itoa(rec.code)).Inc()
			h.opt.Metrics.AppLatency.WithLabelValues(label).Observe(time.Since(start).Seconds())
		}
	}()
	w = rec

	s, ok := h.opt.Store.Get(sol)
	rt := (*h.routers.Load())[sol]
	if !ok || rt == nil {
		rec.unknown = true
		writeError(w, http.StatusNotFound, fmt.Sprintf("no solution %q", sol))
		return
	}
	if path == "" {
		path = "/"
	}
	if h.serveDocs(w, r, sol, path, org) {
		return
	}
	routes, values, found := rt.match(path)
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint matches %s %s", r.Method, path))
		return
	}
	route := routes[r.Method]
	if route == nil && r.Method == http.MethodHead {
		route = routes[http.MethodGet]
	}
	if route == nil {
		allow := make([]string, 0, len(routes))
		for m := range routes {
			allow = append(allow, m)
		}
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, route0(routes).template, strings.Join(allow, ", ")))
		return
	}
	if route.compileErr != nil {
		h.scriptFailed(w, r, s, reqID, route, route.compileErr)
		return
	}
	// The body is read first, its bytes held as they arrive; the run slot is taken only once it
	// is in, so a body slow to arrive holds no run slot. Both are released once the answer is written.
	var ticket *admission.Ticket
	if h.opt.Gate != nil {
		ticket = h.opt.Gate.Open(sol)
		defer ticket.Release()
	}
	var body script.Body
	if r.Body != nil && r.Body != http.NoBody {
		raw, err := h.opt.BodyPace.ReadRequest(w, r, ticket, h.opt.MaxBody)
		if err != nil {
			var tooBig *http.MaxBytesError
			var refused *admission.Error
			switch {
			case errors.As(err, &tooBig):
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
			case errors.As(err, &refused):
				writeRefusal(w, err)
			case errors.Is(err, os.ErrDeadlineExceeded):
				writeError(w, http.StatusRequestTimeout, err.Error())
			default:
				writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
			}
			return
		}
		body = bodyOf(r.Header.Get("Content-Type"), bodyString(raw))
	}
	if ticket != nil {
		if err := ticket.Run(); err != nil {
			writeRefusal(w, err)
			return
		}
	}
	var services script.Services
	if h.opt.Services != nil {
		services = h.opt.Services(sol)
	}
	runStart := time.Now()
	// Service calls the script makes carry this request's id and trace.
	ctx := service.WithOrigin(r.Context(), service.Origin{RequestID: reqID, Traceparent: r.Header.Get("traceparent")})
	var reqSpan, runSpan trace.Span
	if h.opt.Tracer.Enabled() {
		endpoint := route.method + " " + route.template
		ctx, reqSpan = h.opt.Tracer.Start(ctx, endpoint, trace.SpanKindServer,
			attribute.String("switchboard.solution", sol), attribute.String("switchboard.endpoint", endpoint),
			attribute.String("http.request.method", r.Method), attribute.String("http.route", route.template))
		defer reqSpan.End()
		ctx, runSpan = h.opt.Tracer.Start(ctx, "script "+endpoint, trace.SpanKindInternal,
			attribute.String("switchboard.solution", sol), attribute.String("switchboard.endpoint", endpoint))
	}
	res, err := h.opt.Runner.Run(ctx, route.program, script.Run{
		Solution: sol,
		Limits:   Limits(s.Limits),
		Services: services,
		Vars: map[string]any{
			// Made only if the script reads them: many scripts never look at the request.
			"request": script.Lazy(func() any { return requestTable(r, route, path, values, reqID, start, body) }),
			"response": script.Lazy(func() any {
				return map[string]any{"code": float64(http.StatusOK), "headers": map[string]any{}}
			}),
		},
		ReadBack: []string{"response"},
		Held:     int64(len(body.Data)),
		Log:      h.opt.Logs.Writer(sol, solutionlog.SourceEndpoint(route.method, route.template), reqID),
		// The response stays counted in the runs' memory pool until it is written.
		KeepResult: true,
	})
	h.observeRun(sol, time.Since(runStart), err)
	if runSpan != nil {
		tracing.End(runSpan, err)
		tracing.Fail(reqSpan, err) // ended once the response is written
	}
	if err != nil {
		h.scriptFailed(w, r, s, reqID, route, err)
		return
	}
	defer res.Release()
	for _, problem := range writeScriptResponse(w, res, org) {
		h.opt.Logger.Warn("endpoint script response: "+problem, "solution", sol, "request_id", reqID, "method", route.method, "path", route.template)
	}
}

// writeRefusal answers a request the admission gate refused: 429 for a solution's bound, 503
// for the server's, naming the bound, with Retry-After.
func writeRefusal(w http.ResponseWriter, err error) {
	var refused *admission.Error
	if !errors.As(err, &refused) {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(admission.RetryAfter/time.Second)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(refused.Status())
	json.NewEncoder(w).Encode(map[string]any{"error": refused.Error(), "bound": refused.Reason}) //nolint:errcheck // client gone
}

func route0(m map[string]*route) *route {
	for _, r := range m {
		return r
	}
	return nil
}

// Limits converts a solution's limits into the engine's.
func Limits(l solution.Limits) script.Limits {
	return script.Limits{
		Timeout:   time.Duration(l.TimeoutMS) * time.Millisecond,
		Memory:    l.MemoryBytes,
		CallDepth: l.CallDepth,
		Steps:     l.Steps,
	}
}

func (h *Handler) observeRun(sol string, d time.Duration, err error) {
	if h.opt.Metrics == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
		h.opt.Metrics.ScriptErrors.WithLabelValues(sol, ErrorKind(err)).Inc()
	}
	h.opt.Metrics.ScriptRuns.WithLabelValues(sol, outcome).Inc()
	h.opt.Metrics.ScriptLatency.WithLabelValues(sol).Observe(d.Seconds())
}

// ErrorKind names a run failure for metrics: the limit hit, "runtime", "canceled" or "internal".
func ErrorKind(err error) string {
	var le *script.LimitError
	var re *script.RuntimeError
	switch {
	case errors.As(err, &le):
		return le.Limit
	case errors.As(err, &re):
		return "runtime"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "internal"
}

// serverMemoryRetryAfter is the Retry-After of a run the engine's memory pool could not serve,
// in seconds: runs last milliseconds to seconds, so their memory is back soon.
const serverMemoryRetryAfter = "1"

// scriptFailed answers a failed run with its error id and the request id, writing the whole
// error to the solution's log under that id; a solution in debug mode also shows its caller
// the message and line. A limit keeps its own message; a server too busy to run it is 503.
func (h *Handler) scriptFailed(w http.ResponseWriter, r *http.Request, s solution.Solution, reqID string, rt *route, err error) {
	sol := s.ID
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		h.opt.Logger.Info("client went away during script run", "solution", sol, "request_id", reqID)
		return
	}
	errID := solutionlog.NewErrorID()
	entry := solutionlog.Failure(sol, solutionlog.SourceEndpoint(rt.method, rt.template), reqID, errID, err)
	h.opt.Logs.Write(entry)
	status, msg, logMsg := http.StatusInternalServerError, "script error", "endpoint script failed"
	var le *script.LimitError
	if errors.As(err, &le) {
		msg = "script stopped: " + le.Error()
		if le.Limit == script.LimitServerMemory {
			// The server is busy, not the script at fault: the client may try again shortly.
			status, msg = http.StatusServiceUnavailable, "server busy: "+le.Error()
			logMsg = "endpoint script stopped: the runs in progress hold all their memory"
			w.Header().Set("Retry-After", serverMemoryRetryAfter)
		}
	}
	h.opt.Logger.Warn(logMsg, "solution", sol, "request_id", reqID, "error_id", errID,
		"method", rt.method, "path", rt.template, "err", err)
	answer := map[string]any{"error": msg, "error_id": errID, "request_id": reqID}
	if s.Debug {
		answer["message"] = entry.Message
		if entry.Line > 0 {
			answer["line"] = entry.Line
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(answer) //nolint:errcheck // client gone
}

// requestTable is the script's `request`; its body is decoded when the script reads it.
func requestTable(r *http.Request, rt *route, path string, values []string, reqID string, now time.Time, body script.Body) map[string]any {
	params := map[string]any{}
	for k, vs := range r.URL.Query() {
		if len(vs) == 1 {
			params[k] = vs[0]
		} else {
			arr := make([]any, len(vs))
			for i, v := range vs {
				arr[i] = v
			}
			params[k] = arr
		}
	}
	for i, name := range rt.params { // path parameters win over query ones of the same name
		if i < len(values) {
			params[name] = values[i]
		}
	}
	headers := make(map[string]any, len(r.Header))
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	req := map[string]any{
		"method":     r.Method,
		"uri":        r.URL.RequestURI(),
		"route":      rt.template,
		"path":       path,
		"parameters": params,
		"headers":    headers,
		"request_id": reqID,
		"timestamp":  float64(now.UnixMilli()) / 1000,
	}
	req["body"] = body
	return req
}

// readBody reads the request body, up to limit bytes, into a string the run's values can share.

// bodyString is raw as a string without copying it: the buffer was made for this body alone
// and nothing writes to it again, and a copy would double what a large body holds.
func bodyString(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	return unsafe.String(&raw[0], len(raw))
}

// bodyOf is the script's request.body: a JSON body (by content type, or one that simply is
// JSON) becomes tables when the script reads it, anything else the text.
func bodyOf(contentType, raw string) script.Body {
	mt, _, _ := mime.ParseMediaType(contentType)
	return script.Body{Data: raw, JSON: mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == ""}
}

// writeScriptResponse turns the script's `response` and return value into HTTP: a returned
// value wins over response.message / response.body; tables become JSON. What it cannot use (a
// bad code, a header that would corrupt the response) is left out and reported back.
func writeScriptResponse(w http.ResponseWriter, res script.Result, org origin) (problems []string) {
	resp, _ := res.Vars["response"].(map[string]any)
	code := http.StatusOK
	if c, ok := resp["code"]; ok {
		if f, isNum := c.(float64); isNum && f >= 100 && f <= 599 && f == float64(int(f)) {
			code = int(f)
		} else {
			problems = append(problems, fmt.Sprintf("response.code %v is not an HTTP status (100-599); 200 was sent", c))
		}
	}
	if hs, ok := resp["headers"].(map[string]any); ok {
		for k, v := range hs {
			s, ok := scalarString(v)
			if !ok || !validHeader(k, s) {
				problems = append(problems, fmt.Sprintf("header %q left out: a header needs a token name and a string, number or boolean value without line breaks", k))
				continue
			}
			if s, why := org.scriptHeader(k, s); why != "" {
				problems = append(problems, why)
			} else {
				w.Header().Set(k, s)
			}
		}
	}
	org.protect(w.Header()) // again: the script's headers must not replace these
	body := res.Return
	if body == nil {
		if m, ok := resp["message"]; ok {
			body = m
		} else {
			body = resp["body"]
		}
	}
	var out []byte
	switch b := body.(type) {
	case nil:
	case string:
		out = []byte(b)
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
	default:
		var err error
		out, err = json.Marshal(b)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "script returned a value that is not JSON")
			return append(problems, "return value is not JSON: "+err.Error())
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(code)
	w.Write(out) //nolint:errcheck // client gone
	return problems
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// validHeader keeps a script from writing a header that would corrupt the response.
func validHeader(k, v string) bool {
	if k == "" || strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return !strings.ContainsAny(v, "\r\n\x00")
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg}) //nolint:errcheck // client gone
}

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && validHeader("X-Request-Id", id) {
		return id
	}
	return newID()
}

func newID() string {
	var b [12]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	return hex.EncodeToString(b[:])
}

type statusRecorder struct {
	http.ResponseWriter
	code    int
	unknown bool
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (for read deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
