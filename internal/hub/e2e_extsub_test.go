package hub_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestExternalSubscriptions: an event API whose events live on an outside NATS declares it in
// externalSubscriptions; the bus is bridged in by a connector, its messages reach the
// solution's handlers, and deleting the event API removes the bridge. A subscription that
// cannot be bridged is refused, naming its field.
func TestExternalSubscriptions(t *testing.T) {
	natsURL := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if natsURL == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222); .ci/run sets it")
	}
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "erp")
	subject := "erp-" + randomHex() + ".orders.created"
	h := map[string]any{"name": "bridged", "topics": []string{"billing.>"},
		"script": `Keystore.set({key = "got", value = event.topic .. "|" .. tostring(event.data.orderId)})`}
	if r := s.Do(t, "POST", "/api/v1/solutions/erp/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	api := func(url string) map[string]any {
		return map[string]any{"group": "orders", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": commerceSpec},
			"externalSubscriptions": []any{map[string]any{"url": url, "topic": subject, "attributes": map[string]any{"queue": "switchboard"}}}}
	}
	if a := graphql(t, s, tok, "", `mutation($in: ApplicationInput!) { registerApplication(in: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "billing", "eventAPIs": []any{api("gopher://bus:70")}}}); a.code() != "BAD_USER_INPUT" ||
		a.Errors[0].Extensions["field"] != "in.eventAPIs[0].externalSubscriptions[0].url" {
		t.Fatalf("an unbridgeable subscription: %+v", a.Errors)
	}
	var app struct {
		ID        string
		EventAPIs struct{ Data []struct{ ID string } } `json:"eventAPIs"`
	}
	graphql(t, s, tok, "", `mutation($in: ApplicationInput!) { registerApplication(in: $in) { id eventAPIs { data { id } } } }`,
		map[string]any{"in": map[string]any{"name": "billing", "eventAPIs": []any{api(natsURL)}}}).into(t, "registerApplication", &app)

	// The bridge runs once an instance has subscribed.
	var name string
	hubtest.Eventually(t, "the bridging connector to run", func() bool {
		var list struct {
			Items []struct {
				Name   string
				Topic  string
				Status struct{ State string }
			}
		}
		s.Do(t, "GET", "/api/v1/solutions/erp/connectors", tok, nil).JSON(t, &list)
		for _, c := range list.Items {
			if strings.HasPrefix(c.Name, "ext-") && c.Topic == "billing."+subject {
				name = c.Name
				return c.Status.State == "running"
			}
		}
		return false
	})
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(subject, []byte(`{"orderId":"o-77"}`)); err != nil {
		t.Fatal(err)
	}
	var got hubtest.Response
	hubtest.Eventually(t, "the bridged event to run", func() bool {
		got = s.Do(t, "GET", "/api/v1/solutions/erp/keystore/keys/got", s.AdminToken, nil)
		return got.Status == http.StatusOK
	})
	if v := got.Map(t)["value"]; v != "billing."+subject+"|o-77" {
		t.Fatalf("bridged event ran with %v", v)
	}

	graphql(t, s, tok, "", `mutation($id: ID!) { deleteEventAPI(id: $id) { id } }`, map[string]any{"id": app.EventAPIs.Data[0].ID}).into(t, "deleteEventAPI", &struct{ ID string }{})
	if r := s.Do(t, "GET", "/api/v1/solutions/erp/connectors/"+name, tok, nil); r.Status != http.StatusNotFound {
		t.Fatalf("the bridge after deleting the event API: %d %s", r.Status, r.Body)
	}
}
