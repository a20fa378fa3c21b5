package hosted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// flowFixture is a store with, in solution plant, a lua service Blink (0.1: static pin, a
// number defaulting to 4, and mode, a required string; security key, required) and a python
// service Read, and a node edge-1 tagged gpio.
func flowFixture(t *testing.T) (*Store, *bus.Bus) {
	t.Helper()
	b := testBus(t)
	s := openStore(t, b, Options{})
	ctx := context.Background()
	if _, err := s.Create(ctx, "plant", Service{Name: "Blink", Kind: KindLua}, Input{Code: "return {}",
		Static:   []Property{{Name: "pin", Type: TypeNumber, Default: 4.0}, {Name: "mode", Required: true}},
		Security: []Property{{Name: "key", Required: true}, {Name: "extra"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "plant", Service{Name: "Read", Kind: KindPython}, Input{Code: "class Read: pass"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateNode(ctx, "plant", "edge-1", []string{"gpio"}); err != nil {
		t.Fatal(err)
	}
	return s, b
}

func blink(name string) Instance {
	return Instance{Name: name, Service: "Blink", Node: HubNode, Static: map[string]any{"mode": "fast"}, Security: Secrets{"key": "hunter2"}, Upstream: "plant.blinks"}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *solution.FieldError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("error %v; want one naming %s", err, field)
	}
}

// TestFlowChecks: each bad instance is refused naming its field, and no error carries a
// security value.
func TestFlowChecks(t *testing.T) {
	s, _ := flowFixture(t)
	ctx := context.Background()
	if _, err := s.CreateFlow(ctx, "plant", Flow{Name: "lights", Instances: []Instance{blink("A")}}); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(*Instance)) []Instance { in := blink("B"); f(&in); return []Instance{in} }
	tests := []struct {
		name      string
		flow      Flow
		field     string
		mentioned string
	}{
		{"bad flow name", Flow{Name: "no spaces"}, "name", ""},
		{"flow exists", Flow{Name: "Lights"}, "name", "lights"},
		{"bad instance name", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Name = "*" })}, "instances[0].name", ""},
		{"instance in another flow", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Name = "a" })}, "instances[0].name", "lights"},
		{"twice in the flow", Flow{Name: "f", Instances: append(mod(func(*Instance) {}), blink("B"))}, "instances[1].name", ""},
		{"no service", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Service = "Ghost" })}, "instances[0].service", "Ghost"},
		{"no version", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Version = "3" })}, "instances[0].version", "0.1"},
		{"bad pin", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Version = "x" })}, "instances[0].version", ""},
		{"node and tag", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Tag = "gpio" })}, "instances[0].node", ""},
		{"neither", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Node = "" })}, "instances[0].node", ""},
		{"python on the hub", Flow{Name: "f", Instances: []Instance{{Name: "R", Service: "Read", Node: HubNode}}}, "instances[0].node", "lua"},
		{"unknown node", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Node = "edge-9" })}, "instances[0].node", "edge-9"},
		{"bad tag", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Node, i.Tag = "", "GPIO!" })}, "instances[0].tag", ""},
		{"bad upstream", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Upstream = "Plant Blinks" })}, "instances[0].upstream", ""},
		{"unknown static", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Static["colour"] = "red" })}, "instances[0].static.colour", "pin, mode"},
		{"static of another type", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Static["pin"] = "4" })}, "instances[0].static.pin", "number"},
		{"static required", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Static = nil })}, "instances[0].static.mode", "required"},
		{"static too long", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Static["mode"] = strings.Repeat("x", MaxDescriptionLen+1) })}, "instances[0].static.mode", "longer"},
		{"unknown security", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Security["token"] = "hunter2" })}, "instances[0].security.token", ""},
		{"security required", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Security = nil })}, "instances[0].security.key", "required"},
		{"security shown mark, none stored", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Security["key"] = SetMark })}, "instances[0].security.key", SetMark},
		{"security too long", Flow{Name: "f", Instances: mod(func(i *Instance) { i.Security["key"] = strings.Repeat("hunter2", MaxSecretBytes) })}, "instances[0].security.key", "at most"},
		{"too many instances", Flow{Name: "f", Instances: make([]Instance, MaxInstancesPerFlow+1)}, "instances", "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateFlow(ctx, "plant", tc.flow)
			wantField(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.mentioned) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q; want %q named and no security value", err, tc.mentioned)
			}
		})
	}
	if _, err := s.UpdateFlow(ctx, "plant", Flow{Name: "ghost"}); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("update of no flow: %v", err)
	}
}

