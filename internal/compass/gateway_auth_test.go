package compass

import (
	"net/http"
	"testing"
)

const setGatewayAuthQ = `mutation($id: ID!, $in: GatewayAuthInput!) { setApplicationGatewayAuth(id: $id, in: $in) {
	id gatewayAuth { clientCredentials oidc { issuer audience clientClaim client } mtls { caPEM commonName dnsName uri } } } }`

type gatewayAuthOf struct {
	ID          string `json:"id"`
	GatewayAuth struct {
		ClientCredentials bool `json:"clientCredentials"`
		OIDC              *struct{ Issuer, Audience, ClientClaim, Client string }
		MTLS              *struct{ CommonName *string }
	} `json:"gatewayAuth"`
}

// TestGatewayAuth: an application's gateway settings default to Switchboard's client
// credentials, are set by its solution (not another), read back with the defaults filled in,
// and bad input is refused naming its field.
func TestGatewayAuth(t *testing.T) {
	srv := newServer(t, &fakeIssuer{})
	a := register(t, srv, "tok-a", "shop")
	var got gatewayAuthOf
	gql(t, srv, "tok-a", `query($id: ID!) { application(id: $id) { id gatewayAuth { clientCredentials oidc { issuer } } } }`,
		map[string]any{"id": a.ID}).into(t, "application", &got)
	if !got.GatewayAuth.ClientCredentials || got.GatewayAuth.OIDC != nil {
		t.Fatalf("default: %+v", got.GatewayAuth)
	}
	in := map[string]any{"clientCredentials": false, "oidc": map[string]any{"issuer": "https://login.example.com", "audience": "gateway", "client": "shop-client"}}
	if r := gql(t, srv, "tok-b", setGatewayAuthQ, map[string]any{"id": a.ID, "in": in}); r.code(t) != CodeNotFound {
		t.Fatalf("another solution set it: %+v", r.Errors)
	}
	gql(t, srv, "tok-a", setGatewayAuthQ, map[string]any{"id": a.ID, "in": in}).into(t, "setApplicationGatewayAuth", &got)
	if o := got.GatewayAuth.OIDC; got.GatewayAuth.ClientCredentials || o == nil || o.ClientClaim != "azp" || o.Client != "shop-client" {
		t.Fatalf("set: %+v %+v", got.GatewayAuth, o)
	}
	r := do(t, srv, "admin", "sol-a", `{"query":"{ applications { data { gatewayAuth { oidc { issuer } } } } }"}`)
	if r.status != http.StatusOK || len(r.Errors) > 0 || string(r.Data["applications"]) != `{"data":[{"gatewayAuth":{"oidc":{"issuer":"https://login.example.com"}}}]}` {
		t.Fatalf("admin reads %d %s %+v", r.status, r.Data["applications"], r.Errors)
	}
	for _, tc := range []struct {
		name  string
		in    map[string]any
		field string
	}{
		{"issuer over http", map[string]any{"oidc": map[string]any{"issuer": "http://login.example.com", "audience": "g", "client": "c"}}, "in.oidc.issuer"},
		{"no audience", map[string]any{"oidc": map[string]any{"issuer": "https://login.example.com", "audience": "", "client": "c"}}, "in.oidc.audience"},
		{"ca not PEM", map[string]any{"mtls": map[string]any{"caPEM": "nope", "commonName": "shop"}}, "in.mtls.caPEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gql(t, srv, "tok-a", setGatewayAuthQ, map[string]any{"id": a.ID, "in": tc.in})
			if len(r.Errors) != 1 || r.Errors[0].Extensions["field"] != tc.field {
				t.Fatalf("errors %+v, want one naming %s", r.Errors, tc.field)
			}
		})
	}
}
