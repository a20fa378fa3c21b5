package events

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestDispatchTo(t *testing.T) {
	b := openBus(t, t.TempDir())
	defer b.Close()
	s := openStore(t, b)
	d := newDispatcher(t, b, s, newRecorder(), nil)
	mustPut(t, s, Handler{Solution: "direct", Name: "pay", Topics: []string{"payment"}, Script: "return {event.topic, event.data, event.headers and event.headers['x-connector']}"})
	mustPut(t, s, Handler{Solution: "direct", Name: "other", Topics: []string{"payment"}, Script: "error('must not run')"})
	mustPut(t, s, Handler{Solution: "direct", Name: "broken", Topics: []string{"payment"}, Script: "error('boom')"})

	tests := []struct {
		name     string
		event    Event
		handler  string
		want     any
		wantErr  error
		wantFail string
	}{
		{
			name:    "only the named handler runs, with the headers",
			event:   Event{Solution: "direct", Topic: "payment", Data: "x", Headers: map[string]string{"x-connector": "tester"}},
			handler: "pay",
			want:    []any{"payment", "x", "tester"},
		},
		{
			name:    "a topic the handler does not subscribe to still reaches it",
			event:   Event{Solution: "direct", Topic: "elsewhere", Data: "y"},
			handler: "pay",
			want:    []any{"elsewhere", "y"},
		},
		{name: "no such handler", event: Event{Solution: "direct", Topic: "payment"}, handler: "nope", wantErr: ErrNoHandler},
		{name: "no such solution", event: Event{Solution: "ghost", Topic: "payment"}, handler: "pay", wantErr: ErrNoHandler},
		{name: "a failed run", event: Event{Solution: "direct", Topic: "payment"}, handler: "broken", wantFail: "broken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.DispatchTo(context.Background(), tc.event, tc.handler)
			var he *HandlerError
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case tc.wantFail != "":
				if !errors.As(err, &he) || he.Handler != tc.wantFail {
					t.Fatalf("err = %v, want a failure of %s", err, tc.wantFail)
				}
			case err != nil:
				t.Fatalf("DispatchTo: %v", err)
			case !reflect.DeepEqual(got, tc.want):
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
