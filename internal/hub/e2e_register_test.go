package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// fakeService is a service's host: its health path answers with health.
func fakeService(t *testing.T, health int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(health)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// register posts a registration with the hub's registration token and, unless empty,
// serviceToken in X-Switchboard-Service-Token.
func register(t *testing.T, s *hubtest.Server, serviceToken string, body any) hubtest.Response {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/register/", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+s.Hub.RegistrationToken())
	req.Header.Set("Content-Type", "application/json")
	if serviceToken != "" {
		req.Header.Set("X-Switchboard-Service-Token", serviceToken)
	}
	return s.Send(t, req)
}

func swagger(host, extra string) string { return hubtest.Swagger(host, extra) }

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	reg := s.Hub.RegistrationToken()
	up := strings.TrimPrefix(fakeService(t, 200).URL, "http://")
	down := strings.TrimPrefix(fakeService(t, 503).URL, "http://")
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hanging.Close)
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		field  string
		reason string
	}{
		{"no token", "", map[string]any{"name": "svc", "swagger": swagger(up, "")}, 401, "", "registration"},
		{"wrong token", "nope-nope-nope-nope", map[string]any{"name": "svc", "swagger": swagger(up, "")}, 401, "", "registration"},
		{"bad name", reg, map[string]any{"name": "Bad-Name", "swagger": swagger(up, "")}, 422, "name", ""},
		{"core name", reg, map[string]any{"name": "keystore", "swagger": swagger(up, "")}, 422, "name", ""},
		{"no document", reg, map[string]any{"name": "svc"}, 422, "swagger", "required"},
		{"garbage document", reg, map[string]any{"name": "svc", "swagger": "{{{ not yaml"}, 422, "swagger", ""},
		{"missing operationId", reg, map[string]any{"name": "svc", "swagger": strings.Replace(swagger(up, ""), "operationId: op", "summary: x", 1)}, 422, "swagger", "operationId"},
		{"health answers 503", reg, map[string]any{"name": "svc", "swagger": swagger(down, "")}, 422, "health", "health check: answered 503"},
		{"unreachable host", reg, map[string]any{"name": "svc", "swagger": swagger("127.0.0.1:1", "")}, 422, "health", "health check: connection refused"},
		{"hanging host", reg, map[string]any{"name": "svc", "swagger": swagger(strings.TrimPrefix(hanging.URL, "http://"), "")}, 422, "health", "health check: timed out"},
		{"swagger_url unreachable", reg, map[string]any{"name": "svc", "swagger_url": "http://127.0.0.1:1/doc.yaml"}, 422, "swagger_url", "swagger_url: connection refused"},
		{"unknown field", reg, map[string]any{"name": "svc", "swagger": swagger(up, ""), "color": "red"}, 400, "color", ""},
		{"huge document", reg, map[string]any{"name": "svc", "swagger": swagger(up, "") + "x-pad: " + strings.Repeat("a", 5<<20)}, 413, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := s.Do(t, "POST", "/api/v1/register/", tc.token, tc.body)
			if r.Status != tc.status {
				t.Fatalf("status %d %s, want %d", r.Status, r.Body, tc.status)
			}
			m := r.Map(t)
			if m["field"] != nil && m["field"] != tc.field || tc.field != "" && m["field"] != tc.field {
				t.Errorf("field %v, want %q (%s)", m["field"], tc.field, r.Body)
			}
			if msg, _ := m["error"].(string); !strings.Contains(msg, tc.reason) {
				t.Errorf("error %q, want it to say %q", msg, tc.reason)
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
	// Nothing was registered, and a good registration still works, then updates.
	if r := s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Fatalf("a refused service is in the catalog: %d %s", r.Status, r.Body)
	}
	var svcToken string
	for i, want := range []string{"registered", "updated"} {
		r := register(t, s, svcToken, map[string]any{"name": "svc", "swagger": swagger(up, "")})
		if r.Status/100 != 2 || r.Map(t)["status"] != want {
			t.Fatalf("registration %d: %d %s, want %s", i, r.Status, r.Body, want)
		}
		svcToken, _ = r.Map(t)["token"].(string)
	}
	var svc struct{ Version int }
	s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil).JSON(t, &svc)
	if svc.Version != 2 {
		t.Fatalf("version after an update = %d, want 2", svc.Version)
	}
	// Deregistration removes it.
	if r := s.Do(t, "DELETE", "/api/v1/services/svc", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("deregister: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Fatalf("after deregistration: %d %s", r.Status, r.Body)
	}
}

// TestDynamicCallCarriesOrigin: a script's call to a service carries the solution, the
// endpoint request's id and trace, and a signature made with the service's token.
func TestDynamicCallCarriesOrigin(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/op" {
			seen <- r.Header.Clone()
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true}`)) //nolint:errcheck // test
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": swagger(host, "")}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	s.Deploy(t, "demo", "GET", "/call", `return Svc.op({})`)
	req, _ := http.NewRequest("GET", s.URL+"/apps/demo/call", nil)
	req.Header.Set("X-Request-Id", "req-123")
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if r := s.Send(t, req); r.Status != 200 || string(r.Body) != `{"ok":true}` {
		t.Fatalf("call: %d %s", r.Status, r.Body)
	}
	h := <-seen
	if h.Get("X-Switchboard-Solution") != "demo" || h.Get("X-Request-Id") != "req-123" {
		t.Errorf("solution %q request id %q", h.Get("X-Switchboard-Solution"), h.Get("X-Request-Id"))
	}
	if tp := h.Get("traceparent"); !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") || strings.Contains(tp, "b7ad6b7169203331") {
		t.Errorf("traceparent %q: want the same trace with a new span", tp)
	}
	if h.Get("X-Switchboard-Signature") == "" || h.Get("X-Switchboard-Timestamp") == "" {
		t.Errorf("unsigned call: %v", h)
	}
	m := string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body)
	if v, ok := metricValue(m, "switchboard_service_calls_total", map[string]string{"solution": "demo", "service": "svc", "code": "200"}); !ok || v != 1 {
		t.Errorf("switchboard_service_calls_total for the call = %v, %v; want 1", v, ok)
	}
}

// TestServiceSecretsAndDetails: secret parameters are never returned, and where a service
// runs is shown to the admin only.
func TestServiceSecretsAndDetails(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	host := strings.TrimPrefix(fakeService(t, 200).URL, "http://")
	params := `x-exosite-config-parameters:
  - {name: region, type: string, default: eu}
  - {name: apikey, type: string, format: password}
`
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": swagger(host, params)}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	tok := createSolution(t, s, "demo", nil)
	r := s.Do(t, "POST", "/api/v1/solutions/demo/services", tok, map[string]any{"service": "svc", "parameters": map[string]any{"apikey": "hunter2"}})
	if r.Status != http.StatusCreated || strings.Contains(string(r.Body), "hunter2") || !strings.Contains(string(r.Body), `"region":"eu"`) {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/api/v1/solutions/demo/services", "/api/v1/solutions/demo/services/SVC"} {
		if r := s.Do(t, "GET", path, tok, nil); r.Status != 200 || strings.Contains(string(r.Body), "hunter2") {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	s.Deploy(t, "demo", "GET", "/params", `return Config.getParameters({service="svc"})`)
	if r := call(t, s, "GET", "/apps/demo/params", 10*time.Second); r.Status != 200 || strings.Contains(string(r.Body), "hunter2") {
		t.Errorf("Config.getParameters: %d %s", r.Status, r.Body)
	}
	// Neither base_url nor the document's servers tell a solution where the service runs.
	var seen struct {
		BaseURL  string         `json:"base_url"`
		Document map[string]any `json:"document"`
	}
	r = s.Do(t, "GET", "/api/v1/services/svc", tok, nil)
	r.JSON(t, &seen)
	if r.Status != 200 || strings.Contains(string(r.Body), host) || seen.BaseURL != "" || seen.Document["servers"] != nil || seen.Document["paths"] == nil {
		t.Errorf("a solution token sees where the service runs (or no document): %d %s", r.Status, r.Body)
	}
	seen.Document = nil
	r = s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil)
	r.JSON(t, &seen)
	if seen.BaseURL != "http://"+host || !strings.Contains(fmt.Sprint(seen.Document["servers"]), host) {
		t.Errorf("the admin does not see where the service runs: %s", r.Body)
	}
}

// TestUpdateKeepsSecrets: a solution's secret parameter, never shown, survives an update that
// does not mention it; null removes it.
func TestUpdateKeepsSecrets(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	updates := make(chan map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/update" {
			var m map[string]any
			json.NewDecoder(r.Body).Decode(&m) //nolint:errcheck // checked by the test's reader
			updates <- m
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	doc := fmt.Sprintf(`swagger: "2.0"
info: {title: t, version: "1"}
host: %s
schemes: [http]
x-exosite-health-path: /health
x-exosite-update: update
x-exosite-config-parameters:
  - {name: region, type: string, default: eu}
  - {name: apikey, type: string, format: password}
paths:
  /update:
    post:
      operationId: update
      x-exosite-restricted: true
      parameters:
        - {name: body, in: body, schema: {type: object}}
      responses: {"200": {description: ok}}
`, strings.TrimPrefix(srv.URL, "http://"))
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc", "parameters": map[string]any{"apikey": "hunter2"}}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	for _, step := range []struct {
		params map[string]any
		want   map[string]any
	}{
		{map[string]any{"region": "us"}, map[string]any{"region": "us", "apikey": "hunter2"}},
		{map[string]any{}, map[string]any{"region": "eu", "apikey": "hunter2"}},
		{map[string]any{"apikey": "new"}, map[string]any{"region": "eu", "apikey": "new"}},
		{map[string]any{"apikey": nil}, map[string]any{"region": "eu"}},
	} {
		r := s.Do(t, "PUT", "/api/v1/solutions/demo/services/svc", s.AdminToken, map[string]any{"parameters": step.params})
		if r.Status != http.StatusOK || strings.Contains(string(r.Body), "hunter2") || strings.Contains(string(r.Body), `"new"`) {
			t.Fatalf("update with %v: %d %s", step.params, r.Status, r.Body)
		}
		if got := <-updates; !reflect.DeepEqual(got, step.want) {
			t.Errorf("update with %v: the service got %v; want %v", step.params, got, step.want)
		}
	}
}

// TestConcurrentAddsInitOnce: two requests adding the same service at once run its init hook
// once; the second is an update.
func TestConcurrentAddsInitOnce(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	var mu sync.Mutex
	hooks := map[string]int{}
	inHook := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/init" || r.URL.Path == "/update" {
			mu.Lock()
			hooks[r.URL.Path]++
			mu.Unlock()
			select {
			case inHook <- struct{}{}: // one hook at a time: a second one overlapping fails below
			default:
				t.Errorf("%s ran while another hook was running", r.URL.Path)
				return
			}
			// A window for an overlapping hook to arrive: without the lock it does, at once.
			time.Sleep(200 * time.Millisecond)
			<-inHook
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	doc := fmt.Sprintf(`swagger: "2.0"
info: {title: t, version: "1"}
host: %s
schemes: [http]
x-exosite-health-path: /health
x-exosite-init: init
x-exosite-update: update
paths:
  /init: {post: {operationId: init, x-exosite-restricted: true, responses: {"200": {description: ok}}}}
  /update: {post: {operationId: update, x-exosite-restricted: true, responses: {"200": {description: ok}}}}
`, strings.TrimPrefix(srv.URL, "http://"))
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			codes <- s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"}).Status
		}()
	}
	got := map[int]int{<-codes: 1}
	got[<-codes]++
	if got[http.StatusCreated] != 1 || got[http.StatusOK] != 1 {
		t.Errorf("statuses %v; want one 201 and one 200", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if hooks["/init"] != 1 || hooks["/update"] != 1 {
		t.Errorf("hooks run: %v; want init once, then update once", hooks)
	}
}

// TestRegisterTakeover: with the registration token alone, a registered name cannot be taken:
// the second registrant is refused, its host is never called, and the service keeps its host,
// token and document. Its own token, or the admin token, updates it; deregistered, the name is
// new again.
func TestRegisterTakeover(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	owner := strings.TrimPrefix(fakeService(t, 200).URL, "http://")
	var hits sync.Map
	intruderSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(intruderSrv.Close)
	intruder := strings.TrimPrefix(intruderSrv.URL, "http://")

	r := register(t, s, "", map[string]any{"name": "svc", "swagger": swagger(owner, "")})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	token, _ := r.Map(t)["token"].(string)
	before := s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil)

	for _, tc := range []struct{ name, serviceToken string }{
		{"registration token only", ""},
		{"a wrong service token", token + "x"},
		{"a solution's token", createSolution(t, s, "demo", nil)},
	} {
		r := register(t, s, tc.serviceToken, map[string]any{"name": "svc", "swagger": swagger(intruder, "")})
		msg, _ := r.Map(t)["error"].(string)
		if r.Status != http.StatusForbidden || !strings.Contains(msg, "X-Switchboard-Service-Token") {
			t.Errorf("%s: %d %s; want 403 naming X-Switchboard-Service-Token", tc.name, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), token) || strings.Contains(string(r.Body), owner) || strings.Contains(string(r.Body), `"token"`) {
			t.Errorf("%s: the refusal reveals the service: %s", tc.name, r.Body)
		}
	}
	hits.Range(func(k, _ any) bool { t.Errorf("the hub called the second registrant's host: %v", k); return true })
	// Health aside (a periodic check may run meanwhile), the service is as it was.
	type seen struct {
		Version  int
		BaseURL  string `json:"base_url"`
		Document json.RawMessage
	}
	var was, is seen
	before.JSON(t, &was)
	after := s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil)
	after.JSON(t, &is)
	if was.Version != 1 || is.Version != 1 || is.BaseURL != was.BaseURL || !bytes.Equal(is.Document, was.Document) {
		t.Errorf("refused registrations changed the service:\nbefore %s\nafter  %s", before.Body, after.Body)
	}
	if s.Hub.ServiceToken("svc") != token {
		t.Error("refused registrations changed the service's token")
	}

	// The owner moves it, keeping its token; the admin token may stand in for it.
	for _, tc := range []struct{ name, serviceToken, host string }{
		{"own token", token, intruder},
		{"admin token", s.AdminToken, owner},
	} {
		r := register(t, s, tc.serviceToken, map[string]any{"name": "svc", "swagger": swagger(tc.host, "")})
		if r.Status != http.StatusOK || r.Map(t)["token"] != token {
			t.Fatalf("%s: %d %s; want 200 with the same token", tc.name, r.Status, r.Body)
		}
		var v struct {
			BaseURL string `json:"base_url"`
		}
		s.Do(t, "GET", "/api/v1/services/svc", s.AdminToken, nil).JSON(t, &v)
		if v.BaseURL != "http://"+tc.host {
			t.Errorf("%s: base_url %s, want http://%s", tc.name, v.BaseURL, tc.host)
		}
	}

	// Deregistered, the name is anybody's again, with a new token.
	if r := s.Do(t, "DELETE", "/api/v1/services/svc", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("deregister: %d %s", r.Status, r.Body)
	}
	r = register(t, s, "", map[string]any{"name": "svc", "swagger": swagger(intruder, "")})
	if r.Status != http.StatusCreated || r.Map(t)["token"] == token {
		t.Fatalf("registration after deregistration: %d %s; want 201 with a new token", r.Status, r.Body)
	}
}
