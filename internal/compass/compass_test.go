package compass

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/bus"
)

// tokens are the test server's bearer tokens and whom they authenticate.
var tokens = map[string]Caller{"admin": {Admin: true}, "tok-a": {Solution: "sol-a"}, "tok-b": {Solution: "sol-b"}}

// fakeIssuer issues made-up credentials and remembers them.
type fakeIssuer struct {
	mu     sync.Mutex
	issued map[string][]ClientCredentials // by solution/application
}

func (f *fakeIssuer) IssueClientCredentials(_ context.Context, sol, app string) (ClientCredentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := sol + "/" + app
	c := ClientCredentials{ID: fmt.Sprintf("cred-%s-%d", sol, len(f.issued[key])), ClientID: "client-" + app, ClientSecret: "secret", TokenURL: "https://hub.example/oauth2/token"}
	if f.issued == nil {
		f.issued = map[string][]ClientCredentials{}
	}
	f.issued[key] = append(f.issued[key], c)
	return c, nil
}

func (f *fakeIssuer) ClientCredentialsOf(sol, app string) []ClientCredentials {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ClientCredentials
	for _, c := range f.issued[sol+"/"+app] {
		c.ClientSecret = ""
		out = append(out, c)
	}
	return out
}

type fetcherFunc func(context.Context, application.FetchRequest, int) ([]byte, error)

func (f fetcherFunc) Fetch(ctx context.Context, fr application.FetchRequest, max int) ([]byte, error) {
	return f(ctx, fr, max)
}

