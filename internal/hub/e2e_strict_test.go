package hub_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// strictFixture is a hub with a solution "demo" that added a registered service "svc".
func strictFixture(t *testing.T, opts ...func(*hub.Config)) (*hubtest.Server, string) {
	t.Helper()
	s := hubtest.Start(t, opts...)
	host := strings.TrimPrefix(fakeService(t, 200).URL, "http://")
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "svc", "swagger": swagger(host, "")}); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "demo", nil)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/services", s.AdminToken, map[string]any{"service": "svc"}); r.Status != http.StatusCreated {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	return s, "svc " + s.Hub.ServiceToken("svc")
}

// TestDuplicateKeys: a JSON body holding a key twice in one object is refused with 400 naming
// the key's path, on every API route that takes a body.
func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	s, svcAuth := strictFixture(t)
	doc := loadOpenAPI(t, s)
	tests := []struct {
		method, template, path, auth, body, field string
	}{
		{"POST", "/api/v1/solutions", "/api/v1/solutions", "admin", `{"id":"x","id":"y"}`, "id"},
		{"PATCH", "/api/v1/solutions/{solution}", "/api/v1/solutions/demo", "admin", `{"limits":{"timeout_ms":1000,"timeout_ms":2000}}`, "limits.timeout_ms"},
		{"POST", "/api/v1/solutions/{solution}/endpoints", "/api/v1/solutions/demo/endpoints", "admin", `{"method":"GET","path":"/a","path":"/b","script":"return 1"}`, "path"},
		{"POST", "/api/v1/solutions/{solution}/handlers", "/api/v1/solutions/demo/handlers", "admin", `{"name":"h","topics":["a.b"],"script":"return 1","name":"g"}`, "name"},
		{"POST", "/api/v1/solutions/{solution}/check/endpoint", "/api/v1/solutions/demo/check/endpoint", "admin", `{"method":"GET","path":"/a","path":"/b","script":"return 1"}`, "path"},
		{"POST", "/api/v1/solutions/{solution}/check/handler", "/api/v1/solutions/demo/check/handler", "admin", `{"name":"h","topics":["a.b"],"script":"return 1","name":"g"}`, "name"},
		{"POST", "/api/v1/solutions/{solution}/run", "/api/v1/solutions/demo/run", "admin", `{"script":"return 1","script":"return 2"}`, "script"},
		{"POST", "/api/v1/register/", "/api/v1/register/", "registration", `{"name":"svc2","name":"svc3","swagger":"x"}`, "name"},
		{"POST", "/api/v1/register", "/api/v1/register", "registration", `{"name":"svc2","swagger":{"a":1,"a":2}}`, "swagger.a"},
		{"POST", "/api/v1/solutions/{solution}/services", "/api/v1/solutions/demo/services", "admin", `{"service":"svc","parameters":{"k":1,"k":2}}`, "parameters.k"},
		{"PUT", "/api/v1/solutions/{solution}/services/{service}", "/api/v1/solutions/demo/services/svc", "admin", `{"parameters":{"k":[{"x":1,"x":1}]}}`, "parameters.k[0].x"},
		{"POST", "/api/v1/call/{solution}/{service}/{operation}", "/api/v1/call/demo/keystore/get", "service", `{"key":"a","key":"b"}`, "key"},
		{"POST", "/api/v1/trigger/{solution}/{service}/{event}", "/api/v1/trigger/demo/svc/ev", "service", `{"n":1,"d":{"k":1,"k":2}}`, "d.k"},
		{"POST", "/api/v1/solutions/{solution}/events", "/api/v1/solutions/demo/events", "admin", `{"topic":"a.b","data":{"k":1,"k":2}}`, "data.k"},
		{"PUT", "/api/v1/solutions/{solution}/keystore/keys/{key}", "/api/v1/solutions/demo/keystore/keys/k", "admin", `{"value":"a","value":"b"}`, "value"},
		{"POST", "/api/v1/solutions/{solution}/deadletters/replay", "/api/v1/solutions/demo/deadletters/replay", "admin", `{"handler":"a","handler":"b"}`, "handler"},
		{"POST", "/api/v1/solutions/{solution}/connectors", "/api/v1/solutions/demo/connectors", "admin", `{"name":"c","type":"cron","topic":"a.b","config":{"schedule":"@every 1s","schedule":"@daily"}}`, "config.schedule"},
		{"POST", "/api/v1/solutions/{solution}/automations/{type}", "/api/v1/solutions/demo/automations/x", "admin", `{"recipient":"a@example.com","recipient":"b@example.com"}`, "recipient"},
		{"PUT", "/api/v1/solutions/{solution}/connectors/{name}", "/api/v1/solutions/demo/connectors/c", "admin", `{"type":"cron","topic":"a.b","topic":"c.d"}`, "topic"},
		{"POST", "/api/v1/solutions/{solution}/hosted-services", "/api/v1/solutions/demo/hosted-services", "admin", `{"name":"A","kind":"lua","code":"return {}","code":"return 1"}`, "code"},
		{"POST", "/api/v1/solutions/{solution}/hosted-services/{name}/versions", "/api/v1/solutions/demo/hosted-services/A/versions", "admin", `{"update":"minor","update":"major","code":"x"}`, "update"},
		{"POST", "/api/v1/solutions/{solution}/flows", "/api/v1/solutions/demo/flows", "admin", `{"name":"f","instances":[{"name":"a","name":"b"}]}`, "instances[0].name"},
		{"PUT", "/api/v1/solutions/{solution}/flows/{name}", "/api/v1/solutions/demo/flows/f", "admin", `{"description":"a","description":"b"}`, "description"},
		{"POST", "/api/v1/solutions/{solution}/nodes", "/api/v1/solutions/demo/nodes", "admin", `{"name":"n","name":"m"}`, "name"},
		{"PATCH", "/api/v1/solutions/{solution}/nodes/{name}", "/api/v1/solutions/demo/nodes/n", "admin", `{"disabled":true,"disabled":false}`, "disabled"},
		{"POST", "/api/v1/nodes/signin", "/api/v1/nodes/signin", "none", `{"solution":"demo","node":"n","token":"a","token":"b"}`, "token"},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.method+" "+tc.template] = true
		t.Run(tc.method+" "+tc.template, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, bytes.NewReader([]byte(tc.body)))
			req.Header.Set("Content-Type", "application/json")
			switch tc.auth {
			case "admin":
				req.Header.Set("Authorization", "Bearer "+s.AdminToken)
			case "registration":
				req.Header.Set("Authorization", "Bearer "+s.Hub.RegistrationToken())
			case "service":
				req.Header.Set("Authorization", svcAuth)
			}
			r := s.Send(t, req)
			m := wantAPIError(t, r, http.StatusBadRequest, "")
			if m["field"] != tc.field || !strings.Contains(m["error"].(string), `duplicate key "`+tc.field+`"`) {
				t.Errorf("error %s, want the duplicate %q named", r.Body, tc.field)
			}
		})
	}
	// GraphQL answers in its own errors shape, with the field in extensions.
	covered["POST /api/v1/graphql"] = true
	t.Run("POST /api/v1/graphql", func(t *testing.T) {
		a := graphqlBody(t, s, s.AdminToken, `{"query":"{ applications { totalCount } }","query":"{ __typename }"}`)
		if a.Status != http.StatusBadRequest || a.code() != "BAD_USER_INPUT" || a.Errors[0].Extensions["field"] != "query" || !strings.Contains(a.Errors[0].Message, `duplicate key "query"`) {
			t.Errorf("status %d, errors %+v; want the duplicate query named", a.Status, a.Errors)
		}
	})
	// Every documented operation that takes a body is in the table.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && !covered[method+" "+path] {
				t.Errorf("%s %s takes a body but is not tested for duplicate keys", method, path)
			}
		}
	}
}

