package hub_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hosted/agent"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestAgentOverTLS: a hub serving HTTPS serves its leaf listener over TLS too; an agent
// trusting the hub's certificate (--hub-ca) signs in, connects and runs its Lua service; one
// trusting nothing of it cannot sign in.
func TestAgentOverTLS(t *testing.T) {
	certFile, keyFile := tlsFiles(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.TLSCert, c.TLSKey, c.LeafListen = certFile, keyFile, "127.0.0.1:0" })
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "SeedLua", "kind": "lua", "code": seedLuaPort}), http.StatusCreated)
	node := must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": "pi-1"}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "seed", "instances": []any{map[string]any{"name": "seed_lua", "service": "SeedLua", "node": "pi-1"}}}), http.StatusCreated)

	// Trusting only the system's roots, the sign-in fails on the hub's certificate.
	if err := agent.Run(context.Background(), agent.Config{Hub: s.URL, Solution: "plant", Node: "pi-1", Token: node["token"].(string), DataDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an agent not trusting the hub's certificate: %v", err)
	}
	startAgent(t, agent.Config{Hub: s.URL, HubCA: certFile, Solution: "plant", Node: "pi-1", Token: node["token"].(string)})
	hubtest.Eventually(t, "the Lua service to start on the agent", func() bool {
		return strings.Contains(string(s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20seed_lua", tok, nil).Body), `"Started"`)
	})
}
