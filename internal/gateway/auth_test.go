package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/oauth"
)

// TestOwnTokens: an application's client credentials get a token at /oauth2/token, and that
// token publishes to the gateway; a bad or revoked one is refused with a Bearer challenge.
func TestOwnTokens(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir(), Name: "gateway-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	auth, err := oauth.Open(ctx, b, oauth.Config{Issuer: "http://switchboard.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	st := &fakeStore{}
	g := New(Options{Registry: fakeRegistry{}, Auth: OwnTokens{Verify: auth.Verify}, Store: st})
	mux := http.NewServeMux()
	g.Register(mux)
	mux.Handle("POST "+oauth.TokenPath, auth.TokenHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	creds, err := auth.Issue(ctx, "demo", "id-shop")
	if err != nil {
		t.Fatal(err)
	}
	token := func(t *testing.T) string {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+oauth.TokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(creds.ClientID), url.QueryEscape(creds.ClientSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		return tok.AccessToken
	}
	publish := func(t *testing.T, bearer string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/gateway/shop/v1/events", strings.NewReader(legacyBody("order.created", "v1", `{"orderId":"o-1"}`)))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tok := token(t)
	if resp := publish(t, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("publish with a fresh token: %d", resp.StatusCode)
	}
	if _, n := st.last(); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	for name, bearer := range map[string]string{"no token": "", "not a token": "abc.def.ghi", "tampered": tok[:len(tok)-4] + "AAAA"} {
		resp := publish(t, bearer)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm=") {
			t.Errorf("%s: %d %q, want 401 with a Bearer challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if err := auth.Revoke(ctx, "demo", creds.ID); err != nil {
		t.Fatal(err)
	}
	if resp := publish(t, tok); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "revoked") {
		t.Errorf("a revoked credential's token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if _, n := st.last(); n != 1 {
		t.Errorf("%d events stored, want only the first", n)
	}
}
