package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseMQTTTopic(t *testing.T) {
	for _, tc := range []struct {
		topic, app, typ, version string
		ok                       bool
	}{
		{"shop/order.created/v1", "shop", "order.created", "v1", true},
		{"shop/order/created/v1", "shop", "order.created", "v1", true},
		{"shop/order.created", "", "", "", false},
		{"shop//v1", "", "", "", false},
		{"/order.created/v1", "", "", "", false},
		{"shop/order created/v1", "", "", "", false},
		{"shop/order.created/v 1", "", "", "", false},
	} {
		app, typ, version, ok := ParseMQTTTopic(tc.topic)
		if ok != tc.ok || app != tc.app || typ != tc.typ || version != tc.version {
			t.Errorf("ParseMQTTTopic(%q) = %q %q %q %v", tc.topic, app, typ, version, ok)
		}
	}
}

func TestDeliverMQTT(t *testing.T) {
	st := &fakeStore{}
	var said []string // what the solution's log was told
	g := New(Options{Registry: fakeRegistry{}, Auth: fakeAuth{}, Store: st, MaxBody: 64,
		SolutionLog: func(sol string) func(slog.Level, string, map[string]any) {
			return func(_ slog.Level, msg string, fields map[string]any) {
				said = append(said, sol+" "+fmt.Sprint(fields["reason"])+" "+msg)
			}
		}})
	shop := Caller{Solution: "demo", Application: "id-shop"}
	e, err := g.DeliverMQTT(context.Background(), shop, "shop/order/created/v1", []byte(`{"orderId":"o-9"}`))
	if err != nil || e.Topic != "shop.order.created.v1" || e.Extensions[ExtEventTypeVersion] != "v1" || e.ID == "" {
		t.Fatalf("deliver: %+v, %v", e, err)
	}
	for _, tc := range []struct {
		caller  Caller
		topic   string
		payload string
		reason  string
	}{
		{shop, "shop/order.created", `{}`, "bad_topic"},
		{shop, "lenient/order.created/v1", `{}`, "forbidden"},
		{Caller{Solution: "demo", Application: "id-ghost"}, "ghost/order.created/v1", `{}`, "unknown_application"},
		{shop, "shop/order.created/v1", `{"orderId":`, "bad_body"},
		{shop, "shop/order.created/v1", `{"n":1}`, "invalid_payload"},
		{shop, "shop/order.deleted/v1", `{}`, "undeclared_type"},
		{shop, "shop/order.created/v1", `{"orderId":"` + string(make([]byte, 80)) + `"}`, "too_large"},
	} {
		for range 2 { // said in the solution's log once, however often sent
			_, err := g.DeliverMQTT(context.Background(), tc.caller, tc.topic, []byte(tc.payload))
			var me *MQTTError
			if !errors.As(err, &me) || me.Reason != tc.reason {
				t.Errorf("%s %s: %v, want %s", tc.topic, tc.payload, err, tc.reason)
			}
		}
		if len(said) == 0 || !strings.HasPrefix(said[len(said)-1], "demo "+tc.reason+" event gateway: an event published over MQTT was refused: ") {
			t.Errorf("%s %s: the solution's log was told %q", tc.topic, tc.payload, said)
		}
	}
	if len(said) != 7 {
		t.Errorf("the solution's log was told %d times, want once for each of 7 refusals: %q", len(said), said)
	}
	if _, n := st.last(); n != 1 {
		t.Errorf("%d events stored, want only the good one", n)
	}
}
