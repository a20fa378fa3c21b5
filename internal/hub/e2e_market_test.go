package hub_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// marketSwagger is a service documented the way Murano's published documents are: a folded
// Lua example with the blank line Murano asks for after a comment, tags, events, a hidden and
// a restricted operation, a hidden parameter, and a configuration form with a secret (whose
// default must not show), a hidden field and a choice.
func marketSwagger(host string) string {
	return fmt.Sprintf(`swagger: "2.0"
info: {title: Sms, description: Send text messages., version: "2.1"}
host: "%s"
schemes: [http]
x-exosite-health-path: /health
tags:
  - {name: messages, description: Text messages}
securityDefinitions:
  account: {type: basic, description: The account's credentials, x-exosite-user-field: AccountSid, x-exosite-secret-field: AuthToken}
  key: {type: apiKey, in: header, name: X-Api-Key, x-exosite-secret-field: ApiKey}
security: [{account: []}]
x-events:
  delivered: {description: A message reached the phone}
x-exosite-config-parameters:
  - {name: AccountSid, type: string, required: true, description: The account's id}
  - {name: AuthToken, type: string, format: password, required: true, default: default-token-value}
  - {name: Region, type: string, enum: [eu, us], default: eu}
  - {name: Shard, type: string, x-exosite-hidden: true}
  - {name: ApiKey, type: string, default: default-api-key}
paths:
  /messages:
    post:
      operationId: postMessage
      summary: Send a message
      description: Sends one message to one phone number.
      tags: [messages]
      security: [{key: []}]
      x-exosite-example: >
        -- send a message


        local out = Sms.postMessage({To = "+17635551234", Body = "hi"})
      parameters:
        - {name: tracing, in: query, type: string, x-exosite-hidden: true}
      responses: {"200": {description: ok}}
  /debug:
    get:
      operationId: debugState
      x-exosite-hidden: true
      responses: {"200": {description: ok}}
  /purge:
    post:
      operationId: purge
      x-exosite-restricted: true
      responses: {"200": {description: ok}}
`, host)
}

// TestMarketplace: GET /api/v1/services and /api/v1/services/{name} show what a user needs to
// add a service (configuration form, operations with their examples, events, tags, security
// schemes) as openapi.json documents it, and neither a secret nor anything hidden.
func TestMarketplace(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	doc := loadOpenAPI(t, s)
	srv := answerAll(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "sms", "swagger": marketSwagger(host)}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	tok := createSolution(t, s, "demo", nil)
	add := map[string]any{"service": "sms", "parameters": map[string]any{"AccountSid": "AC1", "AuthToken": "configured-secret-value"}}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", tok, add); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}

	type market struct {
		Tags             []map[string]any `json:"tags"`
		ConfigParameters []map[string]any `json:"config_parameters"`
		Operations       []map[string]any `json:"operations"`
		Events           []map[string]any `json:"events"`
		SecuritySchemes  []map[string]any `json:"security_schemes"`
		Security         []any            `json:"security"`
	}
	type view struct {
		Operations  []map[string]any `json:"operations"`
		Marketplace *market          `json:"marketplace"`
		Document    json.RawMessage  `json:"document"`
	}
	for _, tc := range []struct{ name, token string }{{"solution token", tok}, {"admin", s.AdminToken}} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+"/api/v1/services/sms", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			r := s.Send(t, req)
			if r.Status != http.StatusOK {
				t.Fatalf("GET: %d %s", r.Status, r.Body)
			}
			validateExchange(t, doc, "/api/v1/services/{name}", req, r)
			var v view
			r.JSON(t, &v)
			m := v.Marketplace
			if m == nil {
				t.Fatalf("no marketplace: %s", r.Body)
			}
			if want := []map[string]any{{"name": "messages", "description": "Text messages"}}; !reflect.DeepEqual(m.Tags, want) {
				t.Errorf("tags = %v", m.Tags)
			}
			wantParams := []map[string]any{
				{"name": "AccountSid", "type": "string", "required": true, "secret": false, "description": "The account's id"},
				{"name": "AuthToken", "type": "string", "required": true, "secret": true},
				{"name": "Region", "type": "string", "required": false, "secret": false, "default": "eu", "enum": []any{"eu", "us"}},
				{"name": "ApiKey", "type": "string", "required": false, "secret": true},
			}
			if !reflect.DeepEqual(m.ConfigParameters, wantParams) {
				t.Errorf("config_parameters = %v\nwant %v", m.ConfigParameters, wantParams)
			}
			wantOps := []map[string]any{{"name": "postMessage", "summary": "Send a message", "description": "Sends one message to one phone number.",
				"example": "-- send a message\n\nlocal out = Sms.postMessage({To = \"+17635551234\", Body = \"hi\"})", "tags": []any{"messages"},
				"security": []any{[]any{"key"}}}}
			if !reflect.DeepEqual(m.Operations, wantOps) {
				t.Errorf("marketplace operations = %v\nwant %v", m.Operations, wantOps)
			}
			if want := []map[string]any{{"name": "postMessage", "description": "Send a message"}}; !reflect.DeepEqual(v.Operations, want) {
				t.Errorf("operations = %v, want %v", v.Operations, want)
			}
			if want := []map[string]any{{"name": "delivered", "description": "A message reached the phone"}}; !reflect.DeepEqual(m.Events, want) {
				t.Errorf("events = %v", m.Events)
			}
			wantSchemes := []map[string]any{
				{"name": "account", "type": "basic", "description": "The account's credentials", "user_field": "AccountSid", "secret_field": "AuthToken"},
				{"name": "key", "type": "apiKey", "secret_field": "ApiKey"},
			}
			if !reflect.DeepEqual(m.SecuritySchemes, wantSchemes) || !reflect.DeepEqual(m.Security, []any{[]any{"account"}}) {
				t.Errorf("security_schemes = %v, security = %v\nwant %v, [[account]]", m.SecuritySchemes, m.Security, wantSchemes)
			}
			// The configured secret is nowhere; the admin alone sees the document as registered.
			if strings.Contains(string(r.Body), "configured-secret-value") {
				t.Errorf("the configured secret is shown: %s", r.Body)
			}
			hidden := []string{"default-token-value", "default-api-key", "Shard", "tracing", "debugState", "purge"}
			for _, h := range hidden {
				inDoc := strings.Contains(string(v.Document), h)
				if strings.Contains(strings.Replace(string(r.Body), string(v.Document), "", 1), h) {
					t.Errorf("%s is shown outside the document: %s", h, r.Body)
				}
				if inDoc != (tc.token == s.AdminToken) {
					t.Errorf("%s in the document: %v", h, inDoc)
				}
			}
		})
	}

	// The listing carries the marketplace too, and matches openapi.json.
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/services", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r := s.Send(t, req)
	validateExchange(t, doc, "/api/v1/services", req, r)
	var list struct {
		Items []view `json:"items"`
	}
	r.JSON(t, &list)
	found := false
	for _, it := range list.Items {
		if it.Marketplace != nil && len(it.Marketplace.Operations) == 1 && it.Marketplace.Operations[0]["example"] != nil {
			found = true
		}
	}
	if !found || strings.Contains(string(r.Body), "default-token-value") || strings.Contains(string(r.Body), "debugState") {
		t.Errorf("listing: %s", r.Body)
	}
}