// TestFlowSecurityRoundTrip: security values are never in a flow's JSON; sending a shown flow
// back keeps them; a new value replaces one; another instance reads them from KV.
func TestFlowSecurityRoundTrip(t *testing.T) {
	s, b := flowFixture(t)
	ctx := context.Background()
	in := blink("A")
	in.Security["extra"] = "swordfish"
	f, err := s.CreateFlow(ctx, "plant", Flow{Name: "lights", Instances: []Instance{in}})
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := json.Marshal(f)
	if strings.Contains(string(shown), "hunter2") || strings.Contains(string(shown), "swordfish") || strings.Contains(string(shown), f.salt) || !strings.Contains(string(shown), `"key":"(set)"`) {
		t.Fatalf("flow shown as %s", shown)
	}
	var back struct {
		Name      string
		Instances []Instance
	}
	if err := json.Unmarshal(shown, &back); err != nil {
		t.Fatal(err)
	}
	delete(back.Instances[0].Security, "extra") // omitted: kept too
	back.Instances[0].Static["pin"] = 7.0
	if _, err := s.UpdateFlow(ctx, "plant", Flow{Name: back.Name, Instances: back.Instances}); err != nil {
		t.Fatal(err)
	}
	other := openStore(t, b, Options{})
	got, ok := other.GetFlow("plant", "lights")
	if !ok || got.Instances[0].Security["key"] != "hunter2" || got.Instances[0].Security["extra"] != "swordfish" || got.Instances[0].Static["pin"] != 7.0 || got.salt != f.salt {
		t.Fatalf("after a round trip another instance reads %+v", got)
	}
	up := blink("A")
	up.Security["key"] = "correct-horse"
	if _, err := s.UpdateFlow(ctx, "plant", Flow{Name: "lights", Instances: []Instance{up}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetFlow("plant", "lights"); got.Instances[0].Security["key"] != "correct-horse" || got.Instances[0].Security["extra"] != "swordfish" {
		t.Fatalf("after a new value: %+v", got.Instances[0].Security)
	}
}

// TestFlowBounds: flows per solution and instances per solution are bounded, and a flow's
// stored size.
func TestFlowBounds(t *testing.T) {
	s, _ := flowFixture(t)
	ctx := context.Background()
	n := 0
	for i := range MaxInstancesPerSolution / MaxInstancesPerFlow {
		ins := make([]Instance, MaxInstancesPerFlow)
		for j := range ins {
			ins[j] = blink(fmt.Sprintf("I%d", n))
			n++
		}
		if _, err := s.CreateFlow(ctx, "plant", Flow{Name: fmt.Sprintf("f%d", i), Instances: ins}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.CreateFlow(ctx, "plant", Flow{Name: "more", Instances: []Instance{blink("extra")}})
	wantField(t, err, "instances")
	for i := len(s.Flows("plant")); i < MaxFlows; i++ {
		if _, err := s.CreateFlow(ctx, "plant", Flow{Name: fmt.Sprintf("empty%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.CreateFlow(ctx, "plant", Flow{Name: "one-more"})
	wantField(t, err, "name")
	// Another solution has bounds of its own.
	if _, err := s.CreateFlow(ctx, "other", Flow{Name: "one-more"}); err != nil {
		t.Fatal(err)
	}

	big := openStore(t, testBus(t), Options{})
	props := make([]Property, MaxProperties)
	for i := range props {
		props[i] = Property{Name: fmt.Sprintf("p%d", i)}
	}
	if _, err := big.Create(ctx, "plant", Service{Name: "Big", Kind: KindLua}, Input{Code: "return {}", Security: props}); err != nil {
		t.Fatal(err)
	}
	ins := make([]Instance, 2)
	for i := range ins {
		ins[i] = Instance{Name: fmt.Sprintf("B%d", i), Service: "Big", Node: HubNode, Security: Secrets{}}
		for _, p := range props {
			ins[i].Security[p.Name] = strings.Repeat("s", MaxSecretBytes)
		}
	}
	_, err = big.CreateFlow(ctx, "plant", Flow{Name: "big", Instances: ins})
	wantField(t, err, "instances")
}

// TestDeleteInUse: a service or node a flow uses is kept, the flows named; once the flow is
// gone it can be deleted.
func TestDeleteInUse(t *testing.T) {
	s, _ := flowFixture(t)
	ctx := context.Background()
	if _, err := s.CreateFlow(ctx, "plant", Flow{Name: "reader", Instances: []Instance{{Name: "R", Service: "Read", Node: "edge-1"}}}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{s.Delete(ctx, "plant", "Read"), s.DeleteNode(ctx, "plant", "edge-1")} {
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "reader") {
			t.Fatalf("delete in use: %v", err)
		}
	}
	if _, ok := s.Get("plant", "Read"); !ok {
		t.Fatal("a service in use went")
	}
	if err := s.DeleteFlow(ctx, "plant", "reader"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "plant", "Read"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNode(ctx, "plant", "edge-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFlow(ctx, "plant", "reader"); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
}
