// Package automationsvc is the Automation core service: a solution's scripts invoke Kaa
// automations (23/AIP) for their own solution, as
// Automation.invoke{type="email-notification", payload={…}, timeout=30000}.
package automationsvc

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/automation"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Invoker publishes invocations; *automation.Trigger is one.
type Invoker interface {
	Invoke(ctx context.Context, sol string, r automation.Request) (automation.Published, error)
}

// Service is the Automation core service.
type Service struct {
	inv Invoker
}

// New returns the Automation service.
func New(inv Invoker) *Service { return &Service{inv: inv} }

// Spec describes Automation.
func (s *Service) Spec() service.Spec {
	return service.Spec{
		Name:        "automation",
		Kind:        service.KindCore,
		Description: "Invokes Kaa automations (23/AIP AutomationInvocation over NATS) for this solution, run by Switchboard's executor or Kaa's.",
		Operations: []service.Operation{
			{Name: "invoke", Description: "Publishes an AutomationInvocation: {type=\"email-notification\", payload=table (sent as JSON) or string (sent as it is), timeout=milliseconds (0 never expires), correlation_id=…}; returns {correlation_id=…, subject=…, timestamp=…, timeout_ms=…}."},
		},
	}
}

// Call runs one Automation operation, always for the calling script's own solution.
func (s *Service) Call(ctx context.Context, sol, operation string, args any) (any, error) {
	if !strings.EqualFold(operation, "invoke") {
		return nil, service.Errorf(404, "automation has no operation %q (it has invoke)", operation)
	}
	a, _ := args.(map[string]any)
	var r automation.Request
	for k, v := range a {
		switch k {
		case "type", "correlation_id":
			str, ok := v.(string)
			if !ok {
				return nil, service.Errorf(400, "automation.invoke: %s: want a string", k)
			}
			if k == "type" {
				r.Type = str
			} else {
				r.CorrelationID = str
			}
		case "timeout":
			ms, ok := v.(float64)
			if !ok || ms != math.Trunc(ms) || ms < 0 || ms > math.MaxInt32*1000 {
				return nil, service.Errorf(400, "automation.invoke: timeout: want whole milliseconds, 0 (never expires) or more")
			}
			r.Timeout = time.Duration(ms) * time.Millisecond
		case "payload":
			var p []byte
			switch v := v.(type) {
			case string:
				p = []byte(v)
			default:
				raw, err := json.Marshal(v)
				if err != nil {
					return nil, service.Errorf(400, "automation.invoke: payload: not JSON: %v", err)
				}
				p = raw
			}
			r.Payload = &p
		default:
			return nil, service.Errorf(400, "automation.invoke: unknown field %q (want type, payload, timeout, correlation_id)", k)
		}
	}
	if r.Type == "" {
		return nil, service.Errorf(400, "automation.invoke: type: required")
	}
	pub, err := s.inv.Invoke(ctx, sol, r)
	if err != nil {
		var fe *solution.FieldError
		if errors.As(err, &fe) {
			return nil, service.Errorf(400, "automation.invoke: %v", err)
		}
		return nil, service.Errorf(503, "automation.invoke: %v", err)
	}
	return map[string]any{"correlation_id": pub.CorrelationID, "subject": pub.Subject, "timestamp": float64(pub.Timestamp), "timeout_ms": float64(pub.TimeoutMillis)}, nil
}
