package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hosted/agent"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// countingService sends a numbered reading upstream every 100 ms, and says every hundredth in
// the log.
const countingService = `import asyncio
import json
from base_service import CustomService


class Count(CustomService):
    async def Start(self):
        self.task = asyncio.create_task(self.count())

    async def count(self):
        for n in range(1, self.GetPropertyValue("static", "count") + 1):
            await self.SubmitMessage(json.dumps({"n": n}))
            if n % 100 == 0:
                await self.Debug(f"read {n}")
            await asyncio.sleep(0.1)

    async def Stop(self):
        pass
`

// TestAgentThroughNetworkLoss: the network between an agent and its hub goes down for a
// minute, as a link does (connections stay open, nothing gets through either way), while the
// hub goes on running. The agent's service goes on reading every 100 ms; when the network is
// back, every reading arrives, in order, none twice, and so do the log lines of the minute.
func TestAgentThroughNetworkLoss(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: python services cannot run here")
	}
	t.Parallel() // a minute of waiting: with the other parallel tests
	const (
		outage   = time.Minute
		readings = 750 // 75 s of readings: before, during and after the outage
	)
	leaf := hubtest.FreeAddr(t)
	link := testkit.StartProxy(t, leaf)
	s := hubtest.Start(t, func(c *hub.Config) { c.LeafListen, c.LeafAdvertise = leaf, link.Addr })
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "readings", "topics": []string{"readings.pi"},
		"script": `Keystore.sadd({key = "ids-" .. event.data.n, args = {event.id}}); Keystore.set({key = "id-" .. event.data.n, value = event.id})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Count", "kind": "python", "code": countingService,
		"static_properties": []any{map[string]any{"name": "count", "type": "number", "default": readings}}}), http.StatusCreated)
	node := must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": "pi-1"}), http.StatusCreated)
	if got := node["leaf_url"]; got != nil && got != "nats-leaf://"+link.Addr {
		t.Fatalf("node's leaf_url %v, want the advertised nats-leaf://%s", got, link.Addr)
	}
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "readings", "instances": []any{map[string]any{
		"name": "count", "service": "Count", "node": "pi-1", "upstream": "readings.pi"}}}), http.StatusCreated)

	startAgent(t, agent.Config{Hub: s.URL, Solution: "plant", Node: "pi-1", Token: node["token"].(string)})
	value := func(key string) string { // a string, or a set's members
		r := s.Do(t, "GET", base+"/keystore/keys/"+key, tok, nil)
		if r.Status != http.StatusOK {
			return ""
		}
		return fmt.Sprint(r.Map(t)["value"])
	}
	hubtest.Eventually(t, "the tenth reading", func() bool { return value("id-10") != "" })
	link.Cut()
	time.Sleep(outage) // the outage itself: the service goes on reading meanwhile
	// What the minute read stayed on the node: reading 300 was read 20 s after the cut at
	// the latest, and has not reached the hub.
	if v := value("id-300"); v != "" {
		t.Fatalf("reading 300 reached the hub while the network was down (as %s): the link was not cut", v)
	}
	restored := time.Now()
	link.Restore()
	wantEachReadingOnce(t, value, readings, 60*time.Second)
	var page struct {
		Items []struct {
			Time    time.Time      `json:"time"`
			Message string         `json:"message"`
			Fields  map[string]any `json:"fields"`
		} `json:"items"`
	}
	r := s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20count&limit=1000", tok, nil)
	if err := json.Unmarshal(r.Body, &page); r.Status != http.StatusOK || err != nil {
		t.Fatalf("logs: %d %v %s", r.Status, err, r.Body)
	}
	lines := map[string]int{}
	for i, e := range page.Items {
		lines[e.Message] = i
	}
	for n := 100; n <= readings; n += 100 {
		if _, ok := lines[fmt.Sprintf("read %d", n)]; !ok {
			t.Fatalf("the log line of reading %d is missing from the solution log: %+v", n, page.Items)
		}
	}
	// A line kept on the node through the outage is at the time it was written, and says when
	// it was received.
	e := page.Items[lines["read 300"]]
	if !e.Time.Before(restored) || e.Fields["received"] == nil {
		t.Fatalf("the line of reading 300, written during the outage that ended at %s: %+v", restored.Format(time.RFC3339Nano), e)
	}
}
