package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/followers"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
	"github.com/switchboardhq/switchboard/internal/traceparent"
	"github.com/switchboardhq/switchboard/internal/tracing"
	"github.com/switchboardhq/switchboard/internal/webapp"
)

// ErrNoHandler is an event no handler of its solution is subscribed to (or whose solution
// does not exist).
var ErrNoHandler = errors.New("no handler")

// MaxIDBytes bounds an event id, which becomes a NATS header value.
const MaxIDBytes = 128

// Event is something that happened, for a solution's handlers. It is shaped as a CloudEvent
// (see ToCloudEvent): the topic is its type.
type Event struct {
	ID       string `json:"id"`
	Solution string `json:"solution"`
	Topic    string `json:"topic"`
	// Service and Type default to the topic's first segment and the rest of it.
	Service       string    `json:"service"`
	Type          string    `json:"type"`
	Data          any       `json:"data"`
	Time          time.Time `json:"time"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	// Headers are what the sender's request carried besides the event itself (an OpenFaaS
	// connector's X-Topic, X-Connector and its own), by lower-case name; scripts see
	// event.headers.
	Headers map[string]string `json:"headers,omitempty"`
	// Source defaults to /solutions/<solution>. Subject, DataContentType, DataSchema and
	// Extensions are those of a CloudEvent, kept so it converts back as it came; extension
	// values are in their canonical string form, as HTTP binary mode carries them.
	Source          string            `json:"source,omitempty"`
	Subject         string            `json:"subject,omitempty"`
	DataContentType string            `json:"datacontenttype,omitempty"`
	DataSchema      string            `json:"dataschema,omitempty"`
	Extensions      map[string]string `json:"extensions,omitempty"`
	// Reply, when set, asks for the outcome of the one handler the event is for (an async
	// OpenFaaS call's callback); DispatcherOptions.Reply delivers it.
	Reply *Reply `json:"reply,omitempty"`
	// Expires, when set, is when the event stops being worth running (a Kaa automation
	// invocation's timestamp + timeout): a durable run not begun by then never begins, and
	// its delivery ends expired.
	Expires *time.Time `json:"expires,omitempty"`
}

// Reply is where an event's outcome goes once its handler finished with it.
type Reply struct {
	URL    string `json:"url"`
	CallID string `json:"call_id,omitempty"`
}

// Runner runs a compiled script; *script.Engine is one.
type Runner interface {
	Run(ctx context.Context, p *script.Program, r script.Run) (script.Result, error)
}

// HandlerError is a handler whose run failed (or whose script does not compile).
type HandlerError struct {
	Handler string
	Err     error
	// ErrorID names the failure in the solution's log; RequestID is the run's request id
	// (the caller's X-Request-Id, else the event's id).
	ErrorID, RequestID string
}

func (e *HandlerError) Error() string { return "handler " + e.Handler + ": " + e.Err.Error() }

func (e *HandlerError) Unwrap() error { return e.Err }

// Kind names the failure as metrics do: the limit hit, "runtime", "canceled", "internal", or
// "compile" for a script that does not compile.
func (e *HandlerError) Kind() string {
	var ce *script.CompileError
	if errors.As(e.Err, &ce) {
		return "compile"
	}
	return webapp.ErrorKind(e.Err)
}

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	Tracer   *tracing.Tracer // nil: no spans
	Store    *Store
	Runner   Runner
	Services func(solution string) script.Services // may be nil: runs see no services
	// Limits returns a solution's run limits, and false when the solution does not exist.
	Limits  func(solution string) (script.Limits, bool)
	Bus     *bus.Bus // needed by Enqueue and Start only
	Logger  *slog.Logger
	Metrics *metrics.Metrics // may be nil
	// Logs receives what handler runs write to their solution's log and one entry per failed
	// run; nil keeps none.
	Logs *solutionlog.Log
	// MaxDeliver is how many times a durable event's handler runs before it is parked in the
	// dead-letter stream; default 5.
	MaxDeliver int
	// Backoff is the wait before each retry of a durable handler run; the last value repeats.
	// Default 1s, 5s, 30s, 2m.
	Backoff []time.Duration
	// Reply receives the outcome of each durable event that asks for one (Event.Reply): its
	// handler's result, or its last error once dead-lettered. It runs in the handler's run
	// slot; nil drops replies.
	Reply func(ctx context.Context, e Event, handler string, res any, err error, took time.Duration)
	// MaxTails and MaxTailsPerSolution bound the live tails of stored events (Tail).
	MaxTails, MaxTailsPerSolution int
	// Finished, when set, is told each durable delivery's final state (StateSucceeded,
	// StateDeadLettered, StateExpired, StateDropped), once per handler, on the instance that
	// ended it; it must not block.
	Finished func(e Event, handler, state string)
}

// Defaults of DispatcherOptions.
var (
	DefaultMaxDeliver = 5
	DefaultBackoff    = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

	DefaultMaxTails            = 64
	DefaultMaxTailsPerSolution = 4
)

// Dispatcher runs the handlers of events.
type Dispatcher struct {
	o    DispatcherOptions
	log  *slog.Logger
	feat features // of the bus's server

	setupMu     sync.Mutex
	ready       bool               // the streams and the deliveries bucket exist
	deliveries  jetstream.KeyValue // set once ready
	records     chan record        // to writeRecords, set once ready
	recordsDone chan struct{}

	recordsMu     sync.RWMutex
	recordsClosed bool

	mu       sync.Mutex
	started  bool
	stopped  bool
	runCtx   context.Context
	stopCtx  context.CancelFunc
	loopDone chan struct{}
	workers  map[string]*worker // by consumer name

	reconcileMu sync.Mutex     // one reconcile at a time
	wg          sync.WaitGroup // runs in flight

	tails *followers.Slots
}

// NewDispatcher returns a dispatcher; Start begins durable processing.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if len(o.Backoff) == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxTails <= 0 {
		o.MaxTails = DefaultMaxTails
	}
	if o.MaxTailsPerSolution <= 0 {
		o.MaxTailsPerSolution = DefaultMaxTailsPerSolution
	}
	d := &Dispatcher{o: o, log: o.Logger, workers: map[string]*worker{}, tails: followers.New(o.MaxTailsPerSolution, o.MaxTails, ErrTooManyTails, ErrTailsFull)}
	if o.Bus != nil {
		d.feat = featuresOf(o.Bus)
	}
	return d
}

// Dispatch runs every handler of e.Solution subscribed to e.Topic now, concurrently, and
// returns the one handler's return value, or map[handler name]return value when several ran.
// When several are subscribed, slots (if not nil) is asked how many of them may run at once
// (the caller's run slots); the others wait their turn. No handler is ErrNoHandler (wrapped);
// a failed handler is a *HandlerError (the first by name when several failed), after every
// handler has finished.
func (d *Dispatcher) Dispatch(ctx context.Context, e Event, slots func(handlers int) int) (any, error) {
	e, lim, err := d.begin(ctx, e)
	if err != nil {
		return nil, err
	}
	bs := d.o.Store.subscribed(e.Solution, e.Topic)
	switch len(bs) {
	case 0:
		return nil, fmt.Errorf("topic %s of solution %s: %w", e.Topic, e.Solution, ErrNoHandler)
	case 1:
		return d.run(ctx, e, bs[0], lim)
	}
	width := len(bs)
	if slots != nil {
		width = max(1, min(slots(len(bs)), len(bs)))
	}
	results := make([]any, len(bs))
	errs := make([]error, len(bs))
	turn := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i, b := range bs {
		turn <- struct{}{}
		wg.Go(func() {
			defer func() { <-turn }()
			results[i], errs[i] = d.run(ctx, e, b, lim)
		})
	}
	wg.Wait()
	out := make(map[string]any, len(bs))
	for i, b := range bs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[b.h.Name] = results[i]
	}
	return out, nil
}

// begin checks e, fills its defaults (its trace from ctx's origin) and returns its solution's
// run limits; a solution that does not exist is ErrNoHandler (wrapped).
func (d *Dispatcher) begin(ctx context.Context, e Event) (Event, script.Limits, error) {
	e, err := prepare(ctx, d.o.Tracer, e)
	if err != nil {
		return Event{}, script.Limits{}, err
	}
	lim, ok := d.o.Limits(e.Solution)
	if !ok {
		return Event{}, script.Limits{}, fmt.Errorf("solution %s does not exist: %w", e.Solution, ErrNoHandler)
	}
	return e, lim, nil
}

// run runs one handler for e; a failure is a *HandlerError.
func (d *Dispatcher) run(ctx context.Context, e Event, b binding, lim script.Limits) (_ any, err error) {
	reqID := service.OriginOf(ctx).RequestID
	if reqID == "" {
		reqID = e.ID
	}
	// The run's service calls continue the event's trace, however long after it came.
	ctx = service.WithOrigin(ctx, service.Origin{RequestID: reqID, Traceparent: e.Extensions[TraceparentExtension]})
	if d.o.Tracer.Enabled() {
		var span trace.Span
		ctx, span = d.o.Tracer.Start(ctx, "handler "+b.h.Name, trace.SpanKindConsumer,
			attribute.String("switchboard.solution", e.Solution), attribute.String("switchboard.handler", b.h.Name),
			attribute.String("messaging.destination.name", e.Topic), attribute.String("messaging.message.id", e.ID))
		defer func() { tracing.End(span, err) }()
	}
	source := solutionlog.SourceHandler(b.h.Name)
	p, err := b.prog.program()
	if err != nil {
		// Stored handlers were compiled when written; this is a record written by something else.
		d.observe(e.Solution, b.h.Name, 0, err)
		return nil, d.failed(e.Solution, source, reqID, b.h.Name, err)
	}
	var services script.Services
	if d.o.Services != nil {
		services = d.o.Services(e.Solution)
	}
	var held int64
	if b, ok := e.Data.(script.Body); ok {
		held = int64(len(b.Data))
	}
	done := d.inFlight(e.Solution, b.h.Name)
	start := time.Now()
	res, err := d.o.Runner.Run(ctx, p, script.Run{
		Solution: e.Solution,
		Limits:   lim,
		Services: services,
		// Made only if the script reads it: the data can be large and many scripts ignore it.
		Vars: map[string]any{"event": script.Lazy(func() any { return eventVar(e) })},
		Held: held,
		Log:  d.o.Logs.Writer(e.Solution, source, reqID),
	})
	done()
	d.observe(e.Solution, b.h.Name, time.Since(start), err)
	if err != nil {
		return nil, d.failed(e.Solution, source, reqID, b.h.Name, err)
	}
	return res.Return, nil
}

// failed writes a failed run's entry to its solution's log and returns its *HandlerError.
func (d *Dispatcher) failed(sol, source, reqID, handler string, err error) *HandlerError {
	he := &HandlerError{Handler: handler, Err: err, ErrorID: solutionlog.NewErrorID(), RequestID: reqID}
	d.o.Logs.Write(solutionlog.Failure(sol, source, reqID, he.ErrorID, err))
	return he
}

// inFlight counts a handler run in progress until the returned func is called.
func (d *Dispatcher) inFlight(sol, handler string) func() {
	m := d.o.Metrics
	if m == nil {
		return func() {}
	}
	g := m.HandlerInFlight.WithLabelValues(sol, handler)
	g.Inc()
	return g.Dec
}

func (d *Dispatcher) observe(sol, handler string, took time.Duration, err error) {
	m := d.o.Metrics
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
		m.ScriptErrors.WithLabelValues(sol, (&HandlerError{Err: err}).Kind()).Inc()
		m.HandlerFailures.WithLabelValues(sol, handler).Inc()
	}
	m.ScriptRuns.WithLabelValues(sol, outcome).Inc()
	m.ScriptLatency.WithLabelValues(sol).Observe(took.Seconds())
	m.HandlerRuns.WithLabelValues(sol, handler).Inc()
	m.HandlerLatency.WithLabelValues(sol, handler).Observe(took.Seconds())
}

// eventVar is the script's `event`.
func eventVar(e Event) map[string]any {
	v := map[string]any{
		"id":       e.ID,
		"solution": e.Solution,
		"topic":    e.Topic,
		"service":  e.Service,
		"type":     e.Type,
		"data":     e.Data,
		// Seconds since the epoch, as request.timestamp is.
		"time": float64(e.Time.UnixMilli()) / 1000,
	}
	if e.CorrelationID != "" {
		v["correlation_id"] = e.CorrelationID
	}
	if e.Expires != nil {
		v["expires"] = float64(e.Expires.UnixMilli()) / 1000
	}
	if len(e.Headers) > 0 {
		v["headers"] = e.Headers
	}
	for k, s := range map[string]string{"source": e.Source, "subject": e.Subject, "datacontenttype": e.DataContentType, "dataschema": e.DataSchema} {
		if s != "" {
			v[k] = s
		}
	}
	if len(e.Extensions) > 0 {
		ext := make(map[string]any, len(e.Extensions))
		for k, s := range e.Extensions {
			ext[k] = s
		}
		v["extensions"] = ext
	}
	return v
}

// prepare checks an event and fills its defaults: id, time, service, type and its trace (see
// withTrace). Invalid input is a *solution.FieldError.
func prepare(ctx context.Context, t *tracing.Tracer, e Event) (Event, error) {
	if err := solution.ValidateID(e.Solution); err != nil {
		return Event{}, renamed(err, "solution")
	}
	if err := ValidateTopic(e.Topic); err != nil {
		return Event{}, &solution.FieldError{Field: "topic", Reason: err.Error()}
	}
	if e.ID == "" {
		e.ID = NewID()
	} else if err := validateID(e.ID); err != nil {
		return Event{}, err
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Source == "" {
		e.Source = DefaultSource(e.Solution)
	}
	e.Time = e.Time.UTC()
	svc, typ, _ := strings.Cut(e.Topic, ".")
	if e.Service == "" {
		e.Service = svc
	}
	if e.Type == "" {
		e.Type = typ
	}
	return withTrace(ctx, t, e), nil
}

// TraceparentExtension is the CloudEvents extension (Distributed Tracing) carrying an event's
// W3C traceparent: the trace its handlers' runs and service calls continue.
const TraceparentExtension = "traceparent"

// withTrace gives e a traceparent extension unless it has one: the traceparent of the request
// (or run) publishing it, from ctx's origin, else a new trace. With tracing on, the extension
// is that of a producer span made under it (or under the event's own), so handler runs are
// the span's children.
func withTrace(ctx context.Context, t *tracing.Tracer, e Event) Event {
	if t.Enabled() {
		if own := e.Extensions[TraceparentExtension]; own != "" {
			o := service.OriginOf(ctx)
			o.Traceparent = own
			ctx = service.WithOrigin(ctx, o)
		}
		ctx, span := t.Start(ctx, "publish "+e.Topic, trace.SpanKindProducer,
			attribute.String("switchboard.solution", e.Solution), attribute.String("messaging.destination.name", e.Topic),
			attribute.String("messaging.message.id", e.ID))
		span.End()
		ext := make(map[string]string, len(e.Extensions)+1)
		maps.Copy(ext, e.Extensions)
		ext[TraceparentExtension] = service.OriginOf(ctx).Traceparent
		e.Extensions = ext
		return e
	}
	if e.Extensions[TraceparentExtension] != "" {
		return e
	}
	tp := service.OriginOf(ctx).Traceparent
	if !traceparent.Valid(tp) {
		tp = traceparent.New()
	}
	ext := make(map[string]string, len(e.Extensions)+1)
	maps.Copy(ext, e.Extensions)
	ext[TraceparentExtension] = tp
	e.Extensions = ext
	return e
}

// validateID keeps ids usable as a Nats-Msg-Id header and in log lines.
func validateID(id string) error {
	if len(id) > MaxIDBytes {
		return &solution.FieldError{Field: "id", Reason: fmt.Sprintf("longer than %d characters", MaxIDBytes)}
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return &solution.FieldError{Field: "id", Reason: "must be printable ASCII without spaces"}
		}
	}
	return nil
}

// NewID is a fresh random event id.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	return hex.EncodeToString(b[:])
}
