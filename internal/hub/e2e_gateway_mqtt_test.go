package hub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestEventGatewayMQTT: an application publishes its events to the MQTT listener, logging in
// with its client credentials (its secret, or an access token), on
// {application}/{event-type}/{version}; declared events reach their handlers, the rest is
// refused; it cannot publish outside its own topics, and a wrong secret does not get in.
func TestEventGatewayMQTT(t *testing.T) {
	s := mqttListen(t)
	tok := s.CreateSolution(t, "shop")
	h := map[string]any{"name": "orders", "topics": []string{"commerce.order.>"},
		"script": `Keystore.set({key = event.data.orderId, value = event.topic .. "|" .. tostring(event.extensions and event.extensions.eventtypeversion)})`}
	if r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	clientID, secret, _ := gatewayCredentials(t, s, tok, "commerce")

	// The application's connector (gw-…) reads the listener once an instance runs it.
	hubtest.Eventually(t, "the application's MQTT connector to run", func() bool {
		var list struct {
			Items []struct {
				Name   string
				Status struct{ State string }
			}
		}
		s.Do(t, "GET", "/api/v1/solutions/shop/connectors", tok, nil).JSON(t, &list)
		for _, c := range list.Items {
			if strings.HasPrefix(c.Name, "gw-") {
				return c.Status.State == "running"
			}
		}
		return false
	})
	if _, err := mqttDevice(s, "intruder", clientID, "sbcs_wrong"); err == nil {
		t.Fatal("a wrong secret got in")
	}
	app := mustMQTTDevice(t, s, "commerce-1", clientID, secret)
	mqttPub(t, app, "commerce/order.created/v1", 1, `{"orderId":"m-1"}`)
	mqttPub(t, app, "commerce/order/created/v1", 1, `{"id":"not an order"}`) // refused: no orderId
	mqttPub(t, app, "commerce/order.deleted/v1", 1, `{"orderId":"m-2"}`)     // refused: undeclared
	mqttPub(t, app, "sensors/boiler", 1, `{"orderId":"m-3"}`)                // outside its topics
	mqttPub(t, app, "commerce/order.created/v0", 1, `{"orderId":"m-4"}`)     // deprecated, taken
	ran := func(id, want string) {
		t.Helper()
		var got hubtest.Response
		hubtest.Eventually(t, "the handler to run for "+id, func() bool {
			got = s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/"+id, s.AdminToken, nil)
			return got.Status == http.StatusOK
		})
		if v := got.Map(t)["value"]; v != want {
			t.Fatalf("%s ran with %v, want %s", id, v, want)
		}
	}
	ran("m-1", "commerce.order.created.v1|v1")
	ran("m-4", "commerce.order.created|v0")
	for _, id := range []string{"m-2", "m-3"} {
		if r := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/"+id, s.AdminToken, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s ran: %s", id, r.Body)
		}
	}
	hubtest.Eventually(t, "the refusals to be counted", func() bool {
		text := string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body)
		a, _ := metricValue(text, "switchboard_gateway_events_total", map[string]string{"application": "commerce", "outcome": "undeclared_type"})
		b, _ := metricValue(text, "switchboard_gateway_events_total", map[string]string{"application": "commerce", "outcome": "invalid_payload"})
		return a == 1 && b == 1
	})

	// An access token is a password too, under its own client id only.
	mID, mSecret, mURL := gatewayCredentials(t, s, tok, "marketing")
	access := accessToken(t, s, mID, mSecret, mURL)
	if _, err := mqttDevice(s, "marketing-0", clientID, access); err == nil {
		t.Error("an access token got in under another client id")
	}
	mustMQTTDevice(t, s, "marketing-1", mID, access)
}
