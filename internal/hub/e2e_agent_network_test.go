package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
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
	s, tok, link, token := countingNode(t, readings, `Keystore.sadd({key = "ids-" .. event.data.n, args = {event.id}}); Keystore.set({key = "id-" .. event.data.n, value = event.id})`)
	base := "/api/v1/solutions/plant"

	startAgent(t, agent.Config{Hub: s.URL, Solution: "plant", Node: "pi-1", Token: token})
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

// TestAgentOutboxFull: while the network is down a small outbox fills; it keeps the oldest
// readings and drops the newest, and when the network is back the hub gets the kept ones, in
// order with no hole, then says in the solution's log how many were dropped, then gets the
// readings made since.
func TestAgentOutboxFull(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: python services cannot run here")
	}
	t.Parallel()
	const readings = 100
	s, tok, link, token := countingNode(t, readings, `Keystore.set({key = "id-" .. event.data.n, value = event.id})`)
	base := "/api/v1/solutions/plant"
	startAgent(t, agent.Config{Hub: s.URL, Solution: "plant", Node: "pi-1", Token: token, OutboxMaxMsgs: 20})
	value := func(key string) string { return keystoreValue(t, s, "plant", tok, key) }
	hubtest.Eventually(t, "the fifth reading", func() bool { return value("id-5") != "" })
	link.Cut()
	time.Sleep(5 * time.Second) // 50 readings: more than the outbox holds
	link.Restore()
	deadline := time.Now().Add(20 * time.Second)
	for value(fmt.Sprintf("id-%d", readings)) == "" {
		if time.Now().After(deadline) {
			got := []int{}
			for n := 1; n <= readings; n++ {
				if value(fmt.Sprintf("id-%d", n)) != "" {
					got = append(got, n)
				}
			}
			t.Fatalf("reading %d did not arrive; got %v; log: %s", readings, got, s.Do(t, "GET", base+"/logs", tok, nil).Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Kept: every reading up to the first one dropped; then a hole the log tells of.
	first := 0
	for n := 1; n <= readings; n++ {
		if value(fmt.Sprintf("id-%d", n)) == "" {
			first = n
			break
		}
	}
	// The outbox had room for the first dozen readings of the outage (20 messages, a few of
	// them the agent's own), and none for most of the rest.
	if first < 15 || first > 40 {
		t.Fatalf("the first reading missing is %d; want the outage's first dozen kept, and the rest dropped", first)
	}
	// After the hole, every reading made since the network's return.
	resumed := first
	for value(fmt.Sprintf("id-%d", resumed)) == "" {
		resumed++
	}
	for n := resumed; n <= readings; n++ {
		if value(fmt.Sprintf("id-%d", n)) == "" {
			t.Fatalf("readings %d to %d were dropped, %d arrived, and %d is missing: a second hole", first, resumed-1, resumed, n)
		}
	}
	logs := string(s.Do(t, "GET", base+"/logs?source=node%20pi-1", tok, nil).Body)
	if !strings.Contains(logs, "were dropped on the node before the hub got them: its outbox was full") {
		t.Fatalf("the solution's log does not tell of the dropped messages: %s", logs)
	}
}

// countingNode starts a hub whose leaf listener agents reach through link, with solution plant
// (its token tok), a handler of readings.pi running script, the Count service counting to
// readings, and node pi-1 (its provisioning token) running it.
func countingNode(t *testing.T, readings int, script string) (s *hubtest.Server, tok string, link *testkit.Proxy, token string) {
	t.Helper()
	link = testkit.StartProxy(t, "") // first: its port is taken before the leaf's is chosen
	leaf := hubtest.FreeAddr(t)
	link.SetTarget(leaf)
	s = hubtest.Start(t, func(c *hub.Config) { c.LeafListen, c.LeafAdvertise = leaf, link.Addr })
	tok = s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "readings", "topics": []string{"readings.pi"}, "script": script}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Count", "kind": "python", "code": countingService,
		"static_properties": []any{map[string]any{"name": "count", "type": "number", "default": readings}}}), http.StatusCreated)
	node := must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": "pi-1"}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "readings", "instances": []any{map[string]any{
		"name": "count", "service": "Count", "node": "pi-1", "upstream": "readings.pi"}}}), http.StatusCreated)
	return s, tok, link, node["token"].(string)
}
