package tracing

import (
	"context"
	"testing"

	"github.com/switchboardhq/switchboard/internal/service"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "http://collector:4318", want: "http://collector:4318/v1/traces"},
		{in: "https://collector/", want: "https://collector/v1/traces"},
		{in: "http://collector:4318/otlp/v1/traces", want: "http://collector:4318/otlp/v1/traces"},
		{in: "collector:4318", bad: true},
		{in: "ftp://collector", bad: true},
		{in: "http://", bad: true},
		{in: "http://a b", bad: true},
	} {
		u, err := ParseEndpoint(tc.in)
		switch {
		case tc.bad && err == nil:
			t.Errorf("%q: accepted as %s", tc.in, u)
		case !tc.bad && (err != nil || u.String() != tc.want):
			t.Errorf("%q: %v %v, want %s", tc.in, u, err, tc.want)
		}
	}
}

// TestOff: a nil Tracer leaves the context and its traceparent as they are.
func TestOff(t *testing.T) {
	var tr *Tracer
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := service.WithOrigin(context.Background(), service.Origin{Traceparent: tp})
	got, span := tr.Start(ctx, "x", 0)
	span.End()
	if got != ctx || tr.Enabled() || Current(got) != "" || tr.Close(ctx) != nil {
		t.Fatal("a nil Tracer changed something")
	}
}

// TestStartContinues: a span continues the origin's trace, and the origin then names it.
func TestStartContinues(t *testing.T) {
	tr, err := New(Config{Endpoint: "http://127.0.0.1:1", SampleRatio: 1, Instance: "t"})
	if err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, span := tr.Start(service.WithOrigin(context.Background(), service.Origin{RequestID: "r1", Traceparent: tp}), "x", 0)
	span.End()
	o := service.OriginOf(ctx)
	if o.RequestID != "r1" || o.Traceparent[3:35] != tp[3:35] || o.Traceparent == tp || o.Traceparent != Current(ctx) {
		t.Fatalf("origin after Start: %+v, current %s", o, Current(ctx))
	}
	if got := spanContext(tp); Format(got) != tp {
		t.Fatalf("round trip of %s: %s", tp, Format(got))
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing listens at the endpoint: do not wait for it
	_ = tr.Close(cctx)
}