// newServer is the GraphQL handler over a fresh store, behind a fake of the API's
// authentication (the API's own is tested in internal/api).
func newServer(t *testing.T, issuer CredentialIssuer) *httptest.Server {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fetch := fetcherFunc(func(_ context.Context, fr application.FetchRequest, _ int) ([]byte, error) {
		return []byte("asyncapi: 2.0.0\ninfo: {title: fetched, version: '1'}\nchannels: {}\n"), nil
	})
	store, err := application.OpenStore(context.Background(), b, application.Options{Logger: log, Fetcher: fetch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	h := New(Options{Store: store, Logger: log, Issuer: issuer, SolutionExists: func(id string) bool { return id == "sol-a" || id == "sol-b" }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]; ok {
			r = r.WithContext(WithCaller(r.Context(), c))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type gqlError struct {
	Message    string           `json:"message"`
	Path       []any            `json:"path"`
	Locations  []map[string]int `json:"locations"`
	Extensions map[string]any   `json:"extensions"`
}

type result struct {
	status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

// code is the extensions.code of the only error, or "" when there is none.
func (r result) code(t *testing.T) string {
	t.Helper()
	switch len(r.Errors) {
	case 0:
		return ""
	case 1:
		c, _ := r.Errors[0].Extensions["code"].(string)
		return c
	}
	t.Fatalf("%d errors: %+v", len(r.Errors), r.Errors)
	return ""
}

// into decodes the data under key into v, failing on any error.
func (r result) into(t *testing.T, key string, v any) {
	t.Helper()
	if len(r.Errors) > 0 || r.status != http.StatusOK {
		t.Fatalf("status %d, errors %+v", r.status, r.Errors)
	}
	if err := json.Unmarshal(r.Data[key], v); err != nil {
		t.Fatalf("data.%s: %v (%s)", key, err, r.Data[key])
	}
}

func do(t *testing.T, srv *httptest.Server, token, solution, body string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if solution != "" {
		req.Header.Set(SolutionHeader, solution)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("status %d, body %s: %v", resp.StatusCode, raw, err)
	}
	return res
}

func gql(t *testing.T, srv *httptest.Server, token, query string, vars map[string]any) result {
	t.Helper()
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(map[string]any{"query": query, "variables": vars})
	return do(t, srv, token, "", b.String())
}

const registerQ = `mutation($in: ApplicationInput!) { registerApplication(in: $in) { id name labels eventAPIs { totalCount data { id group spec { data type format fetchRequest { url mode status { condition timestamp } } } version { value deprecated } } } } }`

type app struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Labels    map[string]any `json:"labels"`
	EventAPIs struct {
		TotalCount int `json:"totalCount"`
		Data       []struct {
			ID    string `json:"id"`
			Group string `json:"group"`
			Spec  struct {
				Data         *string `json:"data"`
				Type, Format string
				FetchRequest *struct {
					URL, Mode string
					Status    struct{ Condition, Timestamp string }
				} `json:"fetchRequest"`
			} `json:"spec"`
		} `json:"data"`
	} `json:"eventAPIs"`
}

func register(t *testing.T, srv *httptest.Server, token, name string) app {
	t.Helper()
	var a app
	gql(t, srv, token, registerQ, map[string]any{"in": map[string]any{"name": name, "labels": map[string]any{"env": "test"},
		"eventAPIs": []any{
			map[string]any{"group": "orders", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": `{"asyncapi":"2.0.0"}`}, "version": map[string]any{"value": "v1"}},
			map[string]any{"spec": map[string]any{"eventSpecType": "ASYNC_API", "fetchRequest": map[string]any{"url": "http://app.example/asyncapi.yaml"}}},
		}}}).into(t, "registerApplication", &a)
	return a
}

// TestRegisterAndQuery: an application registered with two event APIs (inline, fetched) is
// listed with paging and read back with its specs' data.
func TestRegisterAndQuery(t *testing.T) {
	srv := newServer(t, nil)
	a := register(t, srv, "tok-a", "orders")
	if a.EventAPIs.TotalCount != 2 || a.Labels["env"] != "test" {
		t.Fatalf("registered %+v", a)
	}
	inl, fet := a.EventAPIs.Data[0], a.EventAPIs.Data[1]
	if inl.Spec.Format != "JSON" || inl.Spec.Data == nil || inl.Group != "orders" {
		t.Fatalf("inline event API %+v", inl)
	}
	if fet.Spec.Format != "YAML" || fet.Spec.FetchRequest.Status.Condition != "SUCCEEDED" || fet.Spec.FetchRequest.Mode != "SINGLE" || !strings.Contains(*fet.Spec.Data, "fetched") {
		t.Fatalf("fetched event API %+v", fet)
	}
	for _, n := range []string{"billing", "shipping"} {
		register(t, srv, "tok-a", n)
	}
	var page struct {
		Data     []app
		PageInfo struct {
			StartCursor, EndCursor string
			HasNextPage            bool
		}
		TotalCount int
	}
	const listQ = `query($after: PageCursor) { applications(first: 2, after: $after) { data { id name } pageInfo { startCursor endCursor hasNextPage } totalCount } }`
	gql(t, srv, "tok-a", listQ, nil).into(t, "applications", &page)
	if len(page.Data) != 2 || page.Data[0].Name != "billing" || !page.PageInfo.HasNextPage || page.TotalCount != 3 {
		t.Fatalf("first page %+v", page)
	}
	gql(t, srv, "tok-a", listQ, map[string]any{"after": page.PageInfo.EndCursor}).into(t, "applications", &page)
	if len(page.Data) != 1 || page.Data[0].Name != "shipping" || page.PageInfo.HasNextPage {
		t.Fatalf("second page %+v", page)
	}
	var one app
	gql(t, srv, "tok-a", `query($id: ID!) { application(id: $id) { id name eventAPIs(group: "orders") { totalCount data { id spec { data } } } } }`,
		map[string]any{"id": a.ID}).into(t, "application", &one)
	if one.EventAPIs.TotalCount != 1 || *one.EventAPIs.Data[0].Spec.Data != `{"asyncapi":"2.0.0"}` {
		t.Fatalf("application by id %+v", one)
	}
}

// TestIsolation: solution B's token neither sees nor changes A's applications; what it cannot
// see is NOT_FOUND (or null), never FORBIDDEN, so as not to tell it exists.
func TestIsolation(t *testing.T) {
	srv := newServer(t, &fakeIssuer{})
	a := register(t, srv, "tok-a", "orders")
	api := a.EventAPIs.Data[0].ID
	var apps struct{ TotalCount int }
	gql(t, srv, "tok-b", `{ applications { totalCount } }`, nil).into(t, "applications", &apps)
	if apps.TotalCount != 0 {
		t.Fatalf("B lists %d applications", apps.TotalCount)
	}
	for _, q := range []string{`query($id: ID!) { application(id: $id) { id } }`, `query($id: ID!) { eventAPI(id: $id) { id } }`} {
		res := gql(t, srv, "tok-b", q, map[string]any{"id": a.ID + api[:0]})
		if res.code(t) != "" {
			t.Fatalf("%s: %+v", q, res.Errors)
		}
	}
	id := map[string]any{"id": a.ID}
	apiID := map[string]any{"id": api}
	for _, c := range []struct {
		q    string
		vars map[string]any
	}{
		{`mutation($id: ID!) { updateApplication(id: $id, in: {name: "stolen"}) { id } }`, id},
		{`mutation($id: ID!) { unregisterApplication(id: $id) { id } }`, id},
		{`mutation($id: ID!) { addEventAPI(applicationID: $id, in: {spec: {eventSpecType: ASYNC_API, data: "{}"}}) { id } }`, id},
		{`mutation($id: ID!) { updateEventAPI(id: $id, in: {spec: {eventSpecType: ASYNC_API, data: "{}"}}) { id } }`, apiID},
		{`mutation($id: ID!) { deleteEventAPI(id: $id) { id } }`, apiID},
		{`mutation($id: ID!) { refetchEventAPISpec(eventID: $id) { type } }`, apiID},
		{`mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) { id } }`, id},
	} {
		res := gql(t, srv, "tok-b", c.q, c.vars)
		if res.code(t) != CodeNotFound || len(res.Errors[0].Path) == 0 {
			t.Errorf("%s by B: %+v; want NOT_FOUND with a path", c.q, res.Errors)
		}
	}
	// The admin sees it, in every solution or naming A's.
	gql(t, srv, "admin", `{ applications { totalCount } }`, nil).into(t, "applications", &apps)
	if apps.TotalCount != 1 {
		t.Fatalf("admin lists %d", apps.TotalCount)
	}
	var cred struct {
		ID   string
		Auth struct{ Credential map[string]string }
	}
	gql(t, srv, "tok-a", `mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) { id auth { credential { ... on OAuthCredentialData { clientId clientSecret url } } } } }`, id).
		into(t, "requestClientCredentialsForApplication", &cred)
	if cred.ID != "cred-sol-a-0" || cred.Auth.Credential["clientId"] != "client-"+a.ID || cred.Auth.Credential["url"] == "" || cred.Auth.Credential["clientSecret"] != "secret" {
		t.Fatalf("credentials %+v", cred)
	}
	// Listed afterwards among the application's auths, the secret not shown again.
	var listed struct {
		Auths []struct {
			ID   string
			Auth struct{ Credential map[string]string }
		}
	}
	gql(t, srv, "tok-a", `query($id: ID!) { application(id: $id) { auths { id auth { credential { ... on OAuthCredentialData { clientId clientSecret url } } } } } }`, id).
		into(t, "application", &listed)
	if len(listed.Auths) != 1 || listed.Auths[0].ID != cred.ID || listed.Auths[0].Auth.Credential["clientId"] != "client-"+a.ID || listed.Auths[0].Auth.Credential["clientSecret"] != "" {
		t.Fatalf("auths %+v", listed)
	}
}

// TestSolutionSelection: an admin names the solution in the header; a solution token may name
// only its own; without a token the answer is 401 UNAUTHENTICATED.
func TestSolutionSelection(t *testing.T) {
	srv := newServer(t, nil)
	body := `{"query":"mutation { registerApplication(in: {name: \"x\"}) { id } }"}`
	cases := []struct {
		name, token, solution string
		status                int
		code                  string
	}{
		{"no token", "", "", http.StatusUnauthorized, CodeUnauthenticated},
		{"admin without solution", "admin", "", http.StatusOK, CodeBadUserInput},
		{"admin, unknown solution", "admin", "nope", http.StatusNotFound, CodeNotFound},
		{"solution token naming another", "tok-a", "sol-b", http.StatusForbidden, CodeForbidden},
		{"admin naming a solution", "admin", "sol-b", http.StatusOK, ""},
		{"solution token naming its own", "tok-a", "sol-a", http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := do(t, srv, c.token, c.solution, body)
			if res.status != c.status || res.code(t) != c.code {
				t.Fatalf("status %d, errors %+v; want %d %s", res.status, res.Errors, c.status, c.code)
			}
		})
	}
	var apps struct{ Data []struct{ Name string } }
	res := do(t, srv, "admin", "sol-b", `{"query":"{ applications { data { name } } }"}`)
	res.into(t, "applications", &apps)
	if len(apps.Data) != 1 {
		t.Fatalf("admin in sol-b lists %+v; want only sol-b's", apps.Data)
	}
}

// TestErrors: bad input names the field; malformed and oversized queries are refused with
// GraphQL errors before anything runs.
func TestErrors(t *testing.T) {
	srv := newServer(t, nil)
	register(t, srv, "tok-a", "orders")
	deep := "{ __schema { types { fields { type" + strings.Repeat(" { ofType", 14) + " { name }" + strings.Repeat(" }", 14) + " } } } }"
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 300 {
		aliases.WriteString(" a")
		aliases.WriteString(strings.Repeat("x", i%5+1))
		aliases.WriteString(string(rune('a' + i%26)))
		aliases.WriteString(strings.Repeat("y", i/26))
		aliases.WriteString(": applications { totalCount pageInfo { endCursor } }")
	}
	aliases.WriteString(" }")
	cases := []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"bad name", `{"query":"mutation { registerApplication(in: {name: \"Bad Name\"}) { id } }"}`, 200, CodeBadUserInput, "in.name"},
		{"name taken", `{"query":"mutation { registerApplication(in: {name: \"orders\"}) { id } }"}`, 200, CodeConflict, "in.name"},
		{"bad spec", `{"query":"mutation { registerApplication(in: {name: \"x\", eventAPIs: [{spec: {eventSpecType: ASYNC_API}}]}) { id } }"}`, 200, CodeBadUserInput, "in.eventAPIs[0].spec"},
		{"bad attributes", `{"query":"mutation { registerApplication(in: {name: \"x\", eventAPIs: [{spec: {eventSpecType: ASYNC_API, data: \"{}\"}, externalSubscriptions: [{url: \"nats://b:4222\", topic: \"t\", attributes: {a: 1}}]}]}) { id } }"}`, 200, CodeBadUserInput, "in.eventAPIs[0].externalSubscriptions[0].attributes"},
		{"first too large", `{"query":"{ applications(first: 101) { totalCount } }"}`, 200, CodeBadUserInput, "first"},
		{"bad cursor", `{"query":"{ applications(after: \"bm9wZQ\") { totalCount } }"}`, 200, CodeBadUserInput, "after"},
		{"malformed", `{"query":"{ applications { "}`, 422, "GRAPHQL_PARSE_FAILED", ""},
		{"unknown field", `{"query":"{ applications { nope } }"}`, 422, "GRAPHQL_VALIDATION_FAILED", ""},
		{"too deep", `{"query":` + jsonString(deep) + `}`, 200, "QUERY_TOO_DEEP", ""},
		{"too complex", `{"query":` + jsonString(aliases.String()) + `}`, 200, "COMPLEXITY_LIMIT_EXCEEDED", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := do(t, srv, "tok-a", "", c.body)
			if res.status != c.status || res.code(t) != c.code {
				t.Fatalf("status %d, errors %+v; want %d %s", res.status, res.Errors, c.status, c.code)
			}
			if f, _ := res.Errors[0].Extensions["field"].(string); f != c.field {
				t.Fatalf("field %q; want %q (%+v)", f, c.field, res.Errors[0])
			}
			if c.field != "" && len(res.Errors[0].Path) == 0 {
				t.Fatalf("no path: %+v", res.Errors[0])
			}
			if c.code == "GRAPHQL_PARSE_FAILED" && len(res.Errors[0].Locations) == 0 {
				t.Fatalf("no locations: %+v", res.Errors[0])
			}
		})
	}
	// A batch (a JSON array of operations) is not taken.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`[{"query":"{ applications { totalCount } }"},{"query":"{ applications { totalCount } }"}]`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tok-a")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("a batch of operations was answered 200")
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestIntrospection: the schema can be introspected (GraphiQL's query nests 8 levels of ofType).
func TestIntrospection(t *testing.T) {
	srv := newServer(t, nil)
	q := `query { __schema { queryType { name } types { name kind fields(includeDeprecated: true) { name args { name type { ...TypeRef } } type { ...TypeRef } } } } }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }`
	var schema struct {
		Types []struct{ Name string }
	}
	gql(t, srv, "tok-a", q, nil).into(t, "__schema", &schema)
	want := map[string]bool{"EventAPIDefinition": true, "EventAPISubscription": true, "CLOB": true, "EventAPISubscriptionAttributes": true}
	for _, ty := range schema.Types {
		delete(want, ty.Name)
	}
	if len(want) > 0 {
		t.Fatalf("types missing from introspection: %v", want)
	}
}

// TestUnavailableIssuer: without an issuer, client credentials are refused as UNAVAILABLE.
func TestUnavailableIssuer(t *testing.T) {
	srv := newServer(t, nil)
	a := register(t, srv, "tok-a", "orders")
	res := gql(t, srv, "tok-a", `mutation($id: ID!) { requestClientCredentialsForApplication(id: $id) { id } }`, map[string]any{"id": a.ID})
	if res.code(t) != CodeUnavailable {
		t.Fatalf("%+v", res.Errors)
	}
}
