package hub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestFlowsAndNodesAPI drives flows and nodes as a client would: services, nodes with tags, a
// flow with instances on the hub, by node and by tag; each node's assignment; bad input named;
// a security value in no answer; restart, disable, sign-in and re-provisioning; what a flow
// uses kept; another solution seeing none of it; deleting the solution removing it all.
func TestFlowsAndNodesAPI(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "plant")
	other := s.CreateSolution(t, "other")
	const secret = "hunter2-very-secret"
	var bodies []string
	do := func(method, path, token string, body any) hubtest.Response {
		t.Helper()
		r := s.Do(t, method, path, token, body)
		bodies = append(bodies, string(r.Body))
		return r
	}
	want := func(r hubtest.Response, status int) map[string]any {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
		}
		if len(r.Body) == 0 {
			return nil
		}
		return r.Map(t)
	}
	base := "/api/v1/solutions/plant"
	want(do("POST", base+"/hosted-services", tok, map[string]any{"name": "Blink", "kind": "lua", "code": "local S = {}\nfunction S:Start() end\nfunction S:Stop() end\nreturn S\n",
		"static_properties":   []any{map[string]any{"name": "pin", "type": "number", "default": 4}, map[string]any{"name": "mode", "required": true}},
		"security_properties": []any{map[string]any{"name": "key", "required": true}}}), http.StatusCreated)
	want(do("POST", base+"/hosted-services", tok, map[string]any{"name": "Read", "kind": "python", "code": "class Read: pass\n"}), http.StatusCreated)

	tokens := map[string]string{}
	for _, n := range []struct {
		name string
		tags []string
	}{{"edge-1", []string{"gpio"}}, {"edge-2", []string{"gpio", "cellar"}}, {"edge-3", nil}} {
		m := want(do("POST", base+"/nodes", tok, map[string]any{"name": n.name, "tags": n.tags}), http.StatusCreated)
		tokens[n.name], _ = m["token"].(string)
		if tokens[n.name] == "" || m["provisioning"] != true || m["online"] != false {
			t.Fatalf("node created as %v", m)
		}
	}
	if m := want(do("GET", base+"/nodes/edge-1", tok, nil), http.StatusOK); m["token"] != nil {
		t.Fatalf("the token shown again: %v", m)
	}

	blink := func(name string) map[string]any {
		return map[string]any{"name": name, "service": "Blink", "node": "hub", "static": map[string]any{"mode": "fast"}, "security": map[string]any{"key": secret}, "upstream": "plant.blinks"}
	}
	with := func(in map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range in {
			out[kk] = vv
		}
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"instances": []any{}}, "name"},
		{map[string]any{"name": "bad name"}, "name"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "service", "Read")}}, "instances[0].node"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "node", "edge-9")}}, "instances[0].node"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "static", map[string]any{"mode": "x", "colour": "red"})}}, "instances[0].static.colour"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "static", map[string]any{"mode": "x", "pin": "4"})}}, "instances[0].static.pin"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "security", nil)}}, "instances[0].security.key"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "upstream", "Not A Topic")}}, "instances[0].upstream"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "version", "2")}}, "instances[0].version"},
		{map[string]any{"name": "f", "instances": []any{with(blink("A"), "flavour", "x")}}, "flavour"},
	} {
		wantAPIError(t, do("POST", base+"/flows", tok, c.body), http.StatusBadRequest, c.field)
	}
	wantAPIError(t, do("POST", base+"/nodes", tok, map[string]any{"name": "hub"}), http.StatusBadRequest, "name")
	wantAPIError(t, do("POST", base+"/nodes", tok, map[string]any{"name": "Edge 4"}), http.StatusBadRequest, "name")
	wantAPIError(t, do("POST", base+"/nodes", tok, map[string]any{"name": "edge-4", "tags": []string{"ok", "NOT OK"}}), http.StatusBadRequest, "tags[1]")
	wantAPIError(t, do("PATCH", base+"/nodes/edge-1", tok, map[string]any{}), http.StatusBadRequest, "tags")
	wantAPIError(t, do("PATCH", base+"/nodes/hub", tok, map[string]any{"tags": []string{"x"}}), http.StatusBadRequest, "tags")

	lights := map[string]any{"name": "lights", "description": "blinks and reads", "instances": []any{
		blink("OnHub"),
		map[string]any{"name": "ReadAll", "service": "Read", "tag": "gpio", "upstream": "plant.readings"},
		map[string]any{"name": "ReadOne", "service": "Read", "version": "0", "node": "edge-2"},
	}}
	want(do("POST", base+"/flows", tok, lights), http.StatusCreated)
	wantAPIError(t, do("POST", base+"/flows", tok, map[string]any{"name": "more", "instances": []any{blink("readall")}}), http.StatusBadRequest, "instances[0].name")

	type assigned struct {
		Flow, Instance, Service, Kind, Version, Upstream, Hash string
		Static                                                 map[string]any
		Security                                               map[string]string
	}
	assignment := func(node string) []assigned {
		t.Helper()
		r := do("GET", base+"/nodes/"+node+"/assignment", tok, nil)
		var out struct{ Items []assigned }
		want(r, http.StatusOK)
		r.JSON(t, &out)
		return out.Items
	}
	names := func(as []assigned) string {
		var out []string
		for _, a := range as {
			out = append(out, a.Instance)
		}
		return strings.Join(out, ",")
	}
	for node, wantNames := range map[string]string{"hub": "OnHub", "edge-1": "ReadAll", "edge-2": "ReadAll,ReadOne", "edge-3": ""} {
		if got := names(assignment(node)); got != wantNames {
			t.Errorf("%s is assigned %q; want %q", node, got, wantNames)
		}
	}
	hub := assignment("hub")[0]
	if hub.Kind != "lua" || hub.Version != "0.1" || hub.Static["pin"] != float64(4) || hub.Static["mode"] != "fast" || hub.Security["key"] != "(set)" || hub.Upstream != "plant.blinks" || len(hub.Hash) != 64 {
		t.Fatalf("hub's assignment %+v", hub)
	}

	// The flow as shown, sent back, changes nothing: no instance restarts.
	shown := do("GET", base+"/flows/lights", tok, nil)
	var f map[string]any
	want(shown, http.StatusOK)
	shown.JSON(t, &f)
	if !strings.Contains(string(shown.Body), `"key":"(set)"`) {
		t.Fatalf("flow shown as %s", shown.Body)
	}
	for _, k := range []string{"solution", "created_at", "updated_at"} {
		delete(f, k)
	}
	want(do("PUT", base+"/flows/lights", tok, f), http.StatusOK)
	if again := assignment("hub")[0]; again.Hash != hub.Hash {
		t.Fatalf("a round trip changed the hash: %s to %s", hub.Hash, again.Hash)
	}
	wantAPIError(t, do("PUT", base+"/flows/lights", tok, with(f, "name", "other")), http.StatusBadRequest, "name")
	wantAPIError(t, do("PUT", base+"/flows/ghost", tok, map[string]any{}), http.StatusNotFound, "name")

	// A restart bumps the generation and restarts what the node runs.
	before := assignment("edge-1")[0].Hash
	if m := want(do("POST", base+"/nodes/edge-1/restart", tok, nil), http.StatusOK); m["generation"] != float64(1) {
		t.Fatalf("restart: %v", m)
	}
	if after := assignment("edge-1")[0].Hash; after == before {
		t.Fatal("a restart left the hash as it was")
	}
	// A disabled node is assigned nothing, until enabled.
	want(do("PATCH", base+"/nodes/edge-2", tok, map[string]any{"disabled": true}), http.StatusOK)
	if got := names(assignment("edge-2")); got != "" {
		t.Fatalf("disabled edge-2 is assigned %q", got)
	}
	want(do("PATCH", base+"/nodes/edge-2", tok, map[string]any{"disabled": false, "tags": []string{"cellar"}}), http.StatusOK)
	if got := names(assignment("edge-2")); got != "ReadOne" {
		t.Fatalf("edge-2 without gpio is assigned %q", got)
	}

	// What a flow uses is kept, the flow named.
	for _, p := range []string{base + "/hosted-services/Read", base + "/nodes/edge-2"} {
		if m := wantAPIError(t, do("DELETE", p, tok, nil), http.StatusConflict, "name"); !strings.Contains(m["error"].(string), "lights") {
			t.Fatalf("delete %s: %v", p, m)
		}
	}
	wantAPIError(t, do("DELETE", base+"/nodes/hub", tok, nil), http.StatusBadRequest, "name")
	want(do("DELETE", base+"/nodes/edge-3", tok, nil), http.StatusNoContent)

	// Sign-in: no bearer token; refusals alike whether the node exists or not.
	signin := func(sol, node, token string) hubtest.Response {
		return do("POST", "/api/v1/nodes/signin", "", map[string]any{"solution": sol, "node": node, "token": token})
	}
	refusals := map[string]bool{}
	for _, c := range []struct{ sol, node, token string }{
		{"plant", "edge-1", "sbp_wrong"}, {"plant", "nowhere", tokens["edge-1"]}, {"other", "edge-1", tokens["edge-1"]}, {"ghost", "edge-1", tokens["edge-1"]}, {"plant", "hub", tokens["edge-1"]},
	} {
		refusals[string(wantAPIError(t, signin(c.sol, c.node, c.token), http.StatusUnauthorized, "")["error"].(string))] = true
	}
	if len(refusals) != 1 {
		t.Fatalf("refusals differ: %v", refusals)
	}
	wantAPIError(t, do("POST", "/api/v1/nodes/signin", "", map[string]any{"solution": "plant", "token": "x"}), http.StatusBadRequest, "node")
	m := want(signin("plant", "edge-1", tokens["edge-1"]), http.StatusOK)
	if cred, _ := m["credential"].(string); !strings.HasPrefix(cred, "sbc_") {
		t.Fatalf("sign-in: %v", m)
	}
	wantAPIError(t, signin("plant", "edge-1", tokens["edge-1"]), http.StatusUnauthorized, "")
	if m := want(do("GET", base+"/nodes/edge-1", tok, nil), http.StatusOK); m["signed_in"] != true || m["provisioning"] != false {
		t.Fatalf("signed-in node: %v", m)
	}
	m = want(do("POST", base+"/nodes/edge-1/token", tok, nil), http.StatusOK)
	if fresh, _ := m["token"].(string); fresh == "" || fresh == tokens["edge-1"] || m["signed_in"] != false {
		t.Fatalf("new token: %v", m)
	} else {
		want(signin("plant", "edge-1", fresh), http.StatusOK)
	}
	// Failed sign-ins of a node are bounded: its right token is refused too, for a while.
	for range hosted.SignInFailures {
		wantAPIError(t, signin("plant", "edge-2", "sbp_guess"), http.StatusUnauthorized, "")
	}
	r := signin("plant", "edge-2", tokens["edge-2"])
	wantAPIError(t, r, http.StatusTooManyRequests, "")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}

	// Another solution sees nothing of plant's, and cannot use its services or nodes.
	for _, p := range []string{base + "/flows", base + "/flows/lights", base + "/nodes", base + "/nodes/edge-1", base + "/nodes/edge-1/assignment"} {
		if r := do("GET", p, other, nil); r.Status != http.StatusForbidden {
			t.Fatalf("other reads %s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := do("POST", base+"/nodes/edge-1/restart", other, nil); r.Status != http.StatusForbidden {
		t.Fatalf("other restarts plant's node: %d %s", r.Status, r.Body)
	}
	if m := want(do("GET", "/api/v1/solutions/other/flows", other, nil), http.StatusOK); len(m["items"].([]any)) != 0 {
		t.Fatalf("other's flows: %v", m)
	}
	if m := want(do("GET", "/api/v1/solutions/other/nodes", other, nil), http.StatusOK); len(m["items"].([]any)) != 1 {
		t.Fatalf("other's nodes (the hub alone): %v", m)
	}
	wantAPIError(t, do("POST", "/api/v1/solutions/other/flows", other, map[string]any{"name": "steal", "instances": []any{blink("X")}}), http.StatusBadRequest, "instances[0].service")
	wantAPIError(t, do("GET", "/api/v1/solutions/other/nodes/edge-1/assignment", other, nil), http.StatusNotFound, "name")

	// No answer carried the security value.
	for _, b := range bodies {
		if strings.Contains(b, secret) {
			t.Fatalf("an answer carries the security value: %s", b)
		}
	}

	// Deleting the solution removes its flows and nodes; one made again starts afresh.
	want(do("DELETE", "/api/v1/solutions/plant", s.AdminToken, nil), http.StatusNoContent)
	tok = s.CreateSolution(t, "plant")
	if m := want(do("GET", base+"/flows", tok, nil), http.StatusOK); len(m["items"].([]any)) != 0 {
		t.Fatalf("flows after the solution was deleted: %v", m)
	}
	if m := want(do("GET", base+"/nodes", tok, nil), http.StatusOK); len(m["items"].([]any)) != 1 {
		t.Fatalf("nodes after the solution was deleted: %v", m)
	}
	wantAPIError(t, do("GET", base+"/nodes/edge-1", tok, nil), http.StatusNotFound, "name")
	wantAPIError(t, do("GET", base+"/flows/lights", tok, nil), http.StatusNotFound, "name")
}
