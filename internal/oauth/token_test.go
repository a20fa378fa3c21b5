package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestTokenEndpoint(t *testing.T) {
	ctx := context.Background()
	a := openAuthority(t, openBus(t), newClock())
	good := issue(t, a, "demo", "orders")
	revoked := issue(t, a, "demo", "orders")
	if err := a.Revoke(ctx, "demo", revoked.ID); err != nil {
		t.Fatal(err)
	}
	cc := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	unknown := "sbc_" + strings.Repeat("0", 32)
	for _, tc := range []struct {
		name   string
		form   url.Values
		basic  *[2]string
		status int
		code   string
	}{
		{"form", cc("client_id", good.ClientID, "client_secret", good.ClientSecret), nil, 200, ""},
		{"basic", cc(), &[2]string{good.ClientID, good.ClientSecret}, 200, ""},
		{"scope is ignored", cc("client_id", good.ClientID, "client_secret", good.ClientSecret, "scope", "publish"), nil, 200, ""},
		{"wrong secret", cc("client_id", good.ClientID, "client_secret", good.ClientSecret+"x"), nil, 401, "invalid_client"},
		{"wrong secret by basic", cc(), &[2]string{good.ClientID, "nope"}, 401, "invalid_client"},
		{"unknown client", cc("client_id", unknown, "client_secret", good.ClientSecret), nil, 401, "invalid_client"},
		{"malformed client id", cc("client_id", "../../x", "client_secret", good.ClientSecret), nil, 401, "invalid_client"},
		{"revoked credential", cc("client_id", revoked.ClientID, "client_secret", revoked.ClientSecret), nil, 401, "invalid_client"},
		{"no client authentication", cc(), nil, 401, "invalid_client"},
		{"basic with the same client_id in the form", cc("client_id", good.ClientID), &[2]string{good.ClientID, good.ClientSecret}, 200, ""},
		{"basic with another client_id in the form", cc("client_id", revoked.ClientID), &[2]string{good.ClientID, good.ClientSecret}, 400, "invalid_request"},
		{"two ways of authentication", cc("client_secret", good.ClientSecret), &[2]string{good.ClientID, good.ClientSecret}, 400, "invalid_request"},
		{"wrong grant type", url.Values{"grant_type": {"password"}, "client_id": {good.ClientID}, "client_secret": {good.ClientSecret}}, nil, 400, "unsupported_grant_type"},
		{"no grant type", url.Values{"client_id": {good.ClientID}, "client_secret": {good.ClientSecret}}, nil, 400, "invalid_request"},
		{"repeated parameter", cc("client_id", good.ClientID, "client_id", good.ClientID, "client_secret", good.ClientSecret), nil, 400, "invalid_request"},
		{"oversized body", cc("client_id", good.ClientID, "client_secret", good.ClientSecret, "scope", strings.Repeat("s", maxTokenRequest)), nil, 413, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans := postToken(t, a, tc.form, tc.basic)
			if ans.status != tc.status {
				t.Fatalf("status %d %v, want %d", ans.status, ans.body, tc.status)
			}
			if cc := ans.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tc.status == 401 && !strings.HasPrefix(ans.header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic challenge: %q", ans.header.Get("WWW-Authenticate"))
			}
			if tc.code != "" {
				if ans.body["error"] != tc.code || ans.body["access_token"] != nil {
					t.Fatalf("answer %v, want error %s", ans.body, tc.code)
				}
				return
			}
			if ans.body["token_type"] != "Bearer" || ans.body["expires_in"] != float64(15*60) {
				t.Fatalf("answer %v: want a Bearer token of 900 s", ans.body)
			}
			cl, err := a.Verify(ctx, ans.body["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if cl.ClientID != good.ClientID || cl.Solution != "demo" || cl.Application != "orders" {
				t.Fatalf("claims %+v", cl)
			}
		})
	}
}

func TestTokenEndpointRefusesOtherRequests(t *testing.T) {
	a := openAuthority(t, openBus(t), newClock())
	for _, tc := range []struct {
		name, method, ctype string
		status              int
	}{
		{"GET", http.MethodGet, "", 405},
		{"JSON body", http.MethodPost, "application/json", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, TokenPath, strings.NewReader(`{"grant_type":"client_credentials"}`))
			r.Header.Set("Content-Type", tc.ctype)
			w := httptest.NewRecorder()
			a.TokenHandler().ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `"invalid_request"`) {
				t.Fatalf("got %d %s, want %d invalid_request", w.Code, w.Body, tc.status)
			}
		})
	}
}

// A secret made of characters form-urlencoding escapes reaches the check intact by Basic
// (RFC 6749 §2.3.1), and a raw Basic header not escaped is read the same when it has none.
func TestBasicCredentialsAreFormDecoded(t *testing.T) {
	for _, tc := range []struct {
		name, id, secret string
		wantID, wantSec  string
	}{
		{"escaped", url.QueryEscape("a b"), url.QueryEscape("x:y+z/%"), "a b", "x:y+z/%"},
		{"plain", "sbc_1", "s3cret", "sbc_1", "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, TokenPath, nil)
			r.SetBasicAuth(tc.id, tc.secret)
			r.PostForm = url.Values{}
			id, sec, oe := clientCredentials(r)
			if oe != nil || id != tc.wantID || sec != tc.wantSec {
				t.Fatalf("got %q %q %v, want %q %q", id, sec, oe, tc.wantID, tc.wantSec)
			}
		})
	}
}
