package hosted

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestNodeChecks: bad names and tags are refused naming the field; hub is reserved.
func TestNodeChecks(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	if _, _, err := s.CreateNode(ctx, "plant", "edge-1", nil); err != nil {
		t.Fatal(err)
	}
	tooMany := make([]string, MaxTags+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("t%d", i)
	}
	for _, c := range []struct {
		name  string
		tags  []string
		field string
	}{
		{"Edge", nil, "name"},
		{"edge.1", nil, "name"},
		{"", nil, "name"},
		{HubNode, nil, "name"},
		{"edge-1", nil, "name"},
		{"edge-2", []string{"ok", "Not Ok"}, "tags[1]"},
		{"edge-2", []string{"a", "a"}, "tags[1]"},
		{"edge-2", tooMany, "tags"},
	} {
		_, _, err := s.CreateNode(ctx, "plant", c.name, c.tags)
		wantField(t, err, c.field)
	}
	_, err := s.UpdateNode(ctx, "plant", HubNode, NodeChange{Tags: &[]string{"x"}})
	wantField(t, err, "tags")
	wantField(t, s.DeleteNode(ctx, "plant", HubNode), "name")
	_, _, err = s.NewToken(ctx, "plant", HubNode)
	wantField(t, err, "name")
	if _, err := s.UpdateNode(ctx, "plant", "ghost", NodeChange{}); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("update of no node: %v", err)
	}
}

