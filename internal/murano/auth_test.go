package murano_test

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestMuranoSecuritySchemes: each security scheme Murano documents is applied to the calls of
// the operations that require it, with the credentials from the solution's configuration, in
// the header or query the scheme says and nowhere else; an operation's own security replaces
// the document's, and security: [] means none.
func TestMuranoSecuritySchemes(t *testing.T) {
	t.Parallel()
	m := start(t, "auth", "auth.yaml", "/v2/health")
	secrets := map[string]any{
		"apiSecret":   "hdr-key-31f0",
		"api_key":     "qry-key-8c2e",
		"accessToken": "bearer-tok-77ab",
		"user":        "alice",
		"password":    "basic-pw-5e19",
		"oauthToken":  "oauth-tok-0d3c",
	}
	m.mustAdd(t, secrets)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:basic-pw-5e19"))

	for _, tc := range []struct {
		name, op, path string
		// header values wanted; "" means the header must be absent.
		header map[string]string
		query  map[string][]string
	}{
		{"apiKey in a header with x-exosite-prefix, from the document's security", "withHeaderKey", "/v2/header",
			map[string]string{"X-Api-Key": "Token hdr-key-31f0", "Authorization": ""}, nil},
		{"apiKey in the query, named by the scheme", "withQueryKey", "/v2/query",
			map[string]string{"X-Api-Key": "", "Authorization": ""}, map[string][]string{"api_key": {"qry-key-8c2e"}}},
		{"Bearer from the parameter the scheme names", "withBearer", "/v2/bearer",
			map[string]string{"Authorization": "Bearer bearer-tok-77ab", "X-Api-Key": ""}, nil},
		{"Basic from x-exosite-user-field and x-exosite-secret-field", "withBasic", "/v2/basic",
			map[string]string{"Authorization": basic, "X-Api-Key": ""}, nil},
		{"Signature is the hub's own signing", "withSignature", "/v2/signed",
			map[string]string{"Authorization": "", "X-Api-Key": ""}, nil},
		{"ClientCA registers and calls go through", "withClientCA", "/v2/cert",
			map[string]string{"Authorization": "", "X-Api-Key": ""}, nil},
		{"oauth2 sends its configured token as Bearer", "withOAuth2", "/v2/oauth",
			map[string]string{"Authorization": "Bearer oauth-tok-0d3c", "X-Api-Key": ""}, nil},
		{"security: [] sends no credential", "withoutAuth", "/v2/open",
			map[string]string{"Authorization": "", "X-Api-Key": ""}, nil},
		{"two schemes of one requirement both apply", "withTwoSchemes", "/v2/both",
			map[string]string{"X-Api-Key": "Token hdr-key-31f0", "Authorization": ""}, map[string][]string{"api_key": {"qry-key-8c2e"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := m.call(t, `return Auth.`+tc.op+`({})`)
			wantRequest(t, r, "GET", tc.path, tc.query)
			for h, want := range tc.header {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			if r.Header.Get("X-Switchboard-Signature") == "" {
				t.Errorf("the call is not signed (X-Switchboard-Signature)")
			}
		})
	}

	// Credentials are secrets, format: password or not (apiSecret is not): never shown, never
	// logged.
	for _, tok := range []string{m.hub.AdminToken, m.solTok} {
		for _, path := range []string{"/api/v1/solutions/demo/services/auth", "/api/v1/solutions/demo/services"} {
			body := string(m.hub.Do(t, "GET", path, tok, nil).Body)
			for name, v := range secrets {
				if name != "user" && strings.Contains(body, v.(string)) {
					t.Errorf("GET %s shows credential %s", path, name)
				}
			}
		}
	}
	params := string(m.run(t, `return Config.getParameters({service = "auth"})`).Body)
	logs := m.hub.Logs.String()
	for name, v := range secrets {
		if name == "user" {
			continue
		}
		if strings.Contains(params, v.(string)) {
			t.Errorf("Config.getParameters shows credential %s", name)
		}
		if strings.Contains(logs, v.(string)) {
			t.Errorf("the hub logged credential %s", name)
		}
	}
}
