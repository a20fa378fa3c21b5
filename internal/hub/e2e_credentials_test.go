package hub_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestApplicationCredentials: requestClientCredentialsForApplication gives an application
// OAuth2 client credentials whose url is the token endpoint; they get an access token there,
// signed by a key the JWKS shows; unregistering the application revokes them.
func TestApplicationCredentials(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "shop")
	var app struct{ ID string }
	graphql(t, s, tok, "", `mutation { registerApplication(in: {name: "commerce"}) { id } }`, nil).into(t, "registerApplication", &app)

	var sa struct {
		ID   string
		Auth struct {
			Credential struct{ ClientID, ClientSecret, URL string }
		}
	}
	graphql(t, s, tok, "", `mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) {
		id auth { credential { ... on OAuthCredentialData { clientId clientSecret url } } } } }`,
		map[string]any{"id": app.ID}).into(t, "requestClientCredentialsForApplication", &sa)
	cred := sa.Auth.Credential
	if sa.ID == "" || cred.ClientID == "" || cred.ClientSecret == "" || cred.URL != s.URL+"/oauth2/token" {
		t.Fatalf("credentials %+v, want a token url of %s/oauth2/token", sa, s.URL)
	}
	// Another solution cannot ask for the application's credentials.
	other := s.CreateSolution(t, "other")
	if a := graphql(t, s, other, "", `mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) { id } }`, map[string]any{"id": app.ID}); a.code() != "NOT_FOUND" {
		t.Errorf("another solution's request: %+v, want NOT_FOUND", a.Errors)
	}

	exchange := func(t *testing.T) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", cred.URL, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(cred.ClientID), url.QueryEscape(cred.ClientSecret))
		r := s.Send(t, req)
		var m map[string]any
		json.Unmarshal(r.Body, &m) //nolint:errcheck // checked by the caller
		return r.Status, m
	}
	status, m := exchange(t)
	if status != http.StatusOK || m["token_type"] != "Bearer" || m["access_token"] == nil {
		t.Fatalf("token: %d %v", status, m)
	}
	var jwks struct {
		Keys []struct{ Kid, Alg, Use string }
	}
	if r := s.Do(t, "GET", "/.well-known/jwks.json", "", nil); r.Status != http.StatusOK {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &jwks)
	}
	if len(jwks.Keys) == 0 || jwks.Keys[0].Alg != "ES256" {
		t.Fatalf("jwks %+v", jwks)
	}

	graphql(t, s, tok, "", `mutation($id: ID!) { unregisterApplication(id: $id) { id } }`, map[string]any{"id": app.ID}).into(t, "unregisterApplication", &app)
	if status, m := exchange(t); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("token after unregistering: %d %v, want 401 invalid_client", status, m)
	}
}
