// Package faasgw serves the part of the OpenFaaS gateway API that event connectors use, so a
// connector written for OpenFaaS (its connector-sdk) drives Switchboard's handlers unchanged:
// every handler is a function, every solution a namespace, and a handler's topics are the
// function's "topic" annotation.
package faasgw

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/servicenet"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// AdminUser is the basic-auth user name that goes with the admin token, as OpenFaaS's.
const AdminUser = "admin"

// CallbackTimeout bounds one POST of an async result to its X-Callback-Url.
const CallbackTimeout = 30 * time.Second

// Solutions is what the gateway needs of the solution store.
type Solutions interface {
	List() []solution.Solution
	Get(id string) (solution.Solution, bool)
	ByToken(token string) (string, bool)
}

// Handlers is what the gateway needs of the handler store.
type Handlers interface {
	List(sol string) []events.Handler
	Get(sol, name string) (events.Handler, bool)
}

// Invoker runs one named handler now, or stores an event for it alone; *events.Dispatcher
// is one.
type Invoker interface {
	DispatchTo(ctx context.Context, e events.Event, handler string) (any, error)
	EnqueueTo(ctx context.Context, e events.Event, handler string) error
}

// Options configure a Gateway.
type Options struct {
	Solutions  Solutions
	Handlers   Handlers
	Invoker    Invoker
	AdminToken string
	// Gate, BodyPace and MaxBody bound invocations as the API's triggers are bounded.
	Gate     *admission.Gate // nil: no bound
	BodyPace admission.Pace
	MaxBody  int64
	// Guard decides where an async result may be POSTed: never the hub's own listeners.
	Guard  *servicenet.Guard
	Logger *slog.Logger
}

// Gateway is the OpenFaaS-compatible HTTP handler.
type Gateway struct {
	o        Options
	mux      *http.ServeMux
	callback *http.Client
	resolver *net.Resolver
}

// New returns a gateway serving o.
func New(o Options) *Gateway {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{o: o, mux: http.NewServeMux(), callback: o.Guard.HTTPClient(CallbackTimeout), resolver: net.DefaultResolver}
	g.mux.HandleFunc("GET /system/namespaces", g.authed(g.namespaces))
	g.mux.HandleFunc("GET /system/functions", g.authed(g.functions))
	g.mux.HandleFunc("POST /function/{fn}", g.authed(g.invoke))
	g.mux.HandleFunc("POST /async-function/{fn}", g.authed(g.invokeAsync))
	return g
}

// Patterns are the routes the gateway serves, for the hub's mux.
func Patterns() []string {
	return []string{"/system/namespaces", "/system/functions", "/function/", "/async-function/"}
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Close returns at once: async calls are durable events, which the dispatcher finishes or
// hands to another instance.
func (g *Gateway) Close(context.Context) error { return nil }

// caller is who presented basic auth: the admin (every namespace) or one solution.
type caller struct {
	admin    bool
	solution string
}

// sees reports whether c may see namespace ns.
func (c caller) sees(ns string) bool { return c.admin || c.solution == ns }

// authed checks basic auth as the OpenFaaS gateway does: user admin with the admin token, or
// a solution's id with that solution's token.
func (g *Gateway) authed(next func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		var c caller
		switch {
		case !ok:
		case user == AdminUser:
			ok = g.o.AdminToken != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(g.o.AdminToken)) == 1
			c.admin = true
		default:
			id, found := g.o.Solutions.ByToken(pass)
			ok = found && subtle.ConstantTimeCompare([]byte(id), []byte(user)) == 1
			c.solution = id
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="switchboard"`)
			writeError(w, http.StatusUnauthorized, "", "basic auth: user admin with the admin token, or a solution id with that solution's token")
			return
		}
		next(w, r, c)
	}
}

func (g *Gateway) namespaces(w http.ResponseWriter, _ *http.Request, c caller) {
	out := []string{}
	if c.admin {
		for _, s := range g.o.Solutions.List() {
			out = append(out, s.ID)
		}
		sort.Strings(out)
	} else if _, ok := g.o.Solutions.Get(c.solution); ok {
		out = append(out, c.solution)
	}
	writeJSON(w, http.StatusOK, out)
}

// Function is a handler as the OpenFaaS gateway lists a function (faas-provider's
// FunctionStatus, the fields connectors read).
type Function struct {
	Name              string            `json:"name"`
	Image             string            `json:"image"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	Replicas          uint64            `json:"replicas"`
	AvailableReplicas uint64            `json:"availableReplicas"`
	CreatedAt         time.Time         `json:"createdAt"`
}

// Image is what every handler lists as its image: handlers are scripts, not containers.
const Image = "switchboard/lua-handler"

func functionOf(h events.Handler) Function {
	return Function{
		Name:      h.Name,
		Image:     Image,
		Namespace: h.Solution,
		Labels: map[string]string{
			"faas_function":              h.Name,
			"switchboard.io/solution":    h.Solution,
			"switchboard.io/handler-rev": strconv.FormatUint(h.Version, 10),
		},
		// The connector-sdk splits "topic" on its delimiter, a comma by default.
		Annotations:       map[string]string{"topic": strings.Join(h.Topics, ",")},
		Replicas:          1,
		AvailableReplicas: 1,
		CreatedAt:         h.UpdatedAt,
	}
}

func (g *Gateway) functions(w http.ResponseWriter, r *http.Request, c caller) {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		if c.admin {
			// No default namespace: the connector-sdk asks for "" only when it saw none.
			writeJSON(w, http.StatusOK, []Function{})
			return
		}
		ns = c.solution
	}
	if aerr := g.namespace(ns, c); aerr != nil {
		writeError(w, aerr.status, "namespace", "%s", aerr.msg)
		return
	}
	out := []Function{}
	for _, h := range g.o.Handlers.List(ns) {
		out = append(out, functionOf(h))
	}
	writeJSON(w, http.StatusOK, out)
}

