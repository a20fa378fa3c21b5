package dynamic

import (
	"context"

	"github.com/switchboardhq/switchboard/internal/traceparent"
	"github.com/switchboardhq/switchboard/internal/tracing"
)

// traceKey is the context key of an incoming traceparent.
type traceKey struct{}

// WithTraceparent returns ctx carrying tp, the traceparent header of the request that led to
// the call. A call made with it continues tp's trace: its own traceparent keeps tp's trace id
// (when tp is valid) under a fresh span id.
func WithTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceKey{}, tp)
}

// outgoingTraceparent returns the traceparent of an outgoing call: the context's trace
// continued, or a new one.
func outgoingTraceparent(ctx context.Context) string {
	if tp := tracing.Current(ctx); tp != "" {
		return tp // with tracing on, the call's span is the service's parent
	}
	in, _ := ctx.Value(traceKey{}).(string)
	return traceparent.Child(in)
}
