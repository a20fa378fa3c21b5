package hub_test

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hosted/agent"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// seedLuaPort is the documentation's example class as a Lua service.
const seedLuaPort = `local YOUR_SERVICE_NAME = {}

function YOUR_SERVICE_NAME:Start()
  local ok, err = pcall(function() self:Debug("Started") end)
  if not ok then self:Debug("Failed to start: " .. tostring(err)) end
end

function YOUR_SERVICE_NAME:Stop()
  local ok, err = pcall(function() self:Debug("Stopped") end)
  if not ok then self:Debug("Failed to stop: " .. tostring(err)) end
end

return YOUR_SERVICE_NAME
`

// TestAgentsShareATag: two agents whose nodes have the same tag both run the services placed on
// the tag: microServiceBus.com's example class, unchanged, and its Lua port; disabling the
// nodes calls each one's Stop.
func TestAgentsShareATag(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: python services cannot run here")
	}
	seed, err := os.ReadFile("../hosted/proc/testdata/YOUR_SERVICE_NAME.py")
	if err != nil {
		t.Fatal(err)
	}
	s := hubtest.Start(t, func(c *hub.Config) { c.LeafListen = "127.0.0.1:0" })
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "YOUR_SERVICE_NAME", "kind": "python", "code": string(seed)}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "SeedLua", "kind": "lua", "code": seedLuaPort}), http.StatusCreated)
	tokens := map[string]string{}
	for _, n := range []string{"pi-1", "pi-2"} {
		tokens[n] = must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": n, "tags": []string{"gpio"}}), http.StatusCreated)["token"].(string)
	}
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "seed", "instances": []any{
		map[string]any{"name": "your_service_name_py", "service": "YOUR_SERVICE_NAME", "tag": "gpio"},
		map[string]any{"name": "seed_lua", "service": "SeedLua", "tag": "gpio"}}}), http.StatusCreated)

	for _, n := range []string{"pi-1", "pi-2"} {
		startAgent(t, agent.Config{Hub: s.URL, Solution: "plant", Node: n, Token: tokens[n]})
	}
	logOf := func(node, instance string) string {
		return string(s.Do(t, "GET", base+"/logs?source=node%20"+node+"%20service%20"+instance, tok, nil).Body)
	}
	for _, n := range []string{"pi-1", "pi-2"} {
		for _, in := range []string{"your_service_name_py", "seed_lua"} {
			hubtest.Eventually(t, in+" to start on "+n, func() bool { return strings.Contains(logOf(n, in), `"Started"`) })
		}
	}
	for _, n := range []string{"pi-1", "pi-2"} {
		must(s.Do(t, "PATCH", base+"/nodes/"+n, tok, map[string]any{"disabled": true}), http.StatusOK)
	}
	for _, n := range []string{"pi-1", "pi-2"} {
		for _, in := range []string{"your_service_name_py", "seed_lua"} {
			hubtest.Eventually(t, in+" on "+n+" to say it stopped", func() bool { return strings.Contains(logOf(n, in), `"Stopped"`) })
		}
	}
}