// TestNodeBound: a solution's nodes are bounded; another solution's are its own.
func TestNodeBound(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	for i := range MaxNodes {
		if _, _, err := s.CreateNode(ctx, "plant", fmt.Sprintf("n%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := s.CreateNode(ctx, "plant", "one-more", nil)
	wantField(t, err, "name")
	if _, _, err := s.CreateNode(ctx, "other", "one-more", nil); err != nil {
		t.Fatal(err)
	}
}

// TestSignIn: the provisioning token works once, for a credential; afterwards only the
// credential authenticates; a new token revokes the credential; every refusal is alike,
// whether the node exists or not.
func TestSignIn(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openStore(t, testBus(t), Options{Now: c.Now})
	ctx := context.Background()
	n, token, err := s.CreateNode(ctx, "plant", "edge-1", nil)
	if err != nil || !strings.HasPrefix(token, "sbp_") || len(token) < 20 {
		t.Fatalf("create: %q, %v", token, err)
	}
	if st := s.Status(n); !st.Provisioning || st.SignedIn || st.Online {
		t.Fatalf("new node: %+v", st)
	}
	for _, c := range []struct{ sol, node, token string }{
		{"plant", "edge-1", "sbp_wrong"}, {"plant", "edge-1", ""}, {"plant", "edge-9", token}, {"other", "edge-1", token}, {"plant", HubNode, ""},
	} {
		if _, err := s.SignIn(ctx, c.sol, c.node, c.token); err != ErrSignIn {
			t.Errorf("sign-in %+v: %v; want ErrSignIn", c, err)
		}
	}
	cred, err := s.SignIn(ctx, "plant", "edge-1", token)
	if err != nil || !strings.HasPrefix(cred, "sbc_") {
		t.Fatalf("sign-in: %q, %v", cred, err)
	}
	if _, err := s.SignIn(ctx, "plant", "edge-1", token); err != ErrSignIn {
		t.Fatalf("the token again: %v", err)
	}
	if _, err := s.SignIn(ctx, "plant", "edge-1", cred); err != ErrSignIn {
		t.Fatalf("the credential as a token: %v", err)
	}
	if !s.Authenticate("plant", "edge-1", cred) || s.Authenticate("plant", "edge-1", token) || s.Authenticate("other", "edge-1", cred) || s.Authenticate("plant", HubNode, "") {
		t.Fatal("authenticate: only the credential of its node")
	}
	n, _ = s.GetNode("plant", "edge-1")
	if st := s.Status(n); st.Provisioning || !st.SignedIn {
		t.Fatalf("signed-in node: %+v", st)
	}
	c.add(SignInWindow) // past the failures above, so what follows is not refused for them
	_, again, err := s.NewToken(ctx, "plant", "edge-1")
	if err != nil || again == token {
		t.Fatalf("new token: %v", err)
	}
	if s.Authenticate("plant", "edge-1", cred) {
		t.Fatal("the credential outlived a new token")
	}
	if c2, err := s.SignIn(ctx, "plant", "edge-1", again); err != nil || c2 == cred {
		t.Fatalf("sign-in with the new token: %v", err)
	}
}

// TestSignInLimit: after SignInFailures failures a node's sign-ins are refused, its right
// token too, until the window ends; a name that does not exist is limited alike.
func TestSignInLimit(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openStore(t, testBus(t), Options{Now: c.Now})
	ctx := context.Background()
	_, token, err := s.CreateNode(ctx, "plant", "edge-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"edge-1", "ghost"} {
		for range SignInFailures {
			if _, err := s.SignIn(ctx, "plant", node, "sbp_guess"); err != ErrSignIn {
				t.Fatalf("guess at %s: %v", node, err)
			}
		}
		if _, err := s.SignIn(ctx, "plant", node, token); err != ErrSignInLimited {
			t.Fatalf("%s after %d failures: %v; want ErrSignInLimited", node, SignInFailures, err)
		}
	}
	c.add(SignInWindow)
	if _, err := s.SignIn(ctx, "plant", "edge-1", token); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestNodeState: a node is online while it reports within the window; the hub always; the
// hub can be disabled and restarted, its record made then; reports are bounded.
func TestNodeState(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openStore(t, testBus(t), Options{Now: c.Now, OnlineWindow: time.Minute})
	ctx := context.Background()
	if _, _, err := s.CreateNode(ctx, "plant", "edge-1", []string{"gpio"}); err != nil {
		t.Fatal(err)
	}
	st := NodeState{AgentVersion: "1.2.3", Instances: []ReportedInstance{{Name: "A", Service: "Blink", Version: "0.1", State: "running"}}}
	if err := s.ReportState(ctx, "plant", "edge-1", st); err != nil {
		t.Fatal(err)
	}
	status := func(name string) NodeStatus { n, _ := s.GetNode("plant", name); return s.Status(n) }
	if got := status("edge-1"); !got.Online || got.AgentVersion != "1.2.3" || len(got.Instances) != 1 || !got.LastSeen.Equal(c.now) {
		t.Fatalf("reported: %+v", got)
	}
	c.add(time.Minute + time.Second)
	if got := status("edge-1"); got.Online {
		t.Fatalf("silent past the window: %+v", got)
	}
	if got := status(HubNode); !got.Online || !got.Hub {
		t.Fatalf("hub: %+v", got)
	}
	if err := s.ReportState(ctx, "plant", "ghost", st); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("report of no node: %v", err)
	}
	wantField(t, s.ReportState(ctx, "plant", "edge-1", NodeState{AgentVersion: strings.Repeat("v", MaxReportedText+1)}), "instances")
	wantField(t, s.ReportState(ctx, "plant", "edge-1", NodeState{Instances: make([]ReportedInstance, MaxInstancesPerSolution+1)}), "instances")

	yes := true
	if n, err := s.UpdateNode(ctx, "plant", HubNode, NodeChange{Disabled: &yes}); err != nil || !n.Disabled {
		t.Fatalf("disable hub: %+v, %v", n, err)
	}
	if n, err := s.RestartNode(ctx, "plant", HubNode); err != nil || n.Generation != 1 || !n.Disabled {
		t.Fatalf("restart hub: %+v, %v", n, err)
	}
	names := []string{}
	for _, n := range s.Nodes("plant") {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "edge-1,hub" || len(s.Nodes("other")) != 1 {
		t.Fatalf("nodes %v; other %v", names, s.Nodes("other"))
	}
	if err := s.DeleteNode(ctx, "plant", "edge-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.GetNode("plant", "edge-1"); ok {
		t.Fatal("deleted node still there")
	}
}