type gwError struct {
	status int
	msg    string
}

// namespace checks that ns exists and c may use it.
func (g *Gateway) namespace(ns string, c caller) *gwError {
	if err := solution.ValidateID(ns); err != nil {
		var fe *solution.FieldError
		if errors.As(err, &fe) {
			err = errors.New(fe.Reason)
		}
		return &gwError{http.StatusBadRequest, fmt.Sprintf("namespace %q: %v", ns, err)}
	}
	if !c.sees(ns) {
		return &gwError{http.StatusForbidden, fmt.Sprintf("the credentials of solution %s reach only namespace %s", c.solution, c.solution)}
	}
	if _, ok := g.o.Solutions.Get(ns); !ok {
		return &gwError{http.StatusNotFound, fmt.Sprintf("namespace %s not found", ns)}
	}
	return nil
}

// target is the handler a /function/{name}[.{namespace}] path names.
func (g *Gateway) target(r *http.Request, c caller) (events.Handler, *gwError) {
	name, ns, _ := strings.Cut(r.PathValue("fn"), ".")
	if ns == "" {
		if c.admin {
			return events.Handler{}, &gwError{http.StatusBadRequest, "the admin names the namespace: /function/" + name + ".<solution>"}
		}
		ns = c.solution
	}
	if aerr := g.namespace(ns, c); aerr != nil {
		return events.Handler{}, aerr
	}
	h, ok := g.o.Handlers.Get(ns, name)
	if !ok {
		return events.Handler{}, &gwError{http.StatusNotFound, fmt.Sprintf("function %s.%s not found", name, ns)}
	}
	return h, nil
}

// call is one invocation read from its request.
type call struct {
	id    string
	event events.Event
	h     events.Handler
}

