package gateway

import (
	"context"
	"errors"
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
	g := New(Options{Registry: fakeRegistry{}, Auth: fakeAuth{}, Store: st, MaxBody: 64})
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
		_, err := g.DeliverMQTT(context.Background(), tc.caller, tc.topic, []byte(tc.payload))
		var me *MQTTError
		if !errors.As(err, &me) || me.Reason != tc.reason {
			t.Errorf("%s %s: %v, want %s", tc.topic, tc.payload, err, tc.reason)
		}
	}
	if _, n := st.last(); n != 1 {
		t.Errorf("%d events stored, want only the good one", n)
	}
}
