// Package tracing exports OpenTelemetry spans of Switchboard's hops (endpoint requests, script
// runs, service calls, events, handler runs) by OTLP/HTTP. A nil *Tracer is tracing switched
// off: its spans cost nothing and the W3C traceparent strings the hops carry (service.Origin)
// are passed on as they are.
package tracing

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/traceparent"
)

// Config says where spans go.
type Config struct {
	// Endpoint is the OTLP/HTTP collector's base URL (http://collector:4318); spans are posted
	// to its /v1/traces unless the URL has a path of its own.
	Endpoint string
	// SampleRatio is the share of new traces recorded (0..1); a trace continued from a caller
	// follows the caller's sampled flag.
	SampleRatio float64
	// Instance names this instance (service.instance.id).
	Instance string
	// Version is Switchboard's version (service.version), if known.
	Version string
}

// ParseEndpoint checks an --otlp-endpoint value.
func ParseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an http:// or https:// URL with a host")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u, nil
}

// Tracer starts spans and exports them; nil is tracing off.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// New returns a Tracer exporting to cfg.Endpoint, or nil when it is empty.
func New(cfg Config) (*Tracer, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	u, err := ParseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otlp endpoint %q: %w", cfg.Endpoint, err)
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	attrs := []attribute.KeyValue{
		attribute.String("service.name", "switchboard"),
		attribute.String("service.instance.id", cfg.Instance),
	}
	if cfg.Version != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.Version))
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracer{provider: p, tracer: p.Tracer("github.com/switchboardhq/switchboard")}, nil
}

// Close exports what is buffered and stops; a nil Tracer has nothing to do.
func (t *Tracer) Close(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Enabled reports whether spans are made, so callers can skip building attributes.
func (t *Tracer) Enabled() bool { return t != nil }

// off is the span of a nil Tracer: End and the rest do nothing.
var off trace.Span = noop.Span{}

// Start starts a span named name under ctx's trace: the traceparent of ctx's service.Origin
// (a request's header, an event's extension, the run that made the call). The returned ctx
// carries the span and an origin whose Traceparent is the span's, so each later hop (service
// calls, events published, dynamic services' traceparent header) becomes its child. With a
// nil Tracer, ctx is returned as it is.
func (t *Tracer) Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil {
		return ctx, off
	}
	o := service.OriginOf(ctx)
	parent := trace.ContextWithSpanContext(ctx, spanContext(o.Traceparent))
	ctx, span := t.tracer.Start(parent, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	o.Traceparent = Format(span.SpanContext())
	return service.WithOrigin(ctx, o), span
}

// End ends span, marking it failed when err is not nil (see Fail).
func End(span trace.Span, err error) {
	Fail(span, err)
	span.End()
}

// Fail marks span failed when err is not nil. The status names the kind of failure only
// (a limit, a service's status code): messages may quote a solution's data.
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	desc := "error"
	var kind interface{ Kind() string }
	var status interface{ StatusCode() int }
	var le *script.LimitError
	switch {
	case errors.As(err, &le):
		desc = "limit: " + le.Limit
	case errors.As(err, &kind):
		desc = kind.Kind()
	case errors.As(err, &status):
		desc = "status " + strconv.Itoa(status.StatusCode())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		desc = "canceled"
	}
	span.SetStatus(codes.Error, desc)
}

// spanContext is the remote span context tp names; invalid (so a new trace) unless tp is a
// valid traceparent.
func spanContext(tp string) trace.SpanContext {
	if !traceparent.Valid(tp) {
		return trace.SpanContext{}
	}
	var tid trace.TraceID
	var sid trace.SpanID
	var flags [1]byte
	if _, err := hex.Decode(tid[:], []byte(tp[3:35])); err != nil {
		return trace.SpanContext{}
	}
	if _, err := hex.Decode(sid[:], []byte(tp[36:52])); err != nil {
		return trace.SpanContext{}
	}
	if _, err := hex.Decode(flags[:], []byte(tp[53:55])); err != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled, Remote: true})
}

// Format is sc as a W3C traceparent ("" when sc is not valid).
func Format(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// Current is the traceparent of the span ctx carries, or "" when it carries none (tracing
// off): a call made under it names that span as its parent.
func Current(ctx context.Context) string {
	return Format(trace.SpanContextFromContext(ctx))
}
