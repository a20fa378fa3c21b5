package hub_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/clustertest"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// ticker sends "start" upstream when it starts, then a numbered tick every 50 ms: every run of
// it, anywhere, shows in what its handler counts.
const ticker = `local Ticker = {}

function Ticker:Start()
  self.n = 0
  self:SubmitMessage({kind = "start"})
  self.timer = Timer.every(50, function()
    self.n = self.n + 1
    self:SubmitMessage({kind = "tick", n = self.n})
  end)
end

return Ticker
`

// hubLeaseTime is how long a hub node's lease outlives its holder's last beat
// (hubLeaseTTL in hubnode.go): within it, another instance must have taken the node over.
const hubLeaseTime = 15 * time.Second

// TestNATSClusterSharesWork runs three instances of one deployment on a 3-node NATS cluster
// and checks that the work they share is done once, not once per instance: endpoint requests
// sent round-robin are all answered; automation invocations triggered through every instance
// (by the API and by an endpoint's script, one of them sent twice) each run their handler
// once; a connector runs on one instance, each message it takes stored once; a Lua service on
// the hub node starts on one instance only and its ticks are handled once each; and when the
// instance running it is closed, another starts it within the lease time.
func TestNATSClusterSharesWork(t *testing.T) {
	c := clustertest.Start(t)
	var all []*hubtest.Server
	for i := range 3 {
		all = append(all, hubtest.Start(t, func(cfg *hub.Config) {
			cfg.NATSURL = c.URLs()
			cfg.InstanceName = fmt.Sprintf("share-%d", i)
			// One deployment: its instances share the Kaa executor's queue group.
			cfg.KaaInstanceName = "share"
		}))
	}
	a := all[0]
	const sol = "plant"
	tok := a.CreateSolution(t, sol)
	base := "/api/v1/solutions/" + sol
	js := outsideJetStream(t, c.URLs())

	// served waits until every instance answers an endpoint with 200.
	served := func(t *testing.T, method, path string, body any) {
		t.Helper()
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to serve %s %s", i, method, path), func() bool {
				return s.Do(t, method, "/apps/"+sol+path, "", body).Status == http.StatusOK
			})
		}
	}
	// handler deploys a handler on a and waits until every instance knows it: an event (or
	// invocation) stored by one that does not yet would find no handler.
	handler := func(t *testing.T, name, topic, script string) {
		t.Helper()
		wantStatus(t, a.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": name, "topics": []string{topic}, "script": script}), http.StatusCreated)
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to know handler %s", i, name), func() bool {
				return s.Do(t, "GET", base+"/handlers/"+name, tok, nil).Status == http.StatusOK
			})
		}
	}
	// counts reads Keystore counters (0 for none) through the endpoint /counts of live, in one
	// request.
	a.Deploy(t, sol, "POST", "/counts", `local r = Keystore.mget({keys = request.body.keys})
if r.error then response.code = r.status return r end
local out = {}
for _, k in ipairs(request.body.keys) do out[k] = tonumber(r.values[k]) or 0 end
return out`)
	counts := func(t *testing.T, live *hubtest.Server, keys ...string) map[string]int {
		t.Helper()
		r := live.Do(t, "POST", "/apps/"+sol+"/counts", "", map[string]any{"keys": keys})
		if r.Status != http.StatusOK {
			t.Fatalf("counts: %d %s", r.Status, r.Body)
		}
		out := map[string]int{}
		r.JSON(t, &out)
		return out
	}
	served(t, "POST", "/counts", map[string]any{"keys": []string{"ran"}})

	t.Run("endpoints", func(t *testing.T) {
		a.Deploy(t, sol, "GET", "/hello/{n}", `return {hello = request.parameters.n}`)
		served(t, "GET", "/hello/0", nil)
		const n = 30
		for i := range n {
			r := all[i%len(all)].Do(t, "GET", fmt.Sprintf("/apps/%s/hello/%d", sol, i), "", nil)
			if want := fmt.Sprintf(`{"hello":"%d"}`, i); r.Status != http.StatusOK || string(r.Body) != want {
				t.Fatalf("request %d through instance %d: %d %s; want 200 %s", i, i%len(all), r.Status, r.Body, want)
			}
		}
	})

	t.Run("automations", func(t *testing.T) {
		handler(t, "tally", "automation.tally", `Keystore.incr({key = "ran-" .. event.correlation_id})
Keystore.incr({key = "ran"})`)
		a.Deploy(t, sol, "POST", "/invoke/{id}", `if request.parameters.id == "ready" then return {ready = true} end
local sent = Automation.invoke{type = "tally", correlation_id = request.parameters.id}
if sent.error then response.code = 500 return sent end
return {id = sent.correlation_id}`)
		served(t, "POST", "/invoke/ready", nil)

		// Through each instance in turn, by the API and by a script by turns.
		const n = 30
		var ids []string
		invoke := func(s *hubtest.Server, id string, byScript bool) {
			t.Helper()
			if byScript {
				wantStatus(t, s.Do(t, "POST", "/apps/"+sol+"/invoke/"+id, "", nil), http.StatusOK)
				return
			}
			wantStatus(t, s.Do(t, "POST", base+"/automations/tally?correlation_id="+id, tok, nil), http.StatusAccepted)
		}
		for i := range n {
			id := fmt.Sprintf("inv-%d", i)
			ids = append(ids, id)
			invoke(all[i%len(all)], id, i%2 == 1)
		}
		// The same invocation sent again, through another instance: it runs once.
		invoke(all[1], "inv-0", false)
		invoked := n + 1

		keys := []string{"ran"}
		for _, id := range ids {
			keys = append(keys, "ran-"+id)
		}
		hubtest.Eventually(t, fmt.Sprintf("%d invocations to run", n), func() bool { return counts(t, a, "ran")["ran"] >= n })
		waitHandlersDrained(t, js, sol, []string{"tally"}, 30*time.Second)
		got := counts(t, a, keys...)
		if got["ran"] != n {
			t.Errorf("the handler ran %d times for %d invocations", got["ran"], n)
		}
		for _, id := range ids {
			if got["ran-"+id] != 1 {
				t.Errorf("invocation %s ran %d times, want once", id, got["ran-"+id])
			}
		}
		// Each invocation was taken off the bus by one instance, and the handler's runs were
		// spread however the consumer delivered them, each counted where it ran (just after
		// it was acknowledged).
		var received, executed, published float64
		hubtest.Eventually(t, "the handler's runs to be counted", func() bool {
			received, executed, published = 0, 0, 0
			for _, s := range all {
				received += automationMetric(t, s, "received", "tally", sol)
				executed += automationMetric(t, s, "executed", "tally", sol)
				published += automationMetric(t, s, "published", "tally", sol)
			}
			return int(executed) >= n
		})
		if int(published) != invoked || int(received) != invoked || int(executed) != n {
			t.Errorf("over the three instances: %v published, %v received, %v executed; want %d, %d and %d",
				published, received, executed, invoked, invoked, n)
		}
	})

	t.Run("connectors", func(t *testing.T) {
		// A core NATS subscription on a broker of the test's own: were the connector running on
		// more than one instance, each would take every message and store it as an event.
		src, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		src.Start()
		t.Cleanup(src.Shutdown)
		if !src.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready within 10s")
		}
		handler(t, "relay", "relayed", `Keystore.incr({key = "relayed-" .. event.data.kind})`)
		wantStatus(t, a.Do(t, "POST", base+"/connectors", tok, map[string]any{"name": "feed", "type": "nats", "topic": "relayed",
			"config": map[string]any{"url": src.ClientURL(), "subjects": []string{"feed.>"}}}), http.StatusCreated)
		var runner string
		for i, s := range all {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to report the connector running", i), func() bool {
				var got connectorAnswer
				if r := s.Do(t, "GET", base+"/connectors/feed", tok, nil); r.Status == http.StatusOK {
					r.JSON(t, &got)
				}
				if got.Status.State != "running" || !strings.HasPrefix(got.Status.Instance, "share-") {
					return false
				}
				runner = cmp.Or(runner, got.Status.Instance)
				return got.Status.Instance == runner
			})
		}
		nc, err := nats.Connect(src.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		publish := func(kind string) {
			t.Helper()
			if err := nc.Publish("feed.in", []byte(`{"kind":"`+kind+`"}`)); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		// Core NATS keeps nothing for a subscription not yet in place: probes until one comes
		// through, then the messages counted.
		hubtest.Eventually(t, "a probe to be relayed", func() bool {
			publish("probe")
			return counts(t, a, "relayed-probe")["relayed-probe"] > 0
		})
		const n = 20
		for range n {
			publish("counted")
		}
		hubtest.Eventually(t, fmt.Sprintf("%d messages to be relayed", n), func() bool { return counts(t, a, "relayed-counted")["relayed-counted"] >= n })
		waitHandlersDrained(t, js, sol, []string{"relay"}, 30*time.Second)
		if got := counts(t, a, "relayed-counted")["relayed-counted"]; got != n {
			t.Errorf("%d messages published to the connector's subject became %d events; want each once (the connector runs on %s)", n, got, runner)
		}
	})

	t.Run("hosted", func(t *testing.T) {
		handler(t, "ticker", "ticker.hub", `if event.data.kind == "start" then
  Keystore.incr({key = "starts"})
else
  Keystore.incr({key = "tick-" .. event.data.n})
end`)
		wantStatus(t, a.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "Ticker", "kind": "lua", "code": ticker}), http.StatusCreated)
		wantStatus(t, a.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "ticking", "instances": []any{
			map[string]any{"name": "ticker", "service": "Ticker", "node": "hub", "upstream": "ticker.hub"}}}), http.StatusCreated)

		ticks := func(upto int) []string {
			ks := []string{"starts"}
			for k := 1; k <= upto; k++ {
				ks = append(ks, fmt.Sprintf("tick-%d", k))
			}
			return ks
		}
		// atLeast reports whether each tick up to upto was counted at least want times.
		atLeast := func(got map[string]int, upto, want int) bool {
			for _, k := range ticks(upto)[1:] {
				if got[k] < want {
					return false
				}
			}
			return true
		}
		const first = 20
		var got map[string]int
		hubtest.Eventually(t, fmt.Sprintf("the first %d ticks to be handled", first), func() bool {
			got = counts(t, a, ticks(first)...)
			return atLeast(got, first, 1)
		})
		// Were it running on more than one instance, each would have started and ticked.
		if got["starts"] != 1 || !exactly(got, ticks(first)[1:], 1) {
			t.Fatalf("after %d ticks: %v; want one start and each tick once", first, got)
		}

		holder := leaseHolder(t, js, sol)
		var closed, live *hubtest.Server
		for i, s := range all {
			if fmt.Sprintf("share-%d", i) == holder {
				closed = s
			} else if live == nil {
				live = s
			}
		}
		if closed == nil {
			t.Fatalf("the hub node's lease is held by %q, none of the instances", holder)
		}
		closed.Close(t)
		stopped := time.Now()
		deadline := stopped.Add(hubLeaseTime)
		for counts(t, live, "starts")["starts"] < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("no other instance started the hub node's service within %v of %s closing", hubLeaseTime, holder)
			}
			time.Sleep(50 * time.Millisecond) // the poll's resolution
		}
		t.Logf("hub node taken over %v after %s closed", time.Since(stopped).Round(time.Millisecond), holder)
		if now := leaseHolder(t, js, sol); now == holder {
			t.Errorf("the lease still names %s, which was closed", holder)
		}

		// The new run counts its ticks from 1 again: each once more, and only once.
		const second = 5
		hubtest.Eventually(t, fmt.Sprintf("the new run's first %d ticks to be handled", second), func() bool {
			got = counts(t, live, ticks(second)...)
			return atLeast(got, second, 2)
		})
		if got["starts"] != 2 || !exactly(got, ticks(second)[1:], 2) {
			t.Fatalf("after the takeover: %v; want two starts and each early tick twice", got)
		}
	})
}

// exactly reports whether every key of keys counts want.
func exactly(got map[string]int, keys []string, want int) bool {
	for _, k := range keys {
		if got[k] != want {
			return false
		}
	}
	return true
}

// leaseHolder is the instance named by sol's hub node lease.
func leaseHolder(t *testing.T, js jetstream.JetStream, sol string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases, err := js.KeyValue(ctx, "sb_hub_node_leases")
	if err != nil {
		t.Fatalf("hub node leases: %v", err)
	}
	e, err := leases.Get(ctx, sol)
	if err != nil {
		t.Fatalf("the hub node lease of %s: %v", sol, err)
	}
	return string(e.Value())
}
