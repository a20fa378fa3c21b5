package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// commerceSpec declares order/created/v1 (its data must hold an orderId) and, in a second
// event API of version v0 that is deprecated, order/created.
const (
	commerceSpec = `{"asyncapi":"2.0.0","info":{"title":"commerce","version":"1"},"channels":{"order/created/v1":{"subscribe":{"message":{
		"payload":{"type":"object","required":["orderId"],"properties":{"orderId":{"type":"string"}}}}}}}}`
	commerceV0Spec = "asyncapi: 2.0.0\ninfo: {title: commerce, version: '0'}\nchannels:\n  order/created:\n    subscribe:\n      message:\n        payload: {type: object}\n"
)

// gatewayCredentials registers application name of solution sol (token tok) with the
// commerce specs, and gives it client credentials.
func gatewayCredentials(t *testing.T, s *hubtest.Server, tok, name string) (clientID, secret, tokenURL string) {
	t.Helper()
	var app struct{ ID string }
	graphql(t, s, tok, "", `mutation($in: ApplicationInput!) { registerApplication(in: $in) { id } }`, map[string]any{"in": map[string]any{
		"name": name, "eventAPIs": []any{
			map[string]any{"group": "orders", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": commerceSpec}, "version": map[string]any{"value": "v1"}},
			map[string]any{"group": "orders", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": commerceV0Spec}, "version": map[string]any{"value": "v0", "deprecated": true}},
		}}}).into(t, "registerApplication", &app)
	var sa struct {
		Auth struct {
			Credential struct{ ClientID, ClientSecret, URL string }
		}
	}
	graphql(t, s, tok, "", `mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) {
		auth { credential { ... on OAuthCredentialData { clientId clientSecret url } } } } }`, map[string]any{"id": app.ID}).into(t, "requestClientCredentialsForApplication", &sa)
	c := sa.Auth.Credential
	return c.ClientID, c.ClientSecret, c.URL
}

// gatewayToken registers application name as gatewayCredentials does, and gets an access
// token of its client credentials.
func gatewayToken(t *testing.T, s *hubtest.Server, tok, name string) string {
	t.Helper()
	id, secret, tokenURL := gatewayCredentials(t, s, tok, name)
	return accessToken(t, s, id, secret, tokenURL)
}

// accessToken exchanges client credentials at the token endpoint.
func accessToken(t *testing.T, s *hubtest.Server, id, secret, tokenURL string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := s.Send(t, req)
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	r.JSON(t, &tk)
	if r.Status != http.StatusOK || tk.AccessToken == "" {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	return tk.AccessToken
}

// TestEventGateway: an application registered over GraphQL publishes, with an access token of
// its client credentials, Kyma's legacy events and CloudEvents (through the CloudEvents Go
// SDK); each reaches the handler of its topic; undeclared types, data not matching the schema,
// missing or foreign tokens are refused with the reason, and nothing of them is stored.
func TestEventGateway(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "shop")
	h := map[string]any{"name": "orders", "topics": []string{"commerce.order.>"},
		"script": `Keystore.set({key = event.id, value = event.topic .. "|" .. tostring(event.data.orderId) .. "|" .. tostring(event.extensions and event.extensions.eventtypeversion) .. "|" .. tostring(event.extensions and event.extensions.deprecated) .. (event.extensions and event.extensions.payloadvalid and "|payloadvalid=" .. event.extensions.payloadvalid or "")})`}
	if r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	access := gatewayToken(t, s, tok, "commerce")
	ran := func(t *testing.T, id, want string) {
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
	legacy := func(t *testing.T, bearer, app, body string) hubtest.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/gateway/"+app+"/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return s.Send(t, req)
	}
	event := func(id, typ, version, data string) string {
		return `{"event-type":"` + typ + `","event-type-version":"` + version + `","event-id":"` + id + `","event-time":"2026-11-30T08:00:00Z","data":` + data + `}`
	}

	t.Run("legacy", func(t *testing.T) {
		r := legacy(t, access, "commerce", event("leg-1", "order.created", "v1", `{"orderId":"o-1"}`))
		if r.Status != http.StatusOK || r.Map(t)["event-id"] != "leg-1" {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		ran(t, "leg-1", "commerce.order.created.v1|o-1|v1|nil")
	})
	t.Run("deprecated version", func(t *testing.T) {
		if r := legacy(t, access, "commerce", event("leg-0", "order.created", "v0", `{"orderId":"o-0"}`)); r.Status != http.StatusOK {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		ran(t, "leg-0", "commerce.order.created|o-0|v0|true")
	})
	t.Run("CloudEvents Go SDK", func(t *testing.T) {
		p, err := cloudevents.NewHTTP(cloudevents.WithTarget(s.URL+"/gateway/commerce/publish"),
			cehttp.WithHeader("Authorization", "Bearer "+access))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cloudevents.NewClient(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []struct {
			id  string
			ctx context.Context
		}{{"ce-binary", cloudevents.WithEncodingBinary(context.Background())}, {"ce-structured", cloudevents.WithEncodingStructured(context.Background())}} {
			e := cloudevents.NewEvent()
			e.SetID(mode.id)
			e.SetSource("/commerce/shop")
			e.SetType("sap.kyma.custom.commerce.order.created.v1")
			if err := e.SetData(cloudevents.ApplicationJSON, map[string]any{"orderId": mode.id}); err != nil {
				t.Fatal(err)
			}
			if res := c.Send(mode.ctx, e); !cloudevents.IsACK(res) {
				t.Fatalf("%s: %v", mode.id, res)
			}
			ran(t, mode.id, "commerce.order.created.v1|"+mode.id+"|v1|nil")
		}
	})
	t.Run("refused", func(t *testing.T) {
		other := gatewayToken(t, s, tok, "marketing")
		for _, tc := range []struct {
			name, bearer, app, body string
			status                  int
			field                   string
		}{
			{"undeclared type", access, "commerce", event("ref-1", "order.deleted", "v1", `{}`), 400, "type"},
			{"data not matching the schema", access, "commerce", event("ref-2", "order.created", "v1", `{"id":1}`), 400, "data"},
			{"no token", "", "commerce", event("ref-3", "order.created", "v1", `{"orderId":"x"}`), 401, ""},
			{"a forged token", access[:len(access)-6] + "AAAAAA", "commerce", event("ref-4", "order.created", "v1", `{"orderId":"x"}`), 401, ""},
			{"another application's token", other, "commerce", event("ref-5", "order.created", "v1", `{"orderId":"x"}`), 403, "application"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := legacy(t, tc.bearer, tc.app, tc.body)
				var m struct {
					Status  int
					Message string
					Details []struct{ Field string }
				}
				json.NewDecoder(bytes.NewReader(r.Body)).Decode(&m) //nolint:errcheck // checked below
				if r.Status != tc.status || m.Message == "" || (tc.field != "" && (len(m.Details) != 1 || m.Details[0].Field != tc.field)) {
					t.Fatalf("%d %s, want %d naming %q", r.Status, r.Body, tc.status, tc.field)
				}
				if tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge")
				}
			})
		}
		// The refused events were never stored: a later good one runs, they do not.
		if r := legacy(t, access, "commerce", event("after", "order.created", "v1", `{"orderId":"a"}`)); r.Status != http.StatusOK {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		ran(t, "after", "commerce.order.created.v1|a|v1|nil")
		for _, id := range []string{"ref-1", "ref-2", "ref-3", "ref-4", "ref-5"} {
			if r := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/"+id, s.AdminToken, nil); r.Status != http.StatusNotFound {
				t.Errorf("refused event %s ran: %s", id, r.Body)
			}
		}
	})
	t.Run("invalid payload marked, the solution's setting", func(t *testing.T) {
		r := s.Do(t, "PATCH", "/api/v1/solutions/shop", s.AdminToken, map[string]any{"invalid_payload": "mark"})
		if r.Status != http.StatusOK || r.Map(t)["invalid_payload"] != "mark" {
			t.Fatalf("set invalid_payload: %d %s", r.Status, r.Body)
		}
		if r := legacy(t, access, "commerce", event("marked", "order.created", "v1", `{"id":1}`)); r.Status != http.StatusOK {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		ran(t, "marked", "commerce.order.created.v1|nil|v1|nil|payloadvalid=false")
		if r := s.Do(t, "PATCH", "/api/v1/solutions/shop", s.AdminToken, map[string]any{"invalid_payload": "keep"}); r.Status != http.StatusBadRequest || r.Map(t)["field"] != "invalid_payload" {
			t.Fatalf("invalid_payload keep: %d %s; want 400 naming the field", r.Status, r.Body)
		}
		s.Do(t, "PATCH", "/api/v1/solutions/shop", s.AdminToken, map[string]any{"invalid_payload": "reject"})
		if r := legacy(t, access, "commerce", event("rejected", "order.created", "v1", `{"id":1}`)); r.Status != http.StatusBadRequest {
			t.Fatalf("publish after reject: %d %s", r.Status, r.Body)
		}
	})
}
