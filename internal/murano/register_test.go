package murano_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestMuranoDocumentsRegister: every document of the suite is valid for Murano, so each
// registers unchanged but for its host and schemes.
func TestMuranoDocumentsRegister(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	for _, tc := range []struct{ name, file, health string }{
		{"storage", "storage.yaml", "/health"},
		{"sms", "sms.yaml", "/health"},
		{"smslegacy", "sms-legacy.yaml", "/health"},
		{"auth", "auth.yaml", "/v2/health"},
		{"bodies", "bodies.yaml", "/health"},
		{"context", "context.yaml", "/health"},
		{"tenants", "lifecycle.yaml", "/api/health"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			svc := newStandIn(t, tc.health)
			if r := register(t, s, tc.name, tc.file, svc.host()); r.Status != http.StatusCreated {
				t.Fatalf("%s, valid for Murano, was refused: %d %s", tc.file, r.Status, r.Body)
			}
		})
	}
}

// TestMuranoDanglingRefRefusedWithDocumentLocation: a $ref to a definition that does not
// exist is refused, and the refusal names the reference as the Swagger 2.0 document writes it,
// not as the internal OpenAPI 3 conversion would.
func TestMuranoDanglingRefRefusedWithDocumentLocation(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	svc := newStandIn(t, "/health")
	r := register(t, s, "broken", "dangling-ref.yaml", svc.host())
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d %s, want 422", r.Status, r.Body)
	}
	msg, _ := r.Map(t)["error"].(string)
	if !strings.Contains(msg, "#/definitions/Account") {
		t.Errorf("error %q does not name #/definitions/Account", msg)
	}
	if strings.Contains(msg, "components") {
		t.Errorf("error %q names the internal OpenAPI 3 location", msg)
	}
	if g := s.Do(t, "GET", "/api/v1/services/broken", s.AdminToken, nil); g.Status != http.StatusNotFound {
		t.Errorf("the refused document is in the catalog: %d %s", g.Status, g.Body)
	}
}

// TestMuranoTokenNotInPublicDocument: x-exosite-token is the service's secret; once the
// document is registered nobody reads it back (Murano removes it from the published
// document), neither a solution nor the admin, in the marketplace or the service's page.
func TestMuranoTokenNotInPublicDocument(t *testing.T) {
	t.Parallel()
	m := start(t, "tenants", "lifecycle.yaml", "/api/health")
	const token = "tenants-private-token-5f2c9"
	for _, tc := range []struct{ who, tok, path string }{
		{"solution", m.solTok, "/api/v1/services/tenants"},
		{"admin", m.hub.AdminToken, "/api/v1/services/tenants"},
		{"solution", m.solTok, "/api/v1/services"},
		{"admin", m.hub.AdminToken, "/api/v1/services"},
	} {
		r := m.hub.Do(t, "GET", tc.path, tc.tok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s as %s: %d %s", tc.path, tc.who, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), token) {
			t.Errorf("GET %s as %s shows x-exosite-token", tc.path, tc.who)
		}
	}
	if strings.Contains(m.hub.Logs.String(), token) {
		t.Errorf("the hub logged x-exosite-token")
	}
}

// TestMuranoMarketplaceShowsExamplesHidesHidden: an operation's x-exosite-example (here
// written x-example, as Murano's storage example does) is shown with the operation in the
// marketplace; x-exosite-hidden operations are left out of it.
func TestMuranoMarketplaceShowsExamplesHidesHidden(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "demo")
	for _, tc := range []struct{ name, file string }{{"storage", "storage.yaml"}, {"bodies", "bodies.yaml"}} {
		if r := register(t, s, tc.name, tc.file, newStandIn(t, "/health").host()); r.Status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", tc.file, r.Status, r.Body)
		}
	}
	// The operations listed for scripts and those the marketplace describes, by name, together.
	operations := func(name string) map[string]map[string]any {
		var v struct {
			Operations  []map[string]any
			Marketplace struct{ Operations []map[string]any }
		}
		s.Do(t, "GET", "/api/v1/services/"+name, tok, nil).JSON(t, &v)
		out := map[string]map[string]any{}
		for _, op := range append(v.Operations, v.Marketplace.Operations...) {
			n, _ := op["name"].(string)
			if out[n] == nil {
				out[n] = map[string]any{}
			}
			for k, x := range op {
				out[n][k] = x
			}
		}
		return out
	}
	ops := operations("storage")
	found := false
	for _, v := range ops["setData"] {
		if s, ok := v.(string); ok && strings.Contains(s, `Storage.setData({data = "hello"})`) {
			found = true
		}
	}
	if !found {
		t.Errorf("the marketplace's setData does not carry its x-example: %v", ops["setData"])
	}
	for _, restricted := range []string{"createSolution", "updateSolution", "delSolution", "getSolution"} {
		if _, ok := ops[restricted]; ok {
			t.Errorf("x-internalUse operation %s is listed for scripts", restricted)
		}
	}
	ops = operations("bodies")
	if _, ok := ops["hiddenOp"]; ok {
		t.Errorf("x-exosite-hidden operation hiddenOp is listed in the marketplace")
	}
	if _, ok := ops["adminOnly"]; ok {
		t.Errorf("x-exosite-restricted operation adminOnly is listed for scripts")
	}
	if _, ok := ops["postForm"]; !ok {
		t.Errorf("postForm is missing from the marketplace: %v", ops)
	}
}

