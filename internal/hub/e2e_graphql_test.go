package hub_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

type gqlAnswer struct {
	Status int
	Data   map[string]json.RawMessage
	Errors []struct {
		Message    string
		Path       []any
		Locations  []map[string]int
		Extensions map[string]any
	}
}

func (a gqlAnswer) code() string {
	if len(a.Errors) == 0 {
		return ""
	}
	c, _ := a.Errors[0].Extensions["code"].(string)
	return c
}

// into decodes data.key into v, failing on any error.
func (a gqlAnswer) into(t *testing.T, key string, v any) {
	t.Helper()
	if a.Status != http.StatusOK || len(a.Errors) > 0 {
		t.Fatalf("status %d, errors %+v", a.Status, a.Errors)
	}
	if err := json.Unmarshal(a.Data[key], v); err != nil {
		t.Fatalf("data.%s %s: %v", key, a.Data[key], err)
	}
}

func graphql(t *testing.T, s *hubtest.Server, token, solution, query string, vars map[string]any) gqlAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return graphqlRequest(t, s, token, solution, body)
}

// graphqlBody posts body as it is.
func graphqlBody(t *testing.T, s *hubtest.Server, token, body string) gqlAnswer {
	t.Helper()
	return graphqlRequest(t, s, token, "", []byte(body))
}

func graphqlRequest(t *testing.T, s *hubtest.Server, token, solution string, body []byte) gqlAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if solution != "" {
		req.Header.Set("X-Switchboard-Solution", solution)
	}
	r := s.Send(t, req)
	a := gqlAnswer{Status: r.Status}
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("status %d, body %s: %v", r.Status, r.Body, err)
	}
	return a
}

type gqlApp struct {
	ID        string
	Name      string
	EventAPIs struct {
		TotalCount int
		Data       []gqlEventAPI
	} `json:"eventAPIs"`
}

type gqlEventAPI struct {
	ID    string
	Group string
	Spec  struct {
		Data         *string
		Format       string
		FetchRequest *struct {
			URL    string
			Status struct{ Condition, Message string }
		}
	}
}

const appFields = `id name eventAPIs { totalCount data { id group spec { data format fetchRequest { url status { condition message } } } } }`