// TestOpenAPIHandlersAndTrigger: the handler and trigger routes answer as openapi.json says.
func TestOpenAPIHandlersAndTrigger(t *testing.T) {
	t.Parallel()
	s, svcAuth := strictFixture(t)
	doc := loadOpenAPI(t, s)
	admin := "Bearer " + s.AdminToken
	exchanges := []struct {
		name, method, template, path, auth, body string
		status                                   int
	}{
		{"deploy handler", "POST", "/api/v1/solutions/{solution}/handlers", "/api/v1/solutions/demo/handlers", admin, `{"name":"on-ev","topics":["svc.ev"],"script":"return {got = event.data}"}`, 201},
		{"replace handler", "POST", "/api/v1/solutions/{solution}/handlers", "/api/v1/solutions/demo/handlers", admin, `{"name":"on-ev","topics":["svc.ev"],"script":"return {got = event.data.n}"}`, 200},
		{"deploy broken handler", "POST", "/api/v1/solutions/{solution}/handlers", "/api/v1/solutions/demo/handlers", admin, `{"name":"bad","topics":["svc.ev"],"script":"return ="}`, 400},
		{"list handlers", "GET", "/api/v1/solutions/{solution}/handlers", "/api/v1/solutions/demo/handlers", admin, "", 200},
		{"get handler", "GET", "/api/v1/solutions/{solution}/handlers/{name}", "/api/v1/solutions/demo/handlers/on-ev", admin, "", 200},
		{"get unknown handler", "GET", "/api/v1/solutions/{solution}/handlers/{name}", "/api/v1/solutions/demo/handlers/nope", admin, "", 404},
		{"trigger", "POST", "/api/v1/trigger/{solution}/{service}/{event}", "/api/v1/trigger/demo/svc/ev", svcAuth, `{"n":1}`, 200},
		{"trigger async", "POST", "/api/v1/trigger/{solution}/{service}/{event}", "/api/v1/trigger/demo/svc/ev?mode=async", svcAuth, `{"n":2}`, 202},
		{"trigger without handler", "POST", "/api/v1/trigger/{solution}/{service}/{event}", "/api/v1/trigger/demo/svc/other", svcAuth, `{}`, 404},
		{"trigger with a bad mode", "POST", "/api/v1/trigger/{solution}/{service}/{event}", "/api/v1/trigger/demo/svc/ev?mode=later", svcAuth, `{}`, 400},
		{"trigger without auth", "POST", "/api/v1/trigger/{solution}/{service}/{event}", "/api/v1/trigger/demo/svc/ev", "", `{}`, 401},
		{"delete handler", "DELETE", "/api/v1/solutions/{solution}/handlers/{name}", "/api/v1/solutions/demo/handlers/on-ev", admin, "", 204},
		{"delete unknown handler", "DELETE", "/api/v1/solutions/{solution}/handlers/{name}", "/api/v1/solutions/demo/handlers/on-ev", admin, "", 404},
	}
	for _, ex := range exchanges {
		t.Run(ex.name, func(t *testing.T) {
			newReq := func() *http.Request {
				req, _ := http.NewRequest(ex.method, s.URL+ex.path, strings.NewReader(ex.body))
				if ex.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if ex.auth != "" {
					req.Header.Set("Authorization", ex.auth)
				}
				return req
			}
			r := s.Send(t, newReq())
			if r.Status != ex.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, ex.status)
			}
			validateExchange(t, doc, ex.template, newReq(), r)
		})
	}
}

