package hub_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestOutsideNATS runs two instances against the NATS named by SWITCHBOARD_TEST_NATS_URL (a
// nats-server with -js): a solution and endpoint made on one are served by the other, and both
// survive a restart. The outside server keeps state between runs, so ids are unique per run and
// the solution is deleted at the end.
func TestOutsideNATS(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream); .ci/run sets it")
	}
	outside := func(c *hub.Config) { c.NATSURL = url }
	a := hubtest.Start(t, outside)
	b := hubtest.Start(t, outside)

	raw := make([]byte, 4)
	rand.Read(raw) //nolint:errcheck // never fails
	sol := "natsurl-" + hex.EncodeToString(raw)
	tok := a.CreateSolution(t, sol)
	t.Cleanup(func() { a.Do(t, "DELETE", "/api/v1/solutions/"+sol, a.AdminToken, nil) })
	a.Deploy(t, sol, "GET", "/dynamic-service", "Keystore.set({key=\"my-key\", value=\"my-key-value-updated\"})\nreturn Keystore.get({key=\"my-key\"})")

	// The other instance learns of the solution and endpoint through KV watches.
	hubtest.Eventually(t, "instance b to serve the endpoint", func() bool {
		r := b.Do(t, "GET", "/apps/"+sol+"/dynamic-service", "", nil)
		return r.Status == http.StatusOK && string(r.Body) == `{"value":"my-key-value-updated"}`
	})
	if r := b.Do(t, "GET", "/api/v1/solutions/"+sol, tok, nil); r.Status != http.StatusOK {
		t.Fatalf("instance b does not accept the solution token: %d %s", r.Status, r.Body)
	}

	a.Restart(t)
	if r := a.Do(t, "GET", "/apps/"+sol+"/dynamic-service", "", nil); r.Status != http.StatusOK || string(r.Body) != `{"value":"my-key-value-updated"}` {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
}