// TestGraphQLApplications: an application registered over GraphQL with two event APIs (one
// inline, one fetched from the application's server with Basic auth) is listed with paging,
// updated, given, changed and relieved of event APIs, refetched and unregistered; another
// solution's token finds none of it; introspection works; malformed and too deep queries are
// refused; deleting the solution deletes its applications.
func TestGraphQLApplications(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	spec := `{"asyncapi":"2.0.0","info":{"title":"shop","version":"1"},"channels":{"order/created":{"subscribe":{"message":{"payload":{"type":"object"}}}}}}`
	appSide := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "shop" || p != "pw" {
			http.Error(w, "who?", http.StatusUnauthorized)
			return
		}
		fetches.Add(1)
		w.Write([]byte(spec))
	}))
	defer appSide.Close()

	s := hubtest.Start(t)
	tokA := createSolution(t, s, "shop-a", nil)
	tokB := createSolution(t, s, "shop-b", nil)

	if a := graphql(t, s, "", "", `{ applications { totalCount } }`, nil); a.Status != http.StatusUnauthorized || a.code() != "UNAUTHENTICATED" {
		t.Fatalf("without a token: %d %+v", a.Status, a.Errors)
	}
	var app gqlApp
	graphql(t, s, tokA, "", `mutation($in: ApplicationInput!) { registerApplication(in: $in) { `+appFields+` } }`, map[string]any{"in": map[string]any{
		"name": "webshop", "description": "the shop", "labels": map[string]any{"team": "orders"},
		"eventAPIs": []any{
			map[string]any{"group": "orders", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": spec}, "version": map[string]any{"value": "v1"}},
			map[string]any{"group": "fetched", "spec": map[string]any{"eventSpecType": "ASYNC_API", "fetchRequest": map[string]any{"url": appSide.URL + "/asyncapi.json",
				"auth": map[string]any{"credential": map[string]any{"basic": map[string]any{"username": "shop", "password": "pw"}}}}}},
		},
	}}).into(t, "registerApplication", &app)
	if app.EventAPIs.TotalCount != 2 || *app.EventAPIs.Data[0].Spec.Data != spec {
		t.Fatalf("registered %+v", app)
	}
	fetched := app.EventAPIs.Data[1]
	if fetched.Spec.FetchRequest.Status.Condition != "SUCCEEDED" || fetched.Spec.Format != "JSON" || *fetched.Spec.Data != spec || fetches.Load() != 1 {
		t.Fatalf("fetched event API %+v (%d fetches)", fetched, fetches.Load())
	}
	// The admin registers in a solution it names.
	for _, n := range []string{"billing", "crm"} {
		var other gqlApp
		graphql(t, s, s.AdminToken, "shop-a", `mutation($n: String!) { registerApplication(in: {name: $n}) { id name } }`, map[string]any{"n": n}).into(t, "registerApplication", &other)
	}

	// Paging: three applications, two per page, by name.
	type page struct {
		Data     []gqlApp
		PageInfo struct {
			EndCursor   string
			HasNextPage bool
		}
		TotalCount int
	}
	var p page
	const listQ = `query($after: PageCursor) { applications(first: 2, after: $after) { data { id name } pageInfo { endCursor hasNextPage } totalCount } }`
	graphql(t, s, tokA, "", listQ, nil).into(t, "applications", &p)
	if len(p.Data) != 2 || p.Data[0].Name != "billing" || p.Data[1].Name != "crm" || !p.PageInfo.HasNextPage || p.TotalCount != 3 {
		t.Fatalf("page 1: %+v", p)
	}
	graphql(t, s, tokA, "", listQ, map[string]any{"after": p.PageInfo.EndCursor}).into(t, "applications", &p)
	if len(p.Data) != 1 || p.Data[0].Name != "webshop" || p.PageInfo.HasNextPage {
		t.Fatalf("page 2: %+v", p)
	}

	// Update, and event APIs added, updated, deleted, refetched.
	var up gqlApp
	graphql(t, s, tokA, "", `mutation($id: ID!) { updateApplication(id: $id, in: {name: "webshop2", description: "renamed"}) { id name } }`, map[string]any{"id": app.ID}).into(t, "updateApplication", &up)
	if up.Name != "webshop2" {
		t.Fatalf("updated %+v", up)
	}
	var added gqlEventAPI
	returns := "asyncapi: 2.0.0\ninfo: {title: returns, version: '1'}\nchannels:\n  return/requested:\n    subscribe:\n      message:\n        payload: {type: object}\n"
	graphql(t, s, tokA, "", `mutation($id: ID!, $spec: CLOB) { addEventAPI(applicationID: $id, in: {group: "returns", spec: {eventSpecType: ASYNC_API, data: $spec}}) { id group spec { format } } }`,
		map[string]any{"id": app.ID, "spec": returns}).into(t, "addEventAPI", &added)
	if added.Spec.Format != "YAML" {
		t.Fatalf("added %+v", added)
	}
	// What is not an AsyncAPI 2 document is refused, naming the field and what is missing.
	if a := graphql(t, s, tokA, "", `mutation($id: ID!) { updateEventAPI(id: $id, in: {group: "returns-v2", spec: {eventSpecType: ASYNC_API, data: "{}"}}) { id group } }`,
		map[string]any{"id": added.ID}); a.code() != "BAD_USER_INPUT" || a.Errors[0].Extensions["field"] != "in.spec.data" || !strings.Contains(a.Errors[0].Message, "asyncapi") {
		t.Fatalf("an empty spec: %+v", a.Errors)
	}
	var changed gqlEventAPI
	graphql(t, s, tokA, "", `mutation($id: ID!, $spec: CLOB) { updateEventAPI(id: $id, in: {group: "returns-v2", spec: {eventSpecType: ASYNC_API, data: $spec}}) { id group } }`,
		map[string]any{"id": added.ID, "spec": returns}).into(t, "updateEventAPI", &changed)
	if changed.ID != added.ID || changed.Group != "returns-v2" {
		t.Fatalf("updated event API %+v", changed)
	}
	var deleted gqlEventAPI
	graphql(t, s, tokA, "", `mutation($id: ID!) { deleteEventAPI(id: $id) { id } }`, map[string]any{"id": added.ID}).into(t, "deleteEventAPI", &deleted)
	if a := graphql(t, s, tokA, "", `query($id: ID!) { eventAPI(id: $id) { id } }`, map[string]any{"id": added.ID}); string(a.Data["eventAPI"]) != "null" {
		t.Fatalf("deleted event API still there: %s", a.Data["eventAPI"])
	}
	var refetched struct {
		FetchRequest struct{ Status struct{ Condition string } }
	}
	graphql(t, s, tokA, "", `mutation($id: ID!) { refetchEventAPISpec(eventID: $id) { data fetchRequest { status { condition } } } }`, map[string]any{"id": fetched.ID}).into(t, "refetchEventAPISpec", &refetched)
	if refetched.FetchRequest.Status.Condition != "SUCCEEDED" || fetches.Load() != 2 {
		t.Fatalf("refetched %+v (%d fetches)", refetched, fetches.Load())
	}

	// Solution B sees none of it, and cannot change it: NOT_FOUND, as for what does not exist.
	var none struct{ TotalCount int }
	graphql(t, s, tokB, "", `{ applications { totalCount } }`, nil).into(t, "applications", &none)
	if none.TotalCount != 0 {
		t.Fatalf("B lists %d applications", none.TotalCount)
	}
	if a := graphql(t, s, tokB, "", `query($id: ID!) { application(id: $id) { id } }`, map[string]any{"id": app.ID}); string(a.Data["application"]) != "null" {
		t.Fatalf("B reads A's application: %s", a.Data["application"])
	}
	if a := graphql(t, s, tokB, "", `mutation($id: ID!) { unregisterApplication(id: $id) { id } }`, map[string]any{"id": app.ID}); a.code() != "NOT_FOUND" {
		t.Fatalf("B unregisters A's application: %+v", a.Errors)
	}
	if a := graphql(t, s, tokB, "shop-a", `{ applications { totalCount } }`, nil); a.Status != http.StatusForbidden || a.code() != "FORBIDDEN" {
		t.Fatalf("B naming A's solution: %d %+v", a.Status, a.Errors)
	}

	// Introspection; a malformed query; a too deep one.
	var schema struct{ Types []struct{ Name string } }
	graphql(t, s, tokA, "", `{ __schema { types { name } } }`, nil).into(t, "__schema", &schema)
	if !strings.Contains(string(mustJSON(schema)), `"EventAPIDefinition"`) {
		t.Fatalf("introspection: %+v", schema)
	}
	if a := graphql(t, s, tokA, "", `{ applications { data { id }`, nil); a.code() != "GRAPHQL_PARSE_FAILED" || len(a.Errors[0].Locations) == 0 {
		t.Fatalf("malformed query: %d %+v", a.Status, a.Errors)
	}
	deep := "{ __schema { types { fields { type" + strings.Repeat(" { ofType", 14) + " { name }" + strings.Repeat(" }", 14) + " } } } }"
	if a := graphql(t, s, tokA, "", deep, nil); a.code() != "QUERY_TOO_DEEP" {
		t.Fatalf("too deep query: %d %+v", a.Status, a.Errors)
	}

	var gone gqlApp
	graphql(t, s, tokA, "", `mutation($id: ID!) { unregisterApplication(id: $id) { id name } }`, map[string]any{"id": app.ID}).into(t, "unregisterApplication", &gone)
	if gone.ID != app.ID {
		t.Fatalf("unregistered %+v", gone)
	}
	// Deleting the solution deletes its applications.
	if r := s.Do(t, "DELETE", "/api/v1/solutions/shop-a", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete solution: %d %s", r.Status, r.Body)
	}
	graphql(t, s, s.AdminToken, "", `{ applications { totalCount } }`, nil).into(t, "applications", &none)
	if none.TotalCount != 0 {
		t.Fatalf("%d applications left after deleting their solution", none.TotalCount)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