// validateExchange checks an answer (and, when it succeeded, the request) against the document.
func validateExchange(t *testing.T, doc *openapi3.T, template string, req *http.Request, r hubtest.Response) {
	t.Helper()
	item := doc.Paths.Value(template)
	if item == nil || item.GetOperation(req.Method) == nil {
		t.Fatalf("%s %s is not documented", req.Method, template)
	}
	tplSegs, pathSegs := strings.Split(template, "/"), strings.Split(req.URL.Path, "/")
	params := map[string]string{}
	for i, seg := range tplSegs {
		if strings.HasPrefix(seg, "{") && i < len(pathSegs) {
			params[strings.Trim(seg, "{}")] = pathSegs[i]
		}
	}
	route := &routers.Route{Spec: doc, Path: template, PathItem: item, Method: req.Method, Operation: item.GetOperation(req.Method)}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true},
	}
	if r.Status < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("the server accepted a request the document refuses: %v", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.Status, Header: r.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("response %d %s does not match the document: %v", r.Status, r.Body, err)
	}
}

// TestStrictJSONBounds: over HTTP, keys naming one field in different case are refused as
// duplicates where the body fills a struct, kept where it is free-form data; and 4 MiB bodies
// built to cost more to read than they weigh (nesting a million deep, a million values) are
// refused fast on every kind of route — management, register, trigger and call.
func TestStrictJSONBounds(t *testing.T) {
	t.Parallel()
	s, svcAuth := strictFixture(t)
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, `{"name":"on-ev","topics":["svc.ev"],"script":"return event.data"}`); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	const size = 4<<20 - 64 // under --max-body-bytes
	deepArrays := `{"swagger":` + strings.Repeat("[", size-12)
	deepObjects := strings.Repeat(`{"a":`, size/5)
	manyValues := `{"d":[` + strings.Repeat("0,", size/2-8) + `0]}`
	tests := []struct {
		name, method, path, auth, body string
		status                         int
		field, msg                     string
	}{
		{"endpoint path in two cases", "POST", "/api/v1/solutions/demo/endpoints", "admin", `{"method":"GET","path":"/a","PATH":"/b","script":"return 1"}`, 400, "PATH", `duplicate key "PATH" (same as "path" ignoring case)`},
		{"limits in two cases", "PATCH", "/api/v1/solutions/demo", "admin", `{"limits":{"timeout_ms":1000,"Timeout_Ms":2000}}`, 400, "limits.Timeout_Ms", `(same as "timeout_ms" ignoring case)`},
		{"register name in two cases", "POST", "/api/v1/register/", "registration", `{"name":"svc2","Name":"svc3","swagger":"x"}`, 400, "Name", `(same as "name" ignoring case)`},
		{"service parameters keep exact keys", "PUT", "/api/v1/solutions/demo/services/svc", "admin", `{"parameters":{"k":1,"K":2}}`, 200, "", ""},
		{"trigger data keeps exact keys", "POST", "/api/v1/trigger/demo/svc/ev", "service", `{"k":1,"K":2}`, 200, "", `"K":2`},
		{"management route, 4 MiB of [", "POST", "/api/v1/solutions", "admin", deepArrays, 400, "", "nests deeper than 200 levels"},
		{"register, 4 MiB of [", "POST", "/api/v1/register/", "registration", deepArrays, 400, "", "nests deeper than 200 levels"},
		{"register, 4 MiB of {\"a\":", "POST", "/api/v1/register/", "registration", deepObjects, 400, "", "nests deeper than 200 levels"},
		{"trigger, 4 MiB of {\"a\":", "POST", "/api/v1/trigger/demo/svc/ev", "service", deepObjects, 400, "", "nests deeper than 200 levels"},
		{"call, 4 MiB of [", "POST", "/api/v1/call/demo/keystore/get", "service", deepArrays, 400, "", "nests deeper than 200 levels"},
		{"management route, 2M values", "POST", "/api/v1/solutions", "admin", manyValues, 413, "", "more than 100000 values"},
		{"trigger, 2M values", "POST", "/api/v1/trigger/demo/svc/ev", "service", manyValues, 413, "", "more than 100000 values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			switch tc.auth {
			case "admin":
				req.Header.Set("Authorization", "Bearer "+s.AdminToken)
			case "registration":
				req.Header.Set("Authorization", "Bearer "+s.Hub.RegistrationToken())
			case "service":
				req.Header.Set("Authorization", svcAuth)
			}
			start := time.Now()
			r := s.Send(t, req)
			t.Logf("%d bytes: %d in %s", len(tc.body), r.Status, time.Since(start))
			if tc.status < 300 {
				if r.Status != tc.status || !strings.Contains(string(r.Body), tc.msg) {
					t.Fatalf("%d %s, want %d with %s", r.Status, r.Body, tc.status, tc.msg)
				}
				return
			}
			m := wantAPIError(t, r, tc.status, "")
			if got, _ := m["field"].(string); got != tc.field || !strings.Contains(m["error"].(string), tc.msg) {
				t.Errorf("error %s, want field %q and %q", r.Body, tc.field, tc.msg)
			}
		})
	}
}
