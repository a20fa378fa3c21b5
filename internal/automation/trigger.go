package automation

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/internal/kaa"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// MaxCorrelationIDBytes bounds a correlation id given to Invoke.
const MaxCorrelationIDBytes = 256

// Request is one invocation to publish.
type Request struct {
	// Type is the automation type: the last token of the subject.
	Type string
	// Payload is the automation's input; nil is Avro's null.
	Payload *[]byte
	// Timeout is how long after now the invocation expires; 0 never.
	Timeout time.Duration
	// CorrelationID tracks it; "" makes a fresh one.
	CorrelationID string
}

// Published is what was sent.
type Published struct {
	CorrelationID string `json:"correlation_id"`
	Subject       string `json:"subject"`
	Timestamp     int64  `json:"timestamp"`
	TimeoutMillis int64  `json:"timeout_ms"`
	Tenant        string `json:"tenant"`
}

// Trigger publishes AutomationInvocations as Kaa's automation trigger services do.
type Trigger struct {
	nc       *nats.Conn
	instance string
	metrics  *Metrics
	now      func() time.Time
}

// NewTrigger publishes on nc, naming instance (the Kaa service instance name) as the
// originator in every subject.
func NewTrigger(nc *nats.Conn, instance string, m *Metrics) *Trigger {
	return &Trigger{nc: nc, instance: instance, metrics: m, now: time.Now}
}

// Instance is the trigger service instance name in the subjects it publishes on.
func (t *Trigger) Instance() string { return t.instance }

// Invoke publishes one invocation for solution sol. Invalid input is a *solution.FieldError
// naming the field (type, payload, timeout, correlation_id). Like Kaa's, the invocation is
// fire-and-forget: an executor that is not subscribed never sees it.
func (t *Trigger) Invoke(ctx context.Context, sol string, r Request) (Published, error) {
	if err := validType(r.Type); err != nil {
		return Published{}, &solution.FieldError{Field: "type", Reason: err.Error()}
	}
	subject, err := kaa.InvocationSubject(t.instance, r.Type)
	if err != nil {
		return Published{}, &solution.FieldError{Field: "type", Reason: err.Error()}
	}
	if r.Payload != nil && len(*r.Payload) > kaa.MaxPayloadBytes {
		return Published{}, &solution.FieldError{Field: "payload", Reason: fmt.Sprintf("%d bytes, at most %d", len(*r.Payload), kaa.MaxPayloadBytes)}
	}
	if r.Timeout < 0 {
		return Published{}, &solution.FieldError{Field: "timeout", Reason: "must not be negative (0 never expires)"}
	}
	if r.Timeout > 0 && r.Timeout < time.Millisecond {
		return Published{}, &solution.FieldError{Field: "timeout", Reason: "at least 1 millisecond, or 0 for never"}
	}
	if len(r.CorrelationID) > MaxCorrelationIDBytes {
		return Published{}, &solution.FieldError{Field: "correlation_id", Reason: fmt.Sprintf("longer than %d bytes", MaxCorrelationIDBytes)}
	}
	if r.CorrelationID == "" {
		r.CorrelationID = rand.Text()
	}
	inv := kaa.Invocation{
		CorrelationID: r.CorrelationID,
		Timestamp:     t.now().UnixMilli(),
		Timeout:       r.Timeout.Milliseconds(),
		TenantID:      sol,
		Payload:       r.Payload,
	}
	data, err := kaa.Encode(inv)
	if err != nil {
		return Published{}, err
	}
	if err := ctx.Err(); err != nil {
		return Published{}, err
	}
	if err := t.nc.Publish(subject, data); err != nil {
		return Published{}, fmt.Errorf("publish automation %s: %w", r.Type, err)
	}
	if t.metrics != nil {
		t.metrics.Invoked.WithLabelValues(t.metrics.typeLabel(r.Type), sol).Inc()
	}
	return Published{CorrelationID: inv.CorrelationID, Subject: subject, Timestamp: inv.Timestamp, TimeoutMillis: inv.Timeout, Tenant: sol}, nil
}
