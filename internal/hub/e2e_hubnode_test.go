package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// blinker counts on a timer, sends each count upstream, tells the other instance, and raises
// an alert on its third tick.
const blinker = `local Blink = {}

function Blink:Start()
  self.n = 0
  self:Debug("Started " .. self:get_settings().nodeName .. " every " .. self:GetPropertyValue("static", "every"))
  self.timer = Timer.every(self:GetPropertyValue("static", "every"), function()
    if self.n >= 3 then return end
    self.n = self.n + 1
    self:SubmitMessage({n = self.n, key = #self:GetPropertyValue("security", "key")})
    self:SubmitAction("counter", "count", {n = self.n})
    if self.n == 3 then self:ThrowError("third tick", "3", "as planned") end
  end)
end

function Blink:Stop()
  self:Debug("Stopped at " .. self.n)
end

return Blink
`

// counter keeps what the blinker tells it.
const counter = `local Counter = {}
function Counter:Start() self.seen = 0 end
function Counter:count(message)
  self.seen = self.seen + 1
  self:Debug("counted " .. message.n .. " (" .. self.seen .. " seen)")
end
return Counter
`

// TestHubNodeRunsLua: Lua services a flow assigns to the node hub run in the hub: a timer's
// ticks go upstream to a handler in order, an action reaches the other instance, ThrowError
// is an alerts.hub.{service} event; a changed property restarts only that instance, and a
// disabled hub node stops them all. The security value is in no answer or log.
func TestHubNodeRunsLua(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "ticks", "topics": []string{"ticks", "alerts.>"},
		"script": `Keystore.set({key = event.topic .. "-" .. tostring(event.data.n or event.data.fault_code), value = event.topic .. "|" .. tostring(event.data.key or event.data.message)})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Blink", "kind": "lua", "code": blinker,
		"static_properties": []any{map[string]any{"name": "every", "type": "number", "default": 20}}, "security_properties": []any{map[string]any{"name": "key"}}}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Counter", "kind": "lua", "code": counter}), http.StatusCreated)
	flow := func(every int) map[string]any {
		return map[string]any{"name": "lights", "instances": []any{
			map[string]any{"name": "blink", "service": "Blink", "node": "hub", "upstream": "ticks", "static": map[string]any{"every": every}, "security": map[string]any{"key": "k-secret-9"}},
			map[string]any{"name": "counter", "service": "Counter", "node": "hub"},
		}}
	}
	must(s.Do(t, "POST", base+"/flows", tok, flow(20)), http.StatusCreated)

	keystore := func(key string) string { return keystoreValue(t, s, "plant", tok, key) }
	hubtest.Eventually(t, "the third tick and the alert", func() bool { return keystore("ticks-3") != "" && keystore("alerts.hub.blink-3") != "" })
	if v := keystore("ticks-1"); v != "ticks|10" {
		t.Fatalf("first tick: %q", v)
	}
	if v := keystore("alerts.hub.blink-3"); v != "alerts.hub.blink|third tick" {
		t.Fatalf("alert: %q", v)
	}
	logOf := func(instance string) string {
		return string(s.Do(t, "GET", base+"/logs?source=node%20hub%20service%20"+instance, tok, nil).Body)
	}
	hubtest.Eventually(t, "the counter to count three", func() bool { return strings.Contains(logOf("counter"), "counted 3 (3 seen)") })
	if l := logOf("blink"); !strings.Contains(l, "Started hub every 20") || !strings.Contains(l, "third tick") {
		t.Fatalf("blink's log: %s", l)
	}

	// A changed property restarts only blink: it stops, starts again; counter goes on counting.
	must(s.Do(t, "PUT", base+"/flows/lights", tok, flow(30)), http.StatusOK)
	hubtest.Eventually(t, "blink to start again", func() bool { return strings.Contains(logOf("blink"), "Started hub every 30") })
	if l := logOf("blink"); !strings.Contains(l, "Stopped at 3") {
		t.Fatalf("blink's log after the change: %s", l)
	}
	hubtest.Eventually(t, "the counter to count the new ticks", func() bool { return strings.Contains(logOf("counter"), "(6 seen)") })

	// The hub node shows what it runs, as an agent's node does.
	instances := func() string {
		m := s.Do(t, "GET", base+"/nodes/hub", tok, nil).Map(t)
		var out []string
		for _, i := range m["instances"].([]any) {
			in := i.(map[string]any)
			out = append(out, fmt.Sprintf("%v %v %v %v", in["name"], in["service"], in["version"], in["state"]))
		}
		return strings.Join(out, ", ")
	}
	hubtest.Eventually(t, "the hub node to show its instances", func() bool {
		return instances() == "blink Blink 0.1 running, counter Counter 0.1 running"
	})

	// The hub node disabled: both stop, and it runs nothing.
	must(s.Do(t, "PATCH", base+"/nodes/hub", tok, map[string]any{"disabled": true}), http.StatusOK)
	hubtest.Eventually(t, "blink to stop", func() bool { return strings.Count(logOf("blink"), "Stopped at 3") == 2 })
	hubtest.Eventually(t, "the hub node to show no instances", func() bool { return instances() == "" })
	for _, body := range []string{logOf("blink"), logOf("counter"), string(s.Do(t, "GET", base+"/flows/lights", tok, nil).Body)} {
		if strings.Contains(body, "k-secret-9") {
			t.Fatalf("the security value shows: %s", body)
		}
	}
}

// TestHubNodeOnOneInstance: with two hub instances on one NATS, a solution's hub node runs its
// services on one of them only; when that one stops, the other takes them over.
func TestHubNodeOnOneInstance(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream); .ci/run sets it")
	}
	a := hubtest.Start(t, func(c *hub.Config) { c.NATSURL, c.InstanceName = url, "hub-a" })
	b := hubtest.Start(t, func(c *hub.Config) { c.NATSURL, c.InstanceName = url, "hub-b" })
	raw := make([]byte, 4)
	rand.Read(raw) //nolint:errcheck // never fails
	sol := "hubnode-" + hex.EncodeToString(raw)
	tok := a.CreateSolution(t, sol)
	alive := b // the instance left running at the end
	t.Cleanup(func() { alive.Do(t, "DELETE", "/api/v1/solutions/"+sol, alive.AdminToken, nil) })
	base := "/api/v1/solutions/" + sol
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(a.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Counter", "kind": "lua", "code": counter}), http.StatusCreated)
	must(a.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "one", "instances": []any{map[string]any{"name": "counter", "service": "Counter", "node": "hub"}}}), http.StatusCreated)
	starts := func() int {
		// Counter logs nothing at Start: an action makes each running instance say it is there.
		return strings.Count(string(a.Do(t, "GET", base+"/logs?source=node%20hub%20service%20counter", tok, nil).Body), "counted 1 (1 seen)")
	}
	must(a.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Poke", "kind": "lua",
		"code": `local P = {} function P:Start() self:SubmitAction("counter", "count", {n = 1}) end return P`}), http.StatusCreated)
	must(a.Do(t, "PUT", base+"/flows/one", tok, map[string]any{"instances": []any{
		map[string]any{"name": "counter", "service": "Counter", "node": "hub"},
		map[string]any{"name": "poke", "service": "Poke", "node": "hub"}}}), http.StatusOK)
	hubtest.Eventually(t, "the counter to be poked", func() bool { return starts() >= 1 })
	if n := starts(); n != 1 {
		t.Fatalf("the hub node's instances run %d times, want once", n)
	}
	// The instance running them stops; the other takes over once the lease lapses.
	leases, err := outsideJetStream(t, url).KeyValue(context.Background(), "sb_hub_node_leases")
	if err != nil {
		t.Fatal(err)
	}
	e, err := leases.Get(context.Background(), sol)
	if err != nil {
		t.Fatalf("the solution's hub node lease: %v", err)
	}
	holder, other := a, b
	if string(e.Value()) == "hub-b" {
		holder, other = b, a
	}
	alive = other
	holder.Close(t)
	deadline := time.Now().Add(40 * time.Second)
	for strings.Count(string(other.Do(t, "GET", base+"/logs?source=node%20hub%20service%20counter", tok, nil).Body), "counted 1 (1 seen)") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the other instance did not take the hub node over")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
