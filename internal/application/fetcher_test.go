package application

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHTTPFetcher: Basic and OAuth2 client credentials reach the server, extra headers and
// query parameters are sent, and a document over the bound or a non-200 answer fails.
func TestHTTPFetcher(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id != "client" || secret != "s3cret" || r.FormValue("grant_type") != "client_credentials" {
			http.Error(w, "bad client", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"access_token":"tok","token_type":"bearer"}`))
	})
	mux.HandleFunc("GET /spec", func(w http.ResponseWriter, r *http.Request) {
		u, p, basic := r.BasicAuth()
		ok := basic && u == "u" && p == "p" || r.Header.Get("Authorization") == "Bearer tok"
		if !ok || r.Header.Get("X-Extra") != "1" || r.URL.Query().Get("v") != "2" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.Write([]byte(asyncJSON))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := HTTPFetcher{Client: srv.Client()}
	extra := func(a Auth) *Auth {
		a.AdditionalHeaders = map[string][]string{"X-Extra": {"1"}}
		a.AdditionalQueryParams = map[string][]string{"v": {"2"}}
		return &a
	}
	cases := []struct {
		name string
		auth *Auth
		max  int
		err  string
	}{
		{"basic", extra(Auth{Basic: &Basic{Username: "u", Password: "p"}}), MaxSpecBytes, ""},
		{"oauth", extra(Auth{OAuth: &OAuth{ClientID: "client", ClientSecret: "s3cret", URL: srv.URL + "/token"}}), MaxSpecBytes, ""},
		{"oauth refused", extra(Auth{OAuth: &OAuth{ClientID: "client", ClientSecret: "wrong", URL: srv.URL + "/token"}}), MaxSpecBytes, "token request: status 401"},
		{"relative token URL", extra(Auth{OAuth: &OAuth{ClientID: "client", ClientSecret: "s3cret", URL: "url.net"}}), MaxSpecBytes, "token URL"},
		{"no auth", nil, MaxSpecBytes, "status 403"},
		{"too large", extra(Auth{Basic: &Basic{Username: "u", Password: "p"}}), 10, "larger than 10 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := f.Fetch(context.Background(), FetchRequest{URL: srv.URL + "/spec", Auth: c.auth, Mode: ModeSingle}, c.max)
			if c.err == "" {
				if err != nil || string(data) != asyncJSON {
					t.Fatalf("Fetch = %q, %v", data, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("Fetch: %v; want %q", err, c.err)
			}
		})
	}
}