// TestDocsPageShowsAddedServices: a solution's API page shows the services it added as the
// marketplace does (examples as written), and nothing secret or hidden, to the solution's own
// token only: the page itself is public.
func TestDocsPageShowsAddedServices(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	host := strings.TrimPrefix(answerAll(t).URL, "http://")
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "sms", "swagger": marketSwagger(host)}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	tok := createSolution(t, s, "demo", nil)
	createSolution(t, s, "other", nil)
	s.Deploy(t, "demo", "GET", "/hello", `return "hi"`)
	add := map[string]any{"service": "sms", "parameters": map[string]any{"AccountSid": "AC1", "AuthToken": "configured-secret-value"}}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", tok, add); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}

	if r := s.Do(t, "GET", "/apps/demo/docs", "", nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), "<h2>Services</h2>") {
		t.Errorf("the page without a token: %d, lists the services:\n%s", r.Status, r.Body)
	}
	otherTok := createSolution(t, s, "third", nil)
	if r := s.Do(t, "GET", "/apps/demo/docs", otherTok, nil); strings.Contains(string(r.Body), "<h2>Services</h2>") {
		t.Errorf("another solution's token sees demo's services:\n%s", r.Body)
	}
	page := s.Do(t, "GET", "/apps/demo/docs", tok, nil)
	body := string(page.Body)
	if page.Status != http.StatusOK {
		t.Fatalf("docs page: %d %s", page.Status, body)
	}
	example := "-- send a message\n\nlocal out = Sms.postMessage({To = \"+17635551234\", Body = \"hi\"})"
	for _, want := range []string{"<h2>Services</h2>", "Sms.postMessage", "Send a message", "Sends one message to one phone number.",
		"<code>AccountSid</code>", "The account&#39;s id", "(one of: eu, us)", "delivered", "A message reached the phone",
		"Tags: messages", "account (basic): The account&#39;s credentials", "key (apiKey)", `class="ep"`} {
		if !strings.Contains(body, want) {
			t.Errorf("docs page lacks %q:\n%s", want, body)
		}
	}
	for _, leak := range []string{"configured-secret-value", "default-token-value", "default-api-key", "Shard", "tracing", "debugState", "purge", host, "AC1"} {
		if strings.Contains(body, leak) {
			t.Errorf("docs page shows %q:\n%s", leak, body)
		}
	}
	if !strings.Contains(html.UnescapeString(body), "<pre class=\"example\">"+example+"</pre>") {
		t.Errorf("docs page lacks the example as written:\n%s", body)
	}
	// The Try buttons' script finds a button in every endpoint box: the services are not boxes
	// of that kind.
	if n := strings.Count(body, `class="ep"`); n != 1 {
		t.Errorf("%d endpoint boxes, want 1", n)
	}
	if r := s.Do(t, "GET", "/apps/other/docs", "", nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), "<h2>Services</h2>") {
		t.Errorf("a solution that added nothing: %d\n%s", r.Status, r.Body)
	}
}

// answerAll is a service's host that answers every request with 200 {}.
func answerAll(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}")) //nolint:errcheck // the test reads what the hub makes of it
	}))
	t.Cleanup(srv.Close)
	return srv
}
