package service

import "context"

// Origin is what a service call carries from the request or event that caused it, so a
// service can tie its work to it: the request id and the W3C traceparent.
type Origin struct {
	RequestID   string
	Traceparent string
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginOf returns the origin ctx carries (zero when none).
func OriginOf(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
