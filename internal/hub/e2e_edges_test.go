package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/edge"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestEdgeNodeLink: a node signs in, connects to the hub's leaf listener as its agent would,
// finds its assignment (with each instance's code and security values) in its own bucket,
// and what it sends through its outbox becomes, in order, events of the instances' upstream
// topic, lines of the solution's log, alerts.{node}.{service} events and the node's state.
func TestEdgeNodeLink(t *testing.T) {
	s := hubtest.Start(t, func(c *hub.Config) { c.LeafListen = "127.0.0.1:0" })
	tok := s.CreateSolution(t, "plant")
	base := "/api/v1/solutions/plant"
	must := func(r hubtest.Response, status int) map[string]any { t.Helper(); return wantStatus(t, r, status) }
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "readings", "topics": []string{"readings.pi"},
		"script": `Keystore.set({key = "reading-" .. event.data.n, value = event.id})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/handlers", tok, map[string]any{"name": "alerts", "topics": []string{"alerts.>"},
		"script": `Keystore.set({key = "alert", value = event.topic .. "|" .. event.data.message .. "|" .. event.data.fault_code})`}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/hosted-services", tok, map[string]any{"name": "ReadGPIO", "kind": "python", "code": "class ReadGPIO: pass\n",
		"security_properties": []any{map[string]any{"name": "api_key"}}}), http.StatusCreated)
	node := must(s.Do(t, "POST", base+"/nodes", tok, map[string]any{"name": "pi-1", "tags": []string{"gpio"}}), http.StatusCreated)
	must(s.Do(t, "POST", base+"/flows", tok, map[string]any{"name": "readings", "instances": []any{map[string]any{
		"name": "readgpio_py", "service": "ReadGPIO", "tag": "gpio", "upstream": "readings.pi", "security": map[string]any{"api_key": "k-123"}}}}), http.StatusCreated)

	signin := must(s.Do(t, "POST", "/api/v1/nodes/signin", "", map[string]any{"solution": "plant", "node": "pi-1", "token": node["token"]}), http.StatusOK)
	leaf, _ := signin["leaf_url"].(string)
	if !strings.HasPrefix(leaf, "nats-leaf://127.0.0.1:") || signin["leaf_user"] != "plant.pi-1" || signin["domain"] != edge.Domain("plant", "pi-1") {
		t.Fatalf("sign-in answered %v", signin)
	}
	ctx := context.Background()
	n, err := edge.StartNode(ctx, edge.NodeConfig{HubURL: leaf, User: "plant.pi-1", Password: signin["credential"].(string),
		DataDir: t.TempDir(), Domain: signin["domain"].(string), ReconnectWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)

	var got hosted.NodeAssignment
	hubtest.Eventually(t, "the node's assignment to be written", func() bool {
		raw, err := n.Assignment(ctx, hosted.AssignmentKey)
		return err == nil && json.Unmarshal(raw, &got) == nil && len(got.Instances) == 1
	})
	inst := got.Instances[0]
	if got.Node != "pi-1" || inst.Instance != "readgpio_py" || inst.Version != "0.1" || inst.Security["api_key"] != "k-123" || inst.Upstream != "readings.pi" {
		t.Fatalf("assignment %+v", got)
	}
	if code, err := n.Assignment(ctx, hosted.CodeKeyPrefix+inst.CodeSHA256); err != nil || string(code) != "class ReadGPIO: pass\n" {
		t.Fatalf("code %q, %v", code, err)
	}

	send := func(kind string, up hosted.Up) {
		t.Helper()
		up.Time, up.Instance, up.Service, up.Version = time.Now(), "readgpio_py", "ReadGPIO", "0.1"
		raw, _ := json.Marshal(up)
		if _, err := n.Publish(ctx, kind, raw, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		send(hosted.UpMessage, hosted.Up{Topic: "readings.pi", Message: map[string]any{"n": i}})
	}
	send(hosted.UpLog, hosted.Up{Level: "warning", Message: "pin 4 is noisy"})
	send(hosted.UpAlert, hosted.Up{Message: "Unable to read GPIO", FaultCode: "666", FaultDescription: "bus error"})
	send(hosted.UpState, hosted.Up{State: &hosted.NodeState{AgentVersion: "test", Instances: []hosted.ReportedInstance{{Name: "readgpio_py", Service: "ReadGPIO", Version: "0.1", State: "running"}}}})

	keystore := func(key string) string { return keystoreValue(t, s, "plant", tok, key) }
	hubtest.Eventually(t, "the alert's handler to run", func() bool { return keystore("alert") != "" })
	if a := keystore("alert"); a != "alerts.pi-1.readgpio|Unable to read GPIO|666" {
		t.Fatalf("alert handled as %q", a)
	}
	ids := []string{keystore("reading-1"), keystore("reading-2"), keystore("reading-3")}
	for i, id := range ids {
		if !strings.HasPrefix(id, edge.Domain("plant", "pi-1")+"-") {
			t.Fatalf("reading %d: event id %q", i+1, id)
		}
	}
	logs := s.Do(t, "GET", base+"/logs?source="+"node%20pi-1%20service%20readgpio_py", tok, nil)
	if !strings.Contains(string(logs.Body), "pin 4 is noisy") || !strings.Contains(string(logs.Body), `"level":"warn"`) || !strings.Contains(string(logs.Body), "Unable to read GPIO") {
		t.Fatalf("solution log: %s", logs.Body)
	}
	hubtest.Eventually(t, "the node's state to show", func() bool {
		m := s.Do(t, "GET", base+"/nodes/pi-1", tok, nil).Map(t)
		return m["online"] == true && m["agent_version"] == "test"
	})
	for _, r := range []hubtest.Response{s.Do(t, "GET", base+"/nodes/pi-1", tok, nil), s.Do(t, "GET", base+"/flows/readings", tok, nil), logs} {
		if strings.Contains(string(r.Body), "k-123") {
			t.Fatalf("a security value in an answer: %s", r.Body)
		}
	}

	// A change of the flow reaches the connected node.
	must(s.Do(t, "PUT", base+"/flows/readings", tok, map[string]any{"instances": []any{map[string]any{
		"name": "readgpio_py", "service": "ReadGPIO", "tag": "gpio", "upstream": "readings.pi2", "security": map[string]any{"api_key": "(set)"}}}}), http.StatusOK)
	hubtest.Eventually(t, "the changed assignment to reach the node", func() bool {
		raw, err := n.Assignment(ctx, hosted.AssignmentKey)
		return err == nil && json.Unmarshal(raw, &got) == nil && len(got.Instances) == 1 && got.Instances[0].Upstream == "readings.pi2"
	})
	if got.Instances[0].Security["api_key"] != "k-123" {
		t.Fatalf("the kept security value did not reach the node: %+v", got.Instances[0])
	}

	// A new version replaces the code on the node; the old code goes from its bucket.
	oldCode := hosted.CodeKeyPrefix + got.Instances[0].CodeSHA256
	must(s.Do(t, "POST", base+"/hosted-services/ReadGPIO/versions", tok, map[string]any{"update": "minor", "code": "class ReadGPIO: v = 2\n",
		"security_properties": []any{map[string]any{"name": "api_key"}}}), http.StatusCreated)
	hubtest.Eventually(t, "version 0.2 to reach the node and its old code to go", func() bool {
		raw, err := n.Assignment(ctx, hosted.AssignmentKey)
		if err != nil || json.Unmarshal(raw, &got) != nil || len(got.Instances) != 1 || got.Instances[0].Version != "0.2" {
			return false
		}
		_, err = n.Assignment(ctx, oldCode)
		return err != nil
	})
	if code, err := n.Assignment(ctx, hosted.CodeKeyPrefix+got.Instances[0].CodeSHA256); err != nil || string(code) != "class ReadGPIO: v = 2\n" {
		t.Fatalf("the new code on the node: %q, %v", code, err)
	}

}
