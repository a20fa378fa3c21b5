package events

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/metrics"
)

func TestDispatch(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	rec := newRecorder()
	m := metrics.New()
	d := newDispatcher(t, b, s, rec, func(o *DispatcherOptions) { o.Metrics = m })
	at := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)

	tests := []struct {
		name     string
		handlers []Handler // put under the case's own solution
		event    Event     // Solution defaults to the case's
		want     any
		wantErr  error  // errors.Is
		wantFail string // a *HandlerError of this handler
		wantKind string
	}{
		{
			name:     "one handler: its return value",
			handlers: []Handler{{Name: "svc_event", Script: "return event.data.x * 2"}},
			event:    Event{Topic: "svc.event", Data: map[string]any{"x": 21.0}},
			want:     float64(42),
		},
		{
			name: "several handlers: a map by name",
			handlers: []Handler{
				{Name: "svc_event", Script: "return 'first'"},
				{Name: "second", Topics: []string{"svc.event"}, Script: "return {n = 2}"},
				{Name: "elsewhere", Topics: []string{"svc.other"}, Script: "return 'not me'"},
			},
			event: Event{Topic: "svc.event"},
			want:  map[string]any{"svc_event": "first", "second": map[string]any{"n": float64(2)}},
		},
		{
			name:     "the event's fields reach the script",
			handlers: []Handler{{Name: "demoexternalservice_event", Script: "return {event.service, event.type, event.solution, event.id, event.topic, event.time, event.data[2], event.correlation_id}"}},
			event:    Event{ID: "ev-1", Solution: "fields", Topic: "demoexternalservice.event", Time: at, Data: []any{"a", "b"}, CorrelationID: "c-9"},
			want:     []any{"demoexternalservice", "event", "fields", "ev-1", "demoexternalservice.event", float64(at.UnixMilli()) / 1000, "b", "c-9"},
		},
		{
			name:     "service and type default to the topic's",
			handlers: []Handler{{Name: "h", Topics: []string{"a.b.c"}, Script: "return event.service .. '/' .. event.type"}},
			event:    Event{Topic: "a.b.c"},
			want:     "a/b.c",
		},
		{
			name:     "service and type given win over the topic's",
			handlers: []Handler{{Name: "h", Topics: []string{"a.b.c"}, Script: "return event.service .. '/' .. event.type"}},
			event:    Event{Topic: "a.b.c", Service: "x", Type: "y"},
			want:     "x/y",
		},
		{
			name:     "services reachable",
			handlers: []Handler{{Name: "svc_event", Script: "return Recorder.ping({k = event.data})"}},
			event:    Event{Topic: "svc.event", Data: "v"},
			want:     map[string]any{"op": "ping", "args": map[string]any{"k": "v"}},
		},
		{
			name:     "no handler",
			handlers: []Handler{{Name: "svc_event", Script: "return 1"}},
			event:    Event{Topic: "svc.other"},
			wantErr:  ErrNoHandler,
		},
		{
			name:    "no solution",
			event:   Event{Solution: "ghost", Topic: "svc.event"},
			wantErr: ErrNoHandler,
		},
		{
			name:     "a failing handler",
			handlers: []Handler{{Name: "svc_event", Script: "error('boom')"}},
			event:    Event{Topic: "svc.event"},
			wantFail: "svc_event",
			wantKind: "runtime",
		},
		{
			name: "one of several failing",
			handlers: []Handler{
				{Name: "ok", Topics: []string{"svc.event"}, Script: "return 1"},
				{Name: "fails", Topics: []string{"svc.event"}, Script: "local t = {} for i = 1, 1e9 do t[i] = i end"},
			},
			event:    Event{Topic: "svc.event"},
			wantFail: "fails",
			wantKind: "memory",
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sol := tc.event.Solution
			if sol == "" {
				sol = fmt.Sprint("s", i)
			}
			for _, h := range tc.handlers {
				h.Solution = sol
				mustPut(t, s, h)
			}
			e := tc.event
			e.Solution = sol
			got, err := d.Dispatch(context.Background(), e, nil)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
			case tc.wantFail != "":
				var he *HandlerError
				if !errors.As(err, &he) || he.Handler != tc.wantFail || he.Kind() != tc.wantKind {
					t.Fatalf("error %v (%T), want a %s failure of handler %s", err, err, tc.wantKind, tc.wantFail)
				}
			default:
				if err != nil {
					t.Fatalf("dispatch: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("result %#v, want %#v", got, tc.want)
				}
			}
		})
	}
	if c := rec.count("ping"); c != 1 {
		t.Errorf("Recorder.ping called %d times, want 1", c)
	}
	if got := testutilCount(t, m); got == 0 {
		t.Error("no script runs counted")
	}
}

// testutilCount sums the script runs the metrics counted.
func testutilCount(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "switchboard_script_runs_total" {
			for _, mm := range mf.GetMetric() {
				n += mm.GetCounter().GetValue()
			}
		}
	}
	return n
}

func TestDispatchRejectsBadEvents(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	d := newDispatcher(t, b, s, newRecorder(), nil)
	for _, e := range []Event{
		{Solution: "demo", Topic: "svc.>"},
		{Solution: "demo", Topic: ""},
		{Solution: "De mo", Topic: "svc.event"},
		{Solution: "demo", Topic: "svc.event", ID: "has space"},
	} {
		if _, err := d.Dispatch(context.Background(), e, nil); err == nil || errors.Is(err, ErrNoHandler) {
			t.Errorf("Dispatch(%+v) = %v, want a validation error", e, err)
		}
		if err := d.Enqueue(context.Background(), e); err == nil || errors.Is(err, ErrNoHandler) {
			t.Errorf("Enqueue(%+v) = %v, want a validation error", e, err)
		}
	}
}
