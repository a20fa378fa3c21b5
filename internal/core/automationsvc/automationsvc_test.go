package automationsvc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/automation"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// fakeInvoker records the last request; type "broken" fails as a bus would, "bad" as bad input.
type fakeInvoker struct {
	sol string
	got automation.Request
}

func (f *fakeInvoker) Invoke(_ context.Context, sol string, r automation.Request) (automation.Published, error) {
	switch r.Type {
	case "broken":
		return automation.Published{}, errors.New("nats: connection closed")
	case "bad":
		return automation.Published{}, &solution.FieldError{Field: "type", Reason: "refused"}
	}
	f.sol, f.got = sol, r
	return automation.Published{CorrelationID: "c-1", Subject: "kaa.v1.events.sb.service.automation." + r.Type, Timestamp: 1000, TimeoutMillis: r.Timeout.Milliseconds(), Tenant: sol}, nil
}

func TestCall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		op      string
		args    any
		status  int    // 0: success
		payload string // what the invoker was given; "<nil>" none
		timeout time.Duration
	}{
		{"table payload as JSON", "invoke", map[string]any{"type": "email-notification", "payload": map[string]any{"recipient": "a@example.com"}, "timeout": float64(30000)}, 0, `{"recipient":"a@example.com"}`, 30 * time.Second},
		{"string payload as it is", "invoke", map[string]any{"type": "x", "payload": "raw\x00bytes"}, 0, "raw\x00bytes", 0},
		{"no payload", "Invoke", map[string]any{"type": "x"}, 0, "<nil>", 0},
		{"no type", "invoke", map[string]any{"payload": "x"}, 400, "", 0},
		{"type not a string", "invoke", map[string]any{"type": float64(1)}, 400, "", 0},
		{"fractional timeout", "invoke", map[string]any{"type": "x", "timeout": 1.5}, 400, "", 0},
		{"negative timeout", "invoke", map[string]any{"type": "x", "timeout": float64(-1)}, 400, "", 0},
		{"another tenant asked for", "invoke", map[string]any{"type": "x", "tenant": "other"}, 400, "", 0},
		{"refused by the trigger", "invoke", map[string]any{"type": "bad"}, 400, "", 0},
		{"the bus away", "invoke", map[string]any{"type": "broken"}, 503, "", 0},
		{"unknown operation", "send", map[string]any{"type": "x"}, 404, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := &fakeInvoker{}
			res, err := New(inv).Call(context.Background(), "plant", tc.op, tc.args)
			if tc.status != 0 {
				var se *service.Error
				if !errors.As(err, &se) || se.Status != tc.status {
					t.Fatalf("error %v, want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			payload := "<nil>"
			if inv.got.Payload != nil {
				payload = string(*inv.got.Payload)
			}
			if inv.sol != "plant" || payload != tc.payload || inv.got.Timeout != tc.timeout {
				t.Errorf("invoked for %q with payload %q timeout %v", inv.sol, payload, inv.got.Timeout)
			}
			if m := res.(map[string]any); m["correlation_id"] != "c-1" || !strings.HasSuffix(m["subject"].(string), "."+inv.got.Type) {
				t.Errorf("answer %v", m)
			}
		})
	}
}
