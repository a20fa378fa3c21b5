package edge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestConfinement: a node's leaf connection carries its grant only. Node a (solution s1)
// reaches neither the hub's JetStream nor node b's (solution s2) domain, publishes nothing to
// the hub's subjects and receives nothing of them nor of b; a wrong password is refused; a
// solution's nodes are bounded.
func TestConfinement(t *testing.T) {
	ctx := context.Background()
	leafAddr := freeAddr(t)
	hub := startHub(t, t.TempDir(), leafAddr, 1)
	a := startNode(t, t.TempDir(), leafAddr, "s1.a", nil)
	b := startNode(t, t.TempDir(), leafAddr, "s2.b", nil)
	eventually(t, "both nodes to connect", func() bool { return a.Connected() && b.Connected() })
	linkA := openLink(t, hub, nodeDomain("s1.a"), nil)
	linkB := openLink(t, hub, nodeDomain("s2.b"), nil)

	// A stream of the hub's, which no node may reach.
	const hubTarget = "HUB_TARGET"
	if _, err := hub.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: hubTarget, Subjects: []string{"target.>"}}); err != nil {
		t.Fatal(err)
	}
	hubEvents, err := hub.Conn().SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	defer hubEvents.Unsubscribe() //nolint:errcheck // the bus closes after

	t.Run("JetStream APIs", func(t *testing.T) {
		for _, prefix := range []string{"$JS.API", "$JS.hub.API", apiPrefix(nodeDomain("s2.b"))} {
			js, err := jetstream.NewWithAPIPrefix(a.nc, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if prefix == "$JS.API" {
				// The node's own JetStream answers that one, locally: ask for the hub's stream.
				_, err = js.Stream(ctx, hubTarget)
				if !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Errorf("%s: the hub's stream: %v, want not found (the node's own JetStream)", prefix, err)
				}
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = js.AccountInfo(rctx)
			cancel()
			if err == nil {
				t.Errorf("node a reached %s", prefix)
			}
		}
		// Streams of the hub and of b, untouched: the hub still sees both.
		if _, err := hub.JetStream().Stream(ctx, hubTarget); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("subjects", func(t *testing.T) {
		// What a subscribes to locally: the hub's events, b's domain, the hub's API.
		var subs []*nats.Subscription
		for _, s := range []string{"events.>", apiPrefix(nodeDomain("s2.b")) + ".>", "$JS.hub.API.>", "$SB.edge.>"} {
			sub, err := a.nc.SubscribeSync(s)
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub)
		}
		if err := a.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// a publishes to the hub's subjects and to b's domain.
		for _, s := range []string{"events.s1.x", "$JS.hub.API.STREAM.DELETE." + hubTarget, apiPrefix(nodeDomain("s2.b")) + ".STREAM.PURGE.OUTBOX", "$KV.x.y", "_INBOX.x"} {
			if err := a.nc.Publish(s, []byte("forged")); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// The hub publishes events, asks b's domain and the hub's API; then writes a's
		// assignment, which goes over a's connection after all of that would have.
		if err := hub.Conn().Publish("events.s1.y", []byte("hub")); err != nil {
			t.Fatal(err)
		}
		if _, err := linkB.Assign(ctx, "k", []byte("for b")); err != nil {
			t.Fatalf("b's assignment: %v", err)
		}
		if _, err := hub.JetStream().AccountInfo(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := linkA.Assign(ctx, "k", []byte("for a")); err != nil {
			t.Fatalf("a's assignment: %v", err)
		}
		if v, err := a.Assignment(ctx, "k"); err != nil || string(v) != "for a" {
			t.Fatalf("a's assignment: %q %v", v, err)
		}
		if v, err := b.Assignment(ctx, "k"); err != nil || string(v) != "for b" {
			t.Fatalf("b's assignment: %q %v", v, err)
		}
		// a's subscriptions see what a itself published (locally); nothing of the hub's or b's.
		for _, sub := range subs {
			for {
				m, err := sub.NextMsg(0)
				if err != nil {
					break
				}
				if string(m.Data) != "forged" && !strings.HasPrefix(m.Subject, linkPrefix(nodeDomain("s1.a"))+".") {
					t.Errorf("node a received on %s: %s %q", sub.Subject, m.Subject, m.Data)
				}
			}
		}
		// Nothing a sent reached the hub; its stream of b is whole.
		for {
			m, err := hubEvents.NextMsg(0)
			if err != nil {
				break
			}
			if string(m.Data) == "forged" {
				t.Errorf("the hub received a's %s", m.Subject)
			}
		}
		if _, err := hub.JetStream().Stream(ctx, hubTarget); err != nil {
			t.Errorf("the hub's stream of b: %v", err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		before := hub.attempts("s2.b")
		bad := startNode(t, t.TempDir(), leafAddr, "s2.b", func(c *NodeConfig) { c.Password = "wrong-0123456789" })
		eventually(t, "two refused attempts", func() bool { return hub.attempts("s2.b") >= before+2 })
		if bad.Connected() {
			t.Fatal("a node with a wrong password is connected")
		}
	})

	t.Run("bound per solution", func(t *testing.T) {
		before := hub.attempts("s1.c")
		c := startNode(t, t.TempDir(), leafAddr, "s1.c", nil)
		eventually(t, "two refused attempts", func() bool { return hub.attempts("s1.c") >= before+2 })
		if c.Connected() {
			t.Fatal("a second node of s1 connected beyond the bound of 1")
		}
		a.Close()
		eventually(t, "the second node to get a's place", c.Connected)
	})
}