// named collects the objects with a "name" found in v, by name, leaving out the document.
func named(v any, out map[string]map[string]any) {
	switch v := v.(type) {
	case map[string]any:
		if n, ok := v["name"].(string); ok {
			out[n] = v
		}
		for k, e := range v {
			if k != "document" {
				named(e, out)
			}
		}
	case []any:
		for _, e := range v {
			named(e, out)
		}
	}
}

// TestMuranoMarketplaceShowsConfigParameters: a solution sees the configuration form it must
// fill to add a service (name, type, required, description, secret or not), without the
// x-exosite-hidden parameters.
func TestMuranoMarketplaceShowsConfigParameters(t *testing.T) {
	t.Parallel()
	m := start(t, "tenants", "lifecycle.yaml", "/api/health")
	var view map[string]any
	m.hub.Do(t, "GET", "/api/v1/services/tenants", m.solTok, nil).JSON(t, &view)
	found := map[string]map[string]any{}
	named(view, found)
	tenant, ok := found["tenant"]
	if !ok {
		t.Fatalf("the marketplace does not show configuration parameter tenant: %v", view)
	}
	if tenant["type"] != "string" || !strings.Contains(fmt.Sprint(tenant["description"]), "tenant's name") {
		t.Errorf("tenant is shown as %v, want its type and description", tenant)
	}
	if tok := found["token"]; tok == nil || tok["secret"] != true {
		t.Errorf("token (format: password) is shown as %v, want secret: true", tok)
	}
	if plan := found["plan"]; plan == nil || fmt.Sprint(plan["enum"]) != "[free pro]" || plan["default"] != "free" {
		t.Errorf("plan is shown as %v, want its enum and default", plan)
	}
	if _, ok := found["debug"]; ok {
		t.Errorf("x-exosite-hidden configuration parameter debug is shown: %v", found["debug"])
	}
}

// TestMuranoTokenCallsTheHub: the document's x-exosite-token is what the service calls the hub
// with, as on Murano's dispatcher (Authorization: <service> <token>); a wrong one, or another
// service's name, is refused.
func TestMuranoTokenCallsTheHub(t *testing.T) {
	t.Parallel()
	m := start(t, "tenants", "lifecycle.yaml", "/api/health")
	m.mustAdd(t, map[string]any{"tenant": "acme"})
	if r := m.hub.Do(t, "POST", "/api/v1/solutions/demo/handlers", m.hub.AdminToken, map[string]any{
		"name": "changed", "topics": []string{"tenants.changed"}, "script": `return event.data.n + 1`}); r.Status != http.StatusCreated {
		t.Fatalf("handler: %d %s", r.Status, r.Body)
	}
	trigger := func(auth string) int {
		t.Helper()
		req, err := http.NewRequest("POST", m.hub.URL+"/api/v1/trigger/demo/tenants/changed", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"tenants tenants-private-token-5f2c9", http.StatusOK},
		{"tenants tenants-private-token-5f2c8", http.StatusUnauthorized},
		{"other tenants-private-token-5f2c9", http.StatusUnauthorized},
	} {
		if got := trigger(tc.auth); got != tc.want {
			t.Errorf("trigger with Authorization %q: %d, want %d", tc.auth, got, tc.want)
		}
	}
}