// read checks the request, reads its body on an admission ticket of the handler's solution,
// takes the ticket's run slot and makes the event. The ticket (nil without a gate) is to be
// released once the run is over; read releases it itself when it fails.
func (g *Gateway) read(w http.ResponseWriter, r *http.Request, c caller) (call, *admission.Ticket, *gwError) {
	h, aerr := g.target(r, c)
	if aerr != nil {
		return call{}, nil, aerr
	}
	topic := h.Topics[0]
	if t := r.Header.Get("X-Topic"); t != "" {
		if err := events.ValidateTopic(t); err != nil {
			return call{}, nil, &gwError{http.StatusBadRequest, "X-Topic: " + err.Error()}
		}
		topic = t
	}
	var ticket *admission.Ticket
	if g.o.Gate != nil {
		ticket = g.o.Gate.Open(h.Solution)
	}
	body, err := g.o.BodyPace.ReadRequest(w, r, ticket, g.o.MaxBody)
	if err == nil {
		err = ticket.Run()
	}
	if err != nil {
		ticket.Release()
		return call{}, nil, readError(err)
	}
	id := callID(r)
	return call{id: id, h: h, event: events.Event{
		ID:       id,
		Solution: h.Solution,
		Topic:    topic,
		// Decoded only if the handler reads event.data; JSON when the content type says so
		// (or says nothing), else the text as it came.
		Data:    script.Body{Data: string(body), JSON: isJSON(r.Header.Get("Content-Type"))},
		Time:    time.Now().UTC(),
		Headers: headersOf(r.Header),
	}}, ticket, nil
}

func readError(err error) *gwError {
	var refused *admission.Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &refused):
		return &gwError{refused.Status(), refused.Error()}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &gwError{http.StatusRequestTimeout, err.Error()}
	case errors.As(err, &tooBig):
		return &gwError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	}
	return &gwError{http.StatusBadRequest, "request body: " + err.Error()}
}

func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, c caller) {
	cl, ticket, aerr := g.read(w, r, c)
	defer ticket.Release()
	if aerr != nil {
		writeError(w, aerr.status, "", "%s", aerr.msg)
		return
	}
	start := time.Now()
	res, err := g.o.Invoker.DispatchTo(origin(r, cl.id), cl.event, cl.h.Name)
	w.Header().Set("X-Call-Id", cl.id)
	w.Header().Set("X-Duration-Seconds", seconds(time.Since(start)))
	status, ct, body := answer(res, err)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // client gone
}

// invokeAsync stores the call as an event for the function alone and answers 202 once it
// is stored: it runs, and is retried, as every durable event is, on whichever instance
// takes it; Reply then POSTs the outcome to the callback URL, if one was given.
func (g *Gateway) invokeAsync(w http.ResponseWriter, r *http.Request, c caller) {
	var cb string
	if raw := r.Header.Get("X-Callback-Url"); raw != "" {
		u, err := g.checkCallback(r.Context(), raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, "X-Callback-Url", "X-Callback-Url: %v", err)
			return
		}
		cb = u.String()
	}
	cl, ticket, aerr := g.read(w, r, c)
	defer ticket.Release()
	if aerr != nil {
		writeError(w, aerr.status, "", "%s", aerr.msg)
		return
	}
	if cb != "" {
		cl.event.Reply = &events.Reply{URL: cb, CallID: cl.id}
	}
	if err := g.o.Invoker.EnqueueTo(origin(r, cl.id), cl.event, cl.h.Name); err != nil {
		status, ct, body := answer(nil, err)
		if !errors.Is(err, events.ErrNoHandler) {
			var fe *solution.FieldError
			if errors.As(err, &fe) {
				status, ct, body = errorBody(http.StatusBadRequest, map[string]string{"error": fe.Error(), "field": fe.Field})
			} else {
				g.o.Logger.Error("async function not stored", "solution", cl.h.Solution, "function", cl.h.Name, "err", err)
				status, ct, body = errorBody(http.StatusServiceUnavailable, map[string]string{"error": "the call could not be stored; try again"})
			}
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		w.Write(body) //nolint:errcheck // client gone
		return
	}
	w.Header().Set("X-Call-Id", cl.id)
	w.WriteHeader(http.StatusAccepted)
}

// Reply POSTs an async call's outcome to its callback URL; the dispatcher calls it once the
// function finished with the call (succeeded, or failed its last attempt).
func (g *Gateway) Reply(ctx context.Context, e events.Event, handler string, res any, err error, took time.Duration) {
	if e.Reply == nil {
		return
	}
	cb, perr := url.Parse(e.Reply.URL)
	if perr != nil {
		g.o.Logger.Warn("async function callback", "solution", e.Solution, "function", handler, "call_id", e.Reply.CallID, "err", perr)
		return
	}
	g.post(ctx, cb, call{id: e.Reply.CallID, h: events.Handler{Solution: e.Solution, Name: handler}}, took, res, err)
}

