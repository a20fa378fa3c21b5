package hub_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// securityDoc is a Swagger 2.0 document as Murano's users write them: basic (the document's
// requirement), apiKey in the query with a prefix, and bearer, with the credentials in the
// configuration parameters.
const securityDoc = `swagger: "2.0"
info: {title: Secured, version: "1"}
host: "%s"
schemes: [http]
x-exosite-health-path: /health
x-exosite-config-parameters:
  - {name: account, type: string, description: the account}
  - {name: password, type: string, description: its password}
  - {name: key, type: string, description: an API key}
  - {name: token, type: string, description: a bearer token}
securityDefinitions:
  basicAuth: {type: Basic, x-exosite-user-field: account, x-exosite-secret-field: password}
  queryKey: {type: apiKey, in: query, name: api_key, x-exosite-prefix: Token, x-exosite-from: key}
  bearerAuth: {type: bearer, name: token}
security:
  - basicAuth: []
paths:
  /basic:
    get:
      operationId: basic
      responses: {"200": {description: ok}}
  /search:
    get:
      operationId: search
      security: [{queryKey: []}]
      parameters: [{name: q, in: query, type: string}]
      responses: {"200": {description: ok}}
  /notes:
    post:
      operationId: note
      security: [{bearerAuth: []}]
      parameters:
        - {name: body, in: body, schema: {type: object, properties: {text: {type: string}}}}
      responses: {"200": {description: ok}}
`

// TestSecuritySchemesReachTheService: a service whose document requires basic, apiKey and
// bearer security is added to a solution with its credentials; a script's calls reach it with
// the credentials where each scheme says, and the secrets are never shown back nor logged.
func TestSecuritySchemesReachTheService(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]*http.Request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			mu.Lock()
			seen[r.URL.Path] = r.Clone(r.Context())
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`)) //nolint:errcheck // test peer
	}))
	t.Cleanup(srv.Close)
	s := hubtest.Start(t)
	doc := fmt.Sprintf(securityDoc, strings.TrimPrefix(srv.URL, "http://"))
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "secured", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	tok := createSolution(t, s, "demo", nil)
	secrets := map[string]string{"password": "pw-Zq81", "key": "key-Xv27", "token": "tok-Lm55"}
	params := map[string]any{"account": "acct-7"}
	for k, v := range secrets {
		params[k] = v
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", tok, map[string]any{"service": "secured", "parameters": params}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	// The script's own key and token arguments change nothing: the configuration's win.
	s.Deploy(t, "demo", "GET", "/calls", `
local a = Secured.basic({})
local b = Secured.search({q = "lamp", key = "forged"})
local c = Secured.note({text = "hi", token = "forged"})
return to_json({a, b, c})`)
	if r := call(t, s, "GET", "/apps/demo/calls", 10*time.Second); r.Status != http.StatusOK || string(r.Body) != `[{"ok":true},{"ok":true},{"ok":true}]` {
		t.Fatalf("calls: %d %s", r.Status, r.Body)
	}
	mu.Lock()
	basic, search, note := seen["/basic"], seen["/search"], seen["/notes"]
	mu.Unlock()
	if basic == nil || search == nil || note == nil {
		t.Fatalf("the service got %v", seen)
	}
	if got, want := basic.Header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte("acct-7:pw-Zq81")); got != want {
		t.Errorf("basic: Authorization %q, want %q", got, want)
	}
	if got, want := search.URL.RawQuery, "api_key=Token+key-Xv27&q=lamp"; got != want || search.Header.Get("Authorization") != "" {
		t.Errorf("apiKey: query %q and Authorization %q, want %q and none", got, search.Header.Get("Authorization"), want)
	}
	if got := note.Header.Get("Authorization"); got != "Bearer tok-Lm55" {
		t.Errorf("bearer: Authorization %q, want %q", got, "Bearer tok-Lm55")
	}
	for _, r := range []*http.Request{basic, search, note} {
		if r.Header.Get("X-Switchboard-Signature") == "" {
			t.Errorf("%s: not signed by the hub", r.URL.Path)
		}
	}

	r := s.Do(t, "GET", "/api/v1/solutions/demo/services/secured", tok, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "acct-7") {
		t.Errorf("GET the service's configuration: %d %s, want 200 showing the account", r.Status, r.Body)
	}
	for name, v := range secrets {
		if strings.Contains(string(r.Body), v) {
			t.Errorf("GET the service's configuration shows %s: %s", name, r.Body)
		}
		if strings.Contains(s.Logs.String(), v) {
			t.Errorf("the hub logged %s", name)
		}
	}
}
