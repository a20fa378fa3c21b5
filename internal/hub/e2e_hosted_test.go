package hub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestHostedServicesAPI: a solution creates a hosted service, updates it minor and major, and
// reads each version's code; bad code and bad input are refused naming the field (a Lua
// syntax error its line); another solution sees none of it; deleting the solution removes it.
func TestHostedServicesAPI(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "plant")
	other := s.CreateSolution(t, "other")
	base := "/api/v1/solutions/plant/hosted-services"
	lua := "local S = {}\nfunction S:Start() self:Debug('started') end\nfunction S:Stop() end\nreturn S\n"

	r := s.Do(t, "POST", base, tok, map[string]any{"name": "Blink", "kind": "lua", "code": "local S = {}\nfunction S:Start(\nreturn S\n"})
	m := wantAPIError(t, r, http.StatusBadRequest, "code")
	if m["line"] != float64(3) {
		t.Fatalf("syntax error answered %s; want line 3 named", r.Body)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"kind": "lua", "code": lua}, "name"},
		{map[string]any{"name": "Blink", "kind": "java", "code": lua}, "kind"},
		{map[string]any{"name": "Blink", "kind": "lua"}, "code"},
		{map[string]any{"name": "Blink", "kind": "lua", "code": lua, "static_properties": []any{map[string]any{"name": "pin", "type": "number", "default": "4"}}}, "static_properties[0].default"},
		{map[string]any{"name": "Blink", "kind": "lua", "code": lua, "security_properties": []any{map[string]any{"name": "key", "default": "hunter2"}}}, "security_properties[0].default"},
	} {
		wantAPIError(t, s.Do(t, "POST", base, tok, c.body), http.StatusBadRequest, c.field)
	}

	r = s.Do(t, "POST", base, tok, map[string]any{"name": "Blink", "kind": "lua", "description": "blinks a led", "code": lua,
		"static_properties": []any{map[string]any{"name": "pin", "type": "number", "default": 4}}, "security_properties": []any{map[string]any{"name": "key"}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var svc struct {
		Name, Kind string
		Versions   []struct{ Version string }
	}
	r.JSON(t, &svc)
	if svc.Name != "Blink" || svc.Kind != "lua" || len(svc.Versions) != 1 || svc.Versions[0].Version != "0.1" {
		t.Fatalf("created %s", r.Body)
	}
	wantAPIError(t, s.Do(t, "POST", base, tok, map[string]any{"name": "blink", "kind": "lua", "code": lua}), http.StatusBadRequest, "name")

	for _, c := range []struct{ update, want string }{{"minor", "0.2"}, {"major", "1.0"}} {
		r := s.Do(t, "POST", base+"/Blink/versions", tok, map[string]any{"update": c.update, "code": strings.Replace(lua, "started", "started "+c.want, 1)})
		if r.Status != http.StatusCreated || r.Map(t)["version"] != c.want {
			t.Fatalf("%s update: %d %s; want %s", c.update, r.Status, r.Body, c.want)
		}
	}
	wantAPIError(t, s.Do(t, "POST", base+"/Blink/versions", tok, map[string]any{"update": "patch", "code": lua}), http.StatusBadRequest, "update")
	wantAPIError(t, s.Do(t, "POST", base+"/Blink/versions", tok, map[string]any{"update": "minor", "code": "return ("}), http.StatusBadRequest, "code")

	for _, c := range []struct{ pin, version, says string }{{"0.1", "0.1", "'started'"}, {"0", "0.2", "started 0.2"}, {"latest", "1.0", "started 1.0"}} {
		r := s.Do(t, "GET", base+"/Blink/versions/"+c.pin, tok, nil)
		got := r.Map(t)
		if r.Status != http.StatusOK || got["version"] != c.version || !strings.Contains(got["code"].(string), c.says) {
			t.Fatalf("version %s: %d %s; want %s", c.pin, r.Status, r.Body, c.version)
		}
	}
	wantAPIError(t, s.Do(t, "GET", base+"/Blink/versions/7", tok, nil), http.StatusNotFound, "version")

	// Another solution sees nothing of it, by its own path or plant's.
	if r := s.Do(t, "GET", "/api/v1/solutions/other/hosted-services", other, nil); r.Status != http.StatusOK || strings.Contains(string(r.Body), "Blink") {
		t.Fatalf("other lists %d %s", r.Status, r.Body)
	}
	for _, p := range []string{base, base + "/Blink", base + "/Blink/versions/0.1"} {
		if r := s.Do(t, "GET", p, other, nil); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
			t.Fatalf("other reads %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/other/hosted-services/Blink", other, nil); r.Status != http.StatusNotFound {
		t.Fatalf("other's Blink: %d %s", r.Status, r.Body)
	}

	// Deleting the solution removes its services; one made again starts afresh.
	if r := s.Do(t, "DELETE", "/api/v1/solutions/plant", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete solution: %d %s", r.Status, r.Body)
	}
	tok = s.CreateSolution(t, "plant")
	if r := s.Do(t, "GET", base+"/Blink", tok, nil); r.Status != http.StatusNotFound {
		t.Fatalf("Blink after its solution was deleted: %d %s", r.Status, r.Body)
	}
}
