package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/edge"
	"github.com/switchboardhq/switchboard/internal/hosted/agent"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// gpioService reads a made-up pin every 100 ms and sends each reading upstream, numbered.
const gpioService = `import asyncio
import json
from base_service import CustomService


class ReadGPIO(CustomService):
    def __init__(self, id, queue, config):
        super(ReadGPIO, self).__init__(id, queue, config)
        self.n = 0

    async def Start(self):
        self.pin = self.GetPropertyValue("static", "gpio_pin")
        await self.Debug(f"Started on {self.get_settings()['nodeName']}")
        self.task = asyncio.create_task(self.read())

    async def read(self):
        while self.n < self.GetPropertyValue("static", "count"):
            self.n += 1
            await self.SubmitMessage(json.dumps({"pin": self.pin, "n": self.n}))
            if self.GetPropertyValue("static", "tell"):
                await self.SubmitAction("counter", "count", {"n": self.n})
            await asyncio.sleep(0.1)

    async def ping(self, message):
        await self.Debug(f"pinged by {message['from']}")

    async def Stop(self):
        await self.Debug("Stopped")
`

// pinger pings the Python service until it is there.
const pinger = `local Pinger = {}
function Pinger:Start()
  self.timer = Timer.every(50, function()
    if pcall(function() self:SubmitAction("readgpio_py", "ping", {from = "lua"}) end) then Timer.cancel(self.timer) end
  end)
end
return Pinger
`

