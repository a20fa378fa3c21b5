package hub_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestAppsDocs: a solution's API page and OpenAPI document list its endpoints as deployed.
func TestAppsDocs(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "demo", nil)
	s.Deploy(t, "demo", "GET", "/dynamic-service", `return {value="x"}`)
	s.Deploy(t, "demo", "POST", "/users/{id}", `return request.body`)

	r := s.Do(t, "GET", "/apps/demo/swagger.json", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("swagger.json: %d %s", r.Status, r.Body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the solution's document does not validate: %v\n%s", err, r.Body)
	}
	if doc.Paths.Find("/dynamic-service") == nil || doc.Paths.Find("/dynamic-service").Get == nil {
		t.Errorf("GET /dynamic-service missing: %s", r.Body)
	}
	if p := doc.Paths.Find("/users/{id}"); p == nil || p.Post == nil || len(p.Post.Parameters) != 1 || p.Post.RequestBody == nil {
		t.Errorf("POST /users/{id} with its parameter and body missing: %s", r.Body)
	}
	if doc.Servers[0].URL != "/apps/demo" {
		t.Errorf("server %q, want /apps/demo", doc.Servers[0].URL)
	}

	page := s.Do(t, "GET", "/apps/demo/docs", "", nil)
	body := string(page.Body)
	if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "/dynamic-service") || !strings.Contains(body, ">Try<") || !strings.Contains(body, `const base = "/apps/demo"`) {
		t.Fatalf("docs page: %d %s\n%s", page.Status, page.Header.Get("Content-Type"), body)
	}
	// A deploy shows at once; the reserved paths stay the solution's.
	s.Deploy(t, "demo", "DELETE", "/later", `return 1`)
	if r := s.Do(t, "GET", "/apps/demo/swagger.json", "", nil); !strings.Contains(string(r.Body), `"/later"`) {
		t.Errorf("a new endpoint is not in the document: %s", r.Body)
	}
	if r := s.Do(t, "GET", "/apps/nope/docs", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("docs of an unknown solution: %d", r.Status)
	}
}