// checkCallback refuses a callback URL that is not http(s) or resolves to an address the
// guard denies (the hub's own listeners among them). The guard checks again when dialing, as
// the name may resolve elsewhere by then.
func (g *Gateway) checkCallback(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q must be an absolute http or https URL", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: not a port number", port)
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("host %s does not resolve: %w", u.Hostname(), err)
	}
	for _, a := range addrs {
		if err := g.o.Guard.Check(netip.AddrPortFrom(a, uint16(p))); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// post sends an async call's result to its callback URL with OpenFaaS's headers.
func (g *Gateway) post(ctx context.Context, cb *url.URL, cl call, took time.Duration, res any, err error) {
	status, ct, body := answer(res, err)
	ctx, cancel := context.WithTimeout(ctx, CallbackTimeout)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, cb.String(), strings.NewReader(string(body)))
	if rerr != nil {
		g.o.Logger.Warn("async function callback", "solution", cl.h.Solution, "function", cl.h.Name, "call_id", cl.id, "err", rerr)
		return
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Call-Id", cl.id)
	req.Header.Set("X-Function-Name", cl.h.Name)
	req.Header.Set("X-Function-Status", strconv.Itoa(status))
	req.Header.Set("X-Duration-Seconds", seconds(took))
	resp, derr := g.callback.Do(req)
	if derr != nil {
		g.o.Logger.Warn("async function callback failed", "solution", cl.h.Solution, "function", cl.h.Name, "call_id", cl.id,
			"err", servicenet.Describe(derr))
		return
	}
	resp.Body.Close()
}

// answer is the status, content type and body of a handler's result: a string as text, any
// other value as JSON; a failure as the API's error body.
func answer(res any, err error) (int, string, []byte) {
	var he *events.HandlerError
	switch {
	case errors.Is(err, events.ErrNoHandler):
		return errorBody(http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.As(err, &he):
		status := http.StatusInternalServerError
		if he.Kind() == script.LimitServerMemory {
			status = http.StatusServiceUnavailable
		}
		return errorBody(status, map[string]string{
			"error":      fmt.Sprintf("handler %s failed: %s", he.Handler, he.Kind()),
			"error_id":   he.ErrorID,
			"request_id": he.RequestID,
		})
	case err != nil:
		return errorBody(http.StatusInternalServerError, map[string]string{"error": "internal error: " + err.Error()})
	}
	if s, ok := res.(string); ok {
		return http.StatusOK, "text/plain; charset=utf-8", []byte(s)
	}
	b, merr := json.Marshal(res)
	if merr != nil {
		return errorBody(http.StatusInternalServerError, map[string]string{"error": "result: " + merr.Error()})
	}
	return http.StatusOK, "application/json", append(b, '\n')
}

func errorBody(status int, v map[string]string) (int, string, []byte) {
	b, _ := json.Marshal(v) //nolint:errchkjson // strings only
	return status, "application/json", append(b, '\n')
}

// hidden are request headers a handler never sees: credentials, and what only the transport
// needs.
var hidden = map[string]bool{
	"Authorization": true, "Cookie": true, "Proxy-Authorization": true, "Connection": true,
	"Keep-Alive": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true,
}

// headersOf are r's headers for the handler, by lower-case name, several values joined by ", ".
func headersOf(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		if hidden[http.CanonicalHeaderKey(k)] || len(vs) == 0 {
			continue
		}
		out[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return out
}

func isJSON(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// callID is the caller's X-Call-Id when it can be an event id, else a new one.
func callID(r *http.Request) string {
	id := r.Header.Get("X-Call-Id")
	if id != "" && len(id) <= events.MaxIDBytes && !strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return id
	}
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	return hex.EncodeToString(b[:])
}

// origin carries the request id (the call id unless the caller sent one) and trace into the run.
func origin(r *http.Request, id string) context.Context {
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" {
		reqID = id
	}
	return service.WithOrigin(r.Context(), service.Origin{RequestID: reqID, Traceparent: r.Header.Get("traceparent")})
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 6, 64) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // client gone
}

func writeError(w http.ResponseWriter, status int, field, format string, args ...any) {
	body := map[string]string{"error": fmt.Sprintf(format, args...)}
	if field != "" {
		body["field"] = field
	}
	writeJSON(w, status, body)
}