// TestAgentRunsPython: an agent signs in with its node's provisioning token, runs the Python
// service its flow assigns it, and the readings the service submits reach the solution's
// handler in order, each once; a changed property restarts the instance.
func TestAgentRunsPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: python services cannot run here")
	}
	s := hubtest.Start(t, func(c *hub.Config) { c.LeafListen = "127.0.0.1:0" })
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "readings", "topics": []string{"readings.pi"},
		"script": `Keystore.set({key = "r-" .. event.data.n, value = event.id})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "ReadGPIO", "kind": "python", "code": gpioService,
		"static_properties": []any{map[string]any{"name": "gpio_pin", "type": "number", "default": 4}, map[string]any{"name": "count", "type": "number", "default": 5},
			map[string]any{"name": "tell", "type": "boolean", "default": true}}}), http.StatusCreated)
	// Lua services on the agent too: the blinker of TestHubNodeRunsLua and its counter.
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "ticks", "topics": []string{"ticks", "alerts.>"},
		"script": `Keystore.set({key = event.topic .. "-" .. tostring(event.data.n or event.data.fault_code), value = event.source})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Blink", "kind": "lua", "code": blinker,
		"static_properties": []any{map[string]any{"name": "every", "type": "number", "default": 20}}, "security_properties": []any{map[string]any{"name": "key"}}}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Counter", "kind": "lua", "code": counter}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Pinger", "kind": "lua", "code": pinger}), http.StatusCreated)
	node := must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": "pi-1"}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "readings", "instances": []any{map[string]any{
		"name": "readgpio_py", "service": "ReadGPIO", "node": "pi-1", "upstream": "readings.pi"}}}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "lights", "instances": []any{
		map[string]any{"name": "blink", "service": "Blink", "node": "pi-1", "upstream": "ticks", "security": map[string]any{"key": "k-secret-9"}},
		map[string]any{"name": "counter", "service": "Counter", "node": "pi-1"},
		map[string]any{"name": "pinger", "service": "Pinger", "node": "pi-1"}}}), http.StatusCreated)

	startAgent(t, agent.Config{Hub: s.URL, Solution: "plant", Node: "pi-1", Token: node["token"].(string),
		StopDeadline: 5 * time.Second, StateEvery: 200 * time.Millisecond, Version: "test"})
	keystore := func(key string) string { return keystoreValue(t, s, "plant", tok, key) }
	hubtest.Eventually(t, "the fifth reading to reach the handler", func() bool { return keystore("r-5") != "" })
	prefix := edge.Domain("plant", "pi-1") + "-"
	last := uint64(0)
	for n := 1; n <= 5; n++ {
		id := keystore("r-" + strconv.Itoa(n))
		seq, err := strconv.ParseUint(strings.TrimPrefix(id, prefix), 10, 64)
		if !strings.HasPrefix(id, prefix) || err != nil || seq <= last {
			t.Fatalf("reading %d has event id %q after sequence %d: not in order", n, id, last)
		}
		last = seq
	}
	hubtest.Eventually(t, "the agent's lua instances to tick and alert", func() bool {
		return keystore("ticks-3") == "/nodes/pi-1/blink" && keystore("alerts.pi-1.blink-3") == "/nodes/pi-1/blink"
	})
	hubtest.Eventually(t, "the agent's counter to count three", func() bool {
		return strings.Contains(string(s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20counter", tok, nil).Body), "counted 3 (3 seen)")
	})
	// Actions cross kinds: the Python service tells the Lua counter, the Lua pinger the Python service.
	hubtest.Eventually(t, "the Lua counter to count the Python service's fifth reading", func() bool {
		return strings.Contains(string(s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20counter", tok, nil).Body), "counted 5 (")
	})
	hubtest.Eventually(t, "the Python service to be pinged by Lua", func() bool {
		return strings.Contains(string(s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20readgpio_py", tok, nil).Body), "pinged by lua")
	})
	logs := string(s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20readgpio_py", tok, nil).Body)
	if !strings.Contains(logs, "Started on pi-1") || !strings.Contains(logs, "started ReadGPIO 0.1") {
		t.Fatalf("solution log: %s", logs)
	}
	hubtest.Eventually(t, "the node to show its running instances with their service and version", func() bool {
		m := s.Do(t, "GET", base+"/nodes/pi-1", tok, nil).Map(t)
		inst, _ := m["instances"].([]any)
		if m["online"] != true || len(inst) != 4 {
			return false
		}
		for _, i := range inst {
			in, _ := i.(map[string]any)
			if in["state"] != "running" || in["version"] != "0.1" || in["service"] == "" || in["service"] == nil {
				return false
			}
		}
		return true
	})

	// A changed property restarts the instance: Stop, then a new Start that counts again.
	must(s.Do(t, "PUT", base+"/flows/readings", tok, map[string]any{"instances": []any{map[string]any{
		"name": "readgpio_py", "service": "ReadGPIO", "node": "pi-1", "upstream": "readings.pi", "static": map[string]any{"count": 6}}}}), http.StatusOK)
	hubtest.Eventually(t, "the restarted instance's sixth reading", func() bool { return keystore("r-6") != "" })
	logs = string(s.Do(t, "GET", base+"/logs?source=node%20pi-1%20service%20readgpio_py", tok, nil).Body)
	if strings.Count(logs, "Started on pi-1") != 2 || !strings.Contains(logs, "Stopped") {
		t.Fatalf("solution log after the change: %s", logs)
	}
}

// TestAgentThroughOutage: a service sends a reading every 100 ms while the hub is stopped for
// 5 s and started again: every reading reaches the handler, in order, none twice.
func TestAgentThroughOutage(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: python services cannot run here")
	}
	leaf := hubtest.FreeAddr(t) // the same after the restart: the agent keeps its address
	s := hubtest.Start(t, func(c *hub.Config) { c.LeafListen = leaf })
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	const readings = 80
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "readings", "topics": []string{"readings.pi"},
		"script": `Keystore.sadd({key = "ids-" .. event.data.n, args = {event.id}}); Keystore.set({key = "id-" .. event.data.n, value = event.id})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "ReadGPIO", "kind": "python", "code": gpioService,
		"static_properties": []any{map[string]any{"name": "gpio_pin", "type": "number", "default": 4}, map[string]any{"name": "count", "type": "number", "default": readings}}}), http.StatusCreated)
	node := must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": "pi-1"}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "readings", "instances": []any{map[string]any{
		"name": "readgpio_py", "service": "ReadGPIO", "node": "pi-1", "upstream": "readings.pi"}}}), http.StatusCreated)

	startAgent(t, agent.Config{Hub: s.URL, Solution: "plant", Node: "pi-1", Token: node["token"].(string)})
	value := func(key string) string {
		r := s.Do(t, "GET", base+"/keystore/keys/"+key, tok, nil)
		if r.Status != http.StatusOK {
			return ""
		}
		return fmt.Sprint(r.Map(t)["value"])
	}
	hubtest.Eventually(t, "the fifth reading", func() bool { return value("id-5") != "" })
	s.Close(t)
	time.Sleep(5 * time.Second) // the outage itself: the service goes on reading meanwhile
	s.Restart(t)
	wantEachReadingOnce(t, value, readings, 30*time.Second)
}

// wantEachReadingOnce waits up to within for the last of readings 1..count of node pi-1 of
// solution plant, then checks that each arrived as one event (ids-<n>: the set of its event
// ids, id-<n>: the last), in the order of the node's outbox. (A handler runs at least once: one
// in flight when the hub stops runs again after, for the same event.)
func wantEachReadingOnce(t *testing.T, value func(key string) string, count int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for value(fmt.Sprintf("id-%d", count)) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("reading %d did not arrive within %s", count, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	prefix := edge.Domain("plant", "pi-1") + "-"
	last := uint64(0)
	for n := 1; n <= count; n++ {
		if ids := value(fmt.Sprintf("ids-%d", n)); strings.Count(ids, prefix) != 1 {
			t.Fatalf("reading %d arrived as events %s, want one", n, ids)
		}
		id := value(fmt.Sprintf("id-%d", n))
		seq, err := strconv.ParseUint(strings.TrimPrefix(id, prefix), 10, 64)
		if err != nil || seq <= last {
			t.Fatalf("reading %d: event id %q after outbox sequence %d: not in order", n, id, last)
		}
		last = seq
	}
}

// startAgent runs an agent until the test ends (or stop, which waits for it); an error it
// ends with fails the test. DataDir defaults to a new temporary folder, StopDeadline to 5s.
func startAgent(t *testing.T, cfg agent.Config) (stop func()) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.StopDeadline == 0 {
		cfg.StopDeadline = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", cfg.Node, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
