package hosted

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAssignment: each node gets the instances placed on it by name or tag, with defaults
// applied and the version resolved; disabled instances and nodes get nothing; the hash
// changes with exactly what must restart an instance.
func TestAssignment(t *testing.T) {
	s, b := flowFixture(t)
	ctx := context.Background()
	if _, _, err := s.CreateNode(ctx, "plant", "edge-2", []string{"gpio", "cellar"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateNode(ctx, "plant", "edge-3", nil); err != nil {
		t.Fatal(err)
	}
	off := Instance{Name: "Off", Service: "Read", Tag: "gpio", Disabled: true}
	f := Flow{Name: "lights", Instances: []Instance{
		blink("OnHub"),
		{Name: "ReadAll", Service: "Read", Tag: "gpio", Upstream: "plant.readings"},
		{Name: "ReadOne", Service: "Read", Version: "0", Node: "edge-2"},
		off,
	}}
	if _, err := s.CreateFlow(ctx, "plant", f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateFlow(ctx, "plant", Flow{Name: "cellar", Instances: []Instance{{Name: "Cellar", Service: "Read", Tag: "cellar"}}}); err != nil {
		t.Fatal(err)
	}
	names := func(node string) string {
		as, err := s.Assignment("plant", node)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.Flow+"/"+a.Instance)
		}
		return strings.Join(out, ",")
	}
	for node, want := range map[string]string{
		HubNode: "lights/OnHub", "edge-1": "lights/ReadAll", "edge-2": "cellar/Cellar,lights/ReadAll,lights/ReadOne", "edge-3": "",
	} {
		if got := names(node); got != want {
			t.Errorf("%s is assigned %q; want %q", node, got, want)
		}
	}
	if _, err := s.Assignment("plant", "ghost"); err == nil {
		t.Fatal("assignment of no node")
	}
	if _, err := s.Assignment("other", "edge-1"); err == nil {
		t.Fatal("another solution's node")
	}

	hub, _ := s.Assignment("plant", HubNode)
	a := hub[0]
	if a.Version != "0.1" || a.Kind != KindLua || a.Static["pin"] != 4.0 || a.Static["mode"] != "fast" || a.Security["key"] != "hunter2" || a.Upstream != "plant.blinks" || len(a.Hash) != 64 {
		t.Fatalf("assigned %+v", a)
	}
	if shown, _ := json.Marshal(hub); strings.Contains(string(shown), "hunter2") {
		t.Fatalf("assignment shown as %s", shown)
	}
	// Another instance computes the same.
	other := openStore(t, b, Options{})
	if o, _ := other.Assignment("plant", HubNode); len(o) != 1 || o[0].Hash != a.Hash {
		t.Fatalf("another instance: %+v", o)
	}

	hashOf := func(node, instance string) string {
		as, _ := s.Assignment("plant", node)
		for _, a := range as {
			if a.Instance == instance {
				return a.Hash
			}
		}
		return ""
	}
	before := map[string]string{"OnHub": hashOf(HubNode, "OnHub"), "ReadAll": hashOf("edge-1", "ReadAll"), "ReadOne": hashOf("edge-2", "ReadOne")}
	changed := func(what string, want ...string) {
		t.Helper()
		for _, in := range []string{"OnHub", "ReadAll", "ReadOne"} {
			node := map[string]string{"OnHub": HubNode, "ReadAll": "edge-1", "ReadOne": "edge-2"}[in]
			now := hashOf(node, in)
			if (now != before[in]) != strings.Contains(strings.Join(want, ","), in) {
				t.Errorf("after %s, %s's hash changed: %v; want changed only %v", what, in, now != before[in], want)
			}
			before[in] = now
		}
	}
	// A new property value of one instance restarts it alone.
	up := f
	up.Instances = append([]Instance(nil), f.Instances...)
	up.Instances[0] = blink("OnHub")
	up.Instances[0].Security["key"] = "correct-horse"
	if _, err := s.UpdateFlow(ctx, "plant", up); err != nil {
		t.Fatal(err)
	}
	changed("a new security value", "OnHub")
	// Sending the flow back as shown changes nothing.
	shown, _ := s.GetFlow("plant", "lights")
	var back Flow
	data, _ := json.Marshal(shown)
	var plain struct{ Instances []Instance }
	json.Unmarshal(data, &plain) //nolint:errcheck
	back.Name, back.Instances = "lights", plain.Instances
	if _, err := s.UpdateFlow(ctx, "plant", back); err != nil {
		t.Fatal(err)
	}
	changed("a round trip")
	// A new version restarts those pinned to what it falls under.
	if _, _, err := s.AddVersion(ctx, "plant", "Read", false, Input{Code: "class Read: v = 2"}); err != nil {
		t.Fatal(err)
	}
	changed("a new version of Read", "ReadAll", "ReadOne")
	if a, _ := s.Assignment("plant", "edge-2"); a[2].Version != "0.2" {
		t.Fatalf("after a new version: %+v", a)
	}
	// A restart of a node restarts what it runs.
	if _, err := s.RestartNode(ctx, "plant", "edge-1"); err != nil {
		t.Fatal(err)
	}
	changed("a restart of edge-1", "ReadAll")
	// A disabled node is assigned nothing.
	yes := true
	if _, err := s.UpdateNode(ctx, "plant", "edge-2", NodeChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if got := names("edge-2"); got != "" {
		t.Fatalf("disabled node is assigned %q", got)
	}
	// Tags changed: assignments follow.
	if _, err := s.UpdateNode(ctx, "plant", "edge-3", NodeChange{Tags: &[]string{"cellar"}}); err != nil {
		t.Fatal(err)
	}
	if got := names("edge-3"); got != "cellar/Cellar" {
		t.Fatalf("edge-3 tagged cellar is assigned %q", got)
	}
}

// TestOnChange: writes of services, flows and nodes, through this instance or another, call
// the hook with their solution; state reports do not.
func TestOnChange(t *testing.T) {
	s, b := flowFixture(t)
	watcher := openStore(t, b, Options{})
	var mu sync.Mutex
	calls := map[string]int{}
	got := make(chan string, 64)
	watcher.OnChange(func(sol string) {
		mu.Lock()
		calls[sol]++
		mu.Unlock()
		got <- sol
	})
	ctx := context.Background()
	wait := func(what string) {
		t.Helper()
		select {
		case sol := <-got:
			if sol != "plant" {
				t.Fatalf("%s: hook called for %s", what, sol)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: hook not called", what)
		}
	}
	if _, err := s.CreateFlow(ctx, "plant", Flow{Name: "lights", Instances: []Instance{blink("A")}}); err != nil {
		t.Fatal(err)
	}
	wait("a flow created")
	if err := s.ReportState(ctx, "plant", "edge-1", NodeState{AgentVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestartNode(ctx, "plant", "edge-1"); err != nil {
		t.Fatal(err)
	}
	wait("a node restarted")
	select {
	case sol := <-got:
		t.Fatalf("a state report called the hook (%s)", sol)
	default:
	}
	if _, _, err := s.AddVersion(ctx, "plant", "Read", false, Input{Code: "class Read: v = 2"}); err != nil {
		t.Fatal(err)
	}
	wait("a service updated")
	if err := s.DeleteFlow(ctx, "plant", "lights"); err != nil {
		t.Fatal(err)
	}
	wait("a flow deleted")
}
