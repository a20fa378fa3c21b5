package hub_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// seenRequest is a request a stand-in service got.
type seenRequest struct {
	Method, Path, Query, Body string
}

func (r seenRequest) String() string {
	s := r.Method + " " + r.Path
	if r.Query != "" {
		s += "?" + r.Query
	}
	if r.Body != "" {
		s += " " + r.Body
	}
	return s
}

// standIn is a service that records every request but its health checks and answers from
// its routes ("GET /demo" → status and JSON body), else 200 with {}.
type standIn struct {
	srv *httptest.Server

	mu     sync.Mutex
	seen   []seenRequest
	routes map[string]struct {
		status int
		body   string
	}
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	s := &standIn{routes: map[string]struct {
		status int
		body   string
	}{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(body)})
		route, ok := s.routes[r.Method+" "+r.URL.Path]
		s.mu.Unlock()
		if !ok {
			route.status, route.body = 200, "{}"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(route.status)
		io.WriteString(w, route.body) //nolint:errcheck // test
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) host() string { return strings.TrimPrefix(s.srv.URL, "http://") }

func (s *standIn) answer(route string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[route] = struct {
		status int
		body   string
	}{status, body}
}

// took returns the requests seen since the last call and forgets them.
func (s *standIn) took() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.seen))
	for i, r := range s.seen {
		out[i] = r.String()
	}
	s.seen = nil
	return out
}

// wantSeen checks the stand-in got exactly the requests want, in order, since the last check.
func (s *standIn) wantSeen(t *testing.T, step string, want ...string) {
	t.Helper()
	got := s.took()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: the service got\n  %s\nwant\n  %s", step, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// storageDoc is a storage service after Murano's storageservice example
// (exosite/open_api_integration, examples/storageservice.yaml): init, info, update and gc on
// /{solution_id}, the solution's id injected and restricted, and scripted data operations.
func storageDoc(host string) string {
	return fmt.Sprintf(`swagger: "2.0"
info: {title: A Storage Service, description: Keeps data per solution., version: "1.0"}
host: %s
schemes: [http]
basePath: /
x-exosite-health-path: /health
x-exosite-init: createSolution
x-exosite-info: getSolution
x-exosite-update: updateSolution
x-exosite-gc: delSolution
x-exosite-config-parameters:
  - {name: quota, type: object, description: Limits of the solution.}
paths:
  /{solution_id}:
    parameters:
      - {name: solution_id, in: path, type: string, required: true, description: The solution., x-exosite-from: solution_id, x-exosite-internal-use: true}
    post: {operationId: createSolution, description: Creates the solution's namespace., x-exosite-internal-use: true,
      parameters: [{$ref: "#/parameters/settings"}], responses: {"201": {description: Created.}}}
    get: {operationId: getSolution, description: The solution's settings and usage., responses: {"200": {description: Settings.}}}
    put: {operationId: updateSolution, description: Updates the solution's settings., x-exosite-internal-use: true,
      parameters: [{$ref: "#/parameters/settings"}], responses: {"204": {description: Updated.}}}
    delete: {operationId: delSolution, description: Removes the solution's namespace., x-exosite-internal-use: true,
      responses: {"204": {description: Removed.}}}
  /{solution_id}/data:
    parameters:
      - {name: solution_id, in: path, type: string, required: true, description: The solution., x-exosite-from: solution_id, x-exosite-internal-use: true}
    post:
      operationId: setData
      description: Saves data.
      parameters:
        - {name: body, in: body, required: true, description: Data., schema: {$ref: "#/definitions/Body"}}
      responses: {"201": {description: Saved.}}
parameters:
  settings: {name: settings, in: body, required: true, description: Settings., schema: {$ref: "#/definitions/SolutionSettings"}}
definitions:
  Body:
    type: object
    properties:
      data: {type: string}
  Quota:
    type: object
    properties:
      metricName: {type: integer}
  SolutionSettings:
    type: object
    properties:
      quota: {$ref: "#/definitions/Quota"}
`, host)
}

// TestStorageServiceLifecycle: Murano's storage service gets its lifecycle calls as Murano
// sends them: init POST /{solution_id} with the settings, info on GET of the added service,
// update PUT, gc DELETE /{solution_id} with nothing else, on removal from the solution and on
// deletion of the solution. A script cannot name another solution.
func TestStorageServiceLifecycle(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	svc := newStandIn(t)
	svc.answer("GET /demo", 200, `{"quota":{"metricName":10},"usage":{"metricName":3}}`)
	if r := register(t, s, "", map[string]any{"name": "storageservice", "swagger": storageDoc(svc.host())}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	doc := loadOpenAPI(t, s)
	createSolution(t, s, "demo", nil)
	svc.took()

	add := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "storageservice", "parameters": map[string]any{"quota": map[string]any{"metricName": 10}}})
	if add.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", add.Status, add.Body)
	}
	svc.wantSeen(t, "init", `POST /demo {"quota":{"metricName":10}}`)

	get := func() hubtest.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/solutions/demo/services/storageservice", nil)
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		r := s.Send(t, req)
		if r.Status != http.StatusOK {
			t.Fatalf("get: %d %s", r.Status, r.Body)
		}
		validateExchange(t, doc, "/api/v1/solutions/{solution}/services/{service}", req, r)
		return r
	}
	if r := get(); !strings.Contains(string(r.Body), `"info":{"quota":{"metricName":10},"usage":{"metricName":3}}`) || strings.Contains(string(r.Body), "info_error") {
		t.Errorf("info not shown as the service answered: %s", r.Body)
	}
	svc.wantSeen(t, "info", "GET /demo")
	svc.answer("GET /demo", 500, `{"error":"usage store down"}`)
	if r := get(); !strings.Contains(string(r.Body), `"info_error":"storageservice refused getSolution: usage store down (status 500)"`) || strings.Contains(string(r.Body), `"info":`) {
		t.Errorf("a failed info call is not shown as such: %s", r.Body)
	}
	svc.wantSeen(t, "failed info", "GET /demo")

	s.Deploy(t, "demo", "GET", "/save", `return Storageservice.setData({data = "hello", solution_id = "other"})`)
	if r := call(t, s, "GET", "/apps/demo/save", 10*time.Second); r.Status != http.StatusOK {
		t.Fatalf("setData: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "a script's setData naming another solution", `POST /demo/data {"data":"hello"}`)

	if r := s.Do(t, "PUT", "/api/v1/solutions/demo/services/storageservice", s.AdminToken, map[string]any{"parameters": map[string]any{}}); r.Status != http.StatusOK {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "update without settings", `PUT /demo {}`)

	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo/services/storageservice", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "gc on removal", "DELETE /demo")

	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "storageservice"}); r.Status != http.StatusCreated {
		t.Fatalf("add again: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "init without settings", `POST /demo {}`)
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete solution: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "gc on deleting the solution", "DELETE /demo")
}

