package automation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/switchboardhq/switchboard/internal/kaa"
	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestTriggerInvoke(t *testing.T) {
	b := openBus(t)
	m := NewMetrics(prometheus.NewRegistry())
	tr := NewTrigger(b.Conn(), "sb-east", m)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	tr.now = func() time.Time { return now }
	sub, err := b.Conn().SubscribeSync("kaa.v1.events.sb-east.service.automation.>")
	if err != nil {
		t.Fatal(err)
	}
	// Unread messages would hold the bus's drain at close.
	defer sub.Unsubscribe() //nolint:errcheck // closing anyway
	pub, err := tr.Invoke(context.Background(), "plant", Request{Type: "email-notification", Payload: payload(`{"recipient":"a@example.com"}`), Timeout: 30 * time.Second, CorrelationID: "c-9"})
	if err != nil {
		t.Fatal(err)
	}
	want := Published{CorrelationID: "c-9", Subject: "kaa.v1.events.sb-east.service.automation.email-notification", Timestamp: now.UnixMilli(), TimeoutMillis: 30000, Tenant: "plant"}
	if pub != want {
		t.Errorf("published %+v, want %+v", pub, want)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := kaa.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != want.Subject || inv.CorrelationID != "c-9" || inv.TenantID != "plant" || inv.Timestamp != now.UnixMilli() || inv.Timeout != 30000 || string(*inv.Payload) != `{"recipient":"a@example.com"}` {
		t.Errorf("sent %s %+v", msg.Subject, inv)
	}
	// A fresh correlation id each time none is given; a null payload stays null.
	a, _ := tr.Invoke(context.Background(), "plant", Request{Type: "x"})
	c, _ := tr.Invoke(context.Background(), "plant", Request{Type: "x"})
	if a.CorrelationID == "" || a.CorrelationID == c.CorrelationID {
		t.Errorf("correlation ids %q, %q: want fresh ones", a.CorrelationID, c.CorrelationID)
	}
	msg, _ = sub.NextMsg(5 * time.Second)
	if inv, _ := kaa.Decode(msg.Data); inv.Payload != nil {
		t.Errorf("payload %v, want null", inv.Payload)
	}
	if n := testutil.ToFloat64(m.Invoked.WithLabelValues("email-notification", "plant")); n != 1 {
		t.Errorf("published counted %v, want 1", n)
	}
}

func TestTriggerRefuses(t *testing.T) {
	tr := NewTrigger(nil, "sb", nil) // refused before anything is published
	for _, tc := range []struct {
		r     Request
		field string
	}{
		{Request{}, "type"},
		{Request{Type: "Email"}, "type"},
		{Request{Type: "a.b"}, "type"},
		{Request{Type: "x", Payload: payload(strings.Repeat("a", kaa.MaxPayloadBytes+1))}, "payload"},
		{Request{Type: "x", Timeout: -time.Second}, "timeout"},
		{Request{Type: "x", Timeout: time.Microsecond}, "timeout"},
		{Request{Type: "x", CorrelationID: strings.Repeat("c", MaxCorrelationIDBytes+1)}, "correlation_id"},
	} {
		_, err := tr.Invoke(context.Background(), "plant", tc.r)
		var fe *solution.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Invoke(%+v): %v, want a field error on %s", tc.r.Type, err, tc.field)
		}
	}
}
