package dynamic

import (
	"context"

	"github.com/switchboardhq/switchboard/internal/traceparent"
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
	in, _ := ctx.Value(traceKey{}).(string)
	return traceparent.Child(in)
}