// TestLifecycleRefusedByHub: an init whose required parameter has no value is refused by the
// hub, which says so and does not call the service (400, not a 502 blaming it); a restricted
// configuration parameter cannot be given (422, as an unknown one); an error the service
// answers stays a 502 naming it.
func TestLifecycleRefusedByHub(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	svc := newStandIn(t)
	doc := swagger(svc.host(), `  /init:
    post:
      operationId: init
      x-exosite-restricted: true
      parameters:
        - {name: region, in: query, type: string, required: true}
        - {name: owner, in: header, type: string}
      responses: {"200": {description: ok}}
x-exosite-init: init
x-exosite-config-parameters:
  - {name: region, type: string}
  - {name: owner, type: string, x-exosite-restricted: true, x-exosite-from: solution_id}
`)
	if r := register(t, s, "", map[string]any{"name": "svc", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	svc.took()

	r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"})
	m := wantAPIError(t, r, http.StatusBadRequest, "parameters")
	if want := `svc.init was not called: missing required parameter "region" (no configuration parameter of that name)`; m["error"] != want {
		t.Errorf("error %q, want %q", m["error"], want)
	}
	r = s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc", "parameters": map[string]any{"region": "eu", "owner": "other"}})
	if m := wantAPIError(t, r, http.StatusUnprocessableEntity, "parameters.owner"); !strings.Contains(m["error"].(string), `"owner"`) {
		t.Errorf("error %v does not name owner", m["error"])
	}
	svc.wantSeen(t, "refused adds")
	if r := s.Do(t, "GET", "/api/v1/solutions/demo/services/svc", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("a refused add was kept: %d %s", r.Status, r.Body)
	}

	svc.answer("POST /init", 409, `{"error":"region eu is full"}`)
	r = s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc", "parameters": map[string]any{"region": "eu"}})
	if m := wantAPIError(t, r, http.StatusBadGateway, "parameters"); !strings.Contains(m["error"].(string), "svc refused init: region eu is full") {
		t.Errorf("the service's error is not named as its own: %v", m["error"])
	}
	svc.wantSeen(t, "init the service refuses", "POST /init?region=eu")
	svc.answer("POST /init", 200, `{}`)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc", "parameters": map[string]any{"region": "eu"}}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "init", "POST /init?region=eu")
}

// smsDoc is an SMS gateway after Murano's sms example (exosite/open_api_integration,
// examples/sms.yaml): the account in the path is restricted to the configured one.
func smsDoc(host string) string {
	return fmt.Sprintf(`swagger: "2.0"
info: {title: SMS Service, description: Sends SMS., version: "1.0.0"}
host: %s
schemes: [http]
x-exosite-health-path: /health
x-exosite-config-parameters:
  - {name: AccountSid, description: Account SID, type: string, required: true}
paths:
  /accounts/{AccountSid}/messages.json:
    parameters:
      - {name: AccountSid, description: Account Sid, in: path, type: string, required: true, x-exosite-internal-use: true}
    post:
      operationId: postMessage
      description: Sends an SMS message.
      parameters:
        - name: message
          in: body
          required: true
          description: The message.
          schema:
            type: object
            required: [To, From, Body]
            properties:
              To: {type: string}
              From: {type: string}
              Body: {type: string}
      responses: {"200": {description: Posted.}}
`, host)
}

// TestRestrictedAccount: Sms.postMessage{AccountSid="ACother", …} reaches the configured
// account, not the one the script names.
func TestRestrictedAccount(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	svc := newStandIn(t)
	if r := register(t, s, "", map[string]any{"name": "sms", "swagger": smsDoc(svc.host())}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "sms", "parameters": map[string]any{"AccountSid": "ACmine"}}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	svc.took()
	s.Deploy(t, "demo", "GET", "/send", `return Sms.postMessage({AccountSid = "ACother", To = "+16125550923", From = "+17635551234", Body = "hi"})`)
	if r := call(t, s, "GET", "/apps/demo/send", 10*time.Second); r.Status != http.StatusOK {
		t.Fatalf("postMessage: %d %s", r.Status, r.Body)
	}
	svc.wantSeen(t, "postMessage naming another account", `POST /accounts/ACmine/messages.json {"Body":"hi","From":"+17635551234","To":"+16125550923"}`)
}
