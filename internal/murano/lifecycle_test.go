package murano_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestMuranoLifecycleHooksInOrder walks Murano's storage example, written with the short
// extension names: adding the service calls x-init with the configuration its body declares
// (and nothing else), showing the solution's service calls x-info and shows its answer,
// reconfiguring calls x-update, removing calls x-gc; the solution id reaches each on the
// path through x-from. Deleting a solution calls x-gc too.
func TestMuranoLifecycleHooksInOrder(t *testing.T) {
	t.Parallel()
	m := start(t, "storage", "storage.yaml", "/health")
	m.svc.answer("GET", "/demo", answer{status: http.StatusOK, body: `{"quota":{"metricName":100},"usage":{"metricName":7}}`})
	var order []string
	step := func(what string) recorded {
		t.Helper()
		r := m.svc.one(t, what)
		order = append(order, r.Method+" "+r.Path)
		return r
	}

	// Add: x-init with region (its default) and retention, not notes: init's body declares
	// only region and retention.
	m.mustAdd(t, map[string]any{"retention": 30, "notes": "for the owner"})
	init := step("x-init when the service is added")
	wantRequest(t, init, "POST", "/demo", nil)
	wantJSONBody(t, init, `{"region":"eu-west","retention":30}`)

	// Show: x-info, whose answer the hub shows.
	r := m.hub.Do(t, "GET", "/api/v1/solutions/demo/services/storage", m.hub.AdminToken, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET the solution's service: %d %s", r.Status, r.Body)
	}
	info := step("x-info when the solution's service is shown")
	wantRequest(t, info, "GET", "/demo", nil)
	if len(info.Body) != 0 {
		t.Errorf("x-info got a body: %q", info.Body)
	}
	if !strings.Contains(string(r.Body), `"usage":{"metricName":7}`) {
		t.Errorf("GET the solution's service does not show x-info's answer: %s", r.Body)
	}

	// Reconfigure: x-update with the new values.
	if r := m.hub.Do(t, "PUT", "/api/v1/solutions/demo/services/storage", m.hub.AdminToken,
		map[string]any{"parameters": map[string]any{"retention": 60, "region": "us-east"}}); r.Status != http.StatusOK {
		t.Fatalf("reconfigure: %d %s", r.Status, r.Body)
	}
	update := step("x-update when the configuration changes")
	wantRequest(t, update, "PUT", "/demo", nil)
	wantJSONBody(t, update, `{"region":"us-east","retention":60}`)

	// Remove: x-gc, which declares no body.
	if r := m.hub.Do(t, "DELETE", "/api/v1/solutions/demo/services/storage", m.hub.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	gc := step("x-gc when the service is removed")
	wantRequest(t, gc, "DELETE", "/demo", nil)
	if len(gc.Body) != 0 {
		t.Errorf("x-gc got a body: %q", gc.Body)
	}
	if got, want := strings.Join(order, ", "), "POST /demo, GET /demo, PUT /demo, DELETE /demo"; got != want {
		t.Errorf("lifecycle order %s, want %s", got, want)
	}

	// Deleting the solution collects what the service keeps for it.
	m.mustAdd(t, map[string]any{"retention": 1})
	wantRequest(t, m.svc.one(t, "x-init when the service is added again"), "POST", "/demo", nil)
	if r := m.hub.Do(t, "DELETE", "/api/v1/solutions/demo", m.hub.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete the solution: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "x-gc after the solution's deletion", func() bool { return m.svc.count() > 0 })
	wantRequest(t, m.svc.one(t, "x-gc when the solution is deleted"), "DELETE", "/demo", nil)
}

// TestMuranoInitSendsOnlyDeclaredParameters: x-exosite-init receives the configuration mapped
// onto what it declares (path from x-exosite-from, query, body properties), never a parameter
// it does not take (the token only scripts' calls use), so a service whose init takes no token
// can be added.
func TestMuranoInitSendsOnlyDeclaredParameters(t *testing.T) {
	t.Parallel()
	m := start(t, "tenants", "lifecycle.yaml", "/api/health")
	const token = "tok-secret-77"
	m.mustAdd(t, map[string]any{"tenant": "acme", "token": token})
	init := m.svc.one(t, "x-exosite-init when the service is added")
	wantRequest(t, init, "POST", "/api/setup/demo", map[string][]string{"tenant": {"acme"}})
	// owner is restricted and comes from business_id: the solution itself on Switchboard.
	wantJSONBody(t, init, `{"plan":"free","owner":"demo"}`)
	for k, v := range init.Header {
		if strings.Contains(strings.Join(v, " "), token) {
			t.Errorf("x-exosite-init got the token in header %s", k)
		}
	}
	if strings.Contains(init.RawQuery, token) || strings.Contains(string(init.Body), token) {
		t.Errorf("x-exosite-init got the token it does not declare: %s", init)
	}

	// The token is a secret (format: password): never shown.
	for _, tok := range []string{m.hub.AdminToken, m.solTok} {
		if r := m.hub.Do(t, "GET", "/api/v1/solutions/demo/services/tenants", tok, nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), token) {
			t.Errorf("GET the solution's service: %d %s, want 200 without the token", r.Status, r.Body)
		}
	}

	// A restricted header parameter named like the configuration parameter takes its value,
	// whatever the script passes.
	seats := m.call(t, `return Tenants.seats({token = "from-the-script"})`)
	wantRequest(t, seats, "GET", "/api/seats", nil)
	if got := seats.Header.Get("token"); got != token {
		t.Errorf("seats: header token %q, want the configured one", got)
	}
}

// TestMuranoLifecycleRefusalsAreTheHubs: what the hub refuses before calling a lifecycle hook
// is a 4xx (400, or 422 for a parameter the form refuses, as every other parameter check of the
// API) naming the parameter; the service gets no request.
func TestMuranoLifecycleRefusalsAreTheHubs(t *testing.T) {
	t.Parallel()
	m := start(t, "tenants", "lifecycle.yaml", "/api/health")
	for _, tc := range []struct {
		name   string
		params map[string]any
		field  string
	}{
		{"init's required query parameter has no value", map[string]any{}, "tenant"},
		{"a value outside the parameter's enum", map[string]any{"tenant": "acme", "plan": "gold"}, "plan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := m.add(t, tc.params)
			if r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d %s, want 400 or 422", r.Status, r.Body)
			}
			body := r.Map(t)
			field, _ := body["field"].(string)
			msg, _ := body["error"].(string)
			if !strings.Contains(field, tc.field) && !strings.Contains(msg, tc.field) {
				t.Errorf("the refusal does not name %s: %s", tc.field, r.Body)
			}
			if strings.Contains(msg, "tenants refused") {
				t.Errorf("the refusal blames the service, which got no request: %s", msg)
			}
			m.svc.none(t, tc.name)
		})
	}

	// owner is restricted (x-exosite-from: business_id): a user's value is refused, or else
	// ignored for the solution's own.
	r := m.add(t, map[string]any{"tenant": "acme", "owner": "someone-else"})
	switch {
	case r.Status == http.StatusBadRequest || r.Status == http.StatusUnprocessableEntity:
		if !strings.Contains(string(r.Body), "owner") {
			t.Errorf("the refusal does not name owner: %s", r.Body)
		}
		m.svc.none(t, "a restricted configuration parameter given by the user")
	case r.Status == http.StatusCreated:
		wantJSONBody(t, m.svc.one(t, "x-exosite-init"), `{"plan":"free","owner":"demo"}`)
	default:
		t.Errorf("a restricted configuration parameter given by the user: %d %s, want 400/422 or the solution's value", r.Status, r.Body)
	}
}
