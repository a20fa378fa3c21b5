package edge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/testkit"
)

// testNodes are the nodes the test hub lets in: user -> solution, node, password.
var testNodes = map[string]struct{ solution, node, password string }{
	"s1.a": {"s1", "a", "pw-a-0123456789"},
	"s1.c": {"s1", "c", "pw-c-0123456789"},
	"s2.b": {"s2", "b", "pw-b-0123456789"},
}

func nodeDomain(user string) string { return Domain(testNodes[user].solution, testNodes[user].node) }

// testHub is the hub's bus with a leaf listener, and the leaf logins it was asked about.
type testHub struct {
	*bus.Bus
	logins sync.Map // user -> *atomic.Int64
}

func (h *testHub) attempts(user string) int64 {
	v, _ := h.logins.LoadOrStore(user, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func startHub(t *testing.T, dir, leafAddr string, perSolution int) *testHub {
	t.Helper()
	h := &testHub{}
	b, err := bus.Open(context.Background(), bus.Config{DataDir: dir, Name: "hub", Leaf: &bus.LeafConfig{
		Listen: leafAddr,
		Login: func(user, password string) bus.LeafGrant {
			v, _ := h.logins.LoadOrStore(user, new(atomic.Int64))
			defer v.(*atomic.Int64).Add(1)
			n, ok := testNodes[user]
			if !ok || n.password != password {
				return bus.LeafGrant{}
			}
			pub, sub, err := Grant(Domain(n.solution, n.node))
			if err != nil {
				return bus.LeafGrant{}
			}
			return bus.LeafGrant{Solution: n.solution, Publish: pub, Subscribe: sub}
		},
		MaxConnections:            10,
		MaxConnectionsPerSolution: perSolution,
	}})
	if err != nil {
		t.Fatalf("hub: %v", err)
	}
	h.Bus = b
	t.Cleanup(func() { b.Close() })
	return h
}

func startNode(t *testing.T, dir, leafAddr, user string, change func(*NodeConfig)) *Node {
	t.Helper()
	cfg := NodeConfig{
		HubURL: "nats-leaf://" + leafAddr, User: user, Password: testNodes[user].password,
		DataDir: dir, Domain: nodeDomain(user), ReconnectWait: 100 * time.Millisecond,
	}
	if change != nil {
		change(&cfg)
	}
	n, err := StartNode(context.Background(), cfg)
	if err != nil {
		t.Fatalf("node %s: %v", user, err)
	}
	t.Cleanup(n.Close)
	return n
}

var (
	freeAddr   = testkit.FreeAddr
	eventually = testkit.Eventually
)

// received collects what a Link hands on.
type received struct {
	mu sync.Mutex
	ds []Delivery
}

func (r *received) handle(_ context.Context, d Delivery) error {
	r.mu.Lock()
	r.ds = append(r.ds, d)
	r.mu.Unlock()
	return nil
}

func (r *received) all() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.ds...)
}

func (r *received) count() int { return len(r.all()) }

func openLink(t *testing.T, h *testHub, domain string, r *received) *Link {
	t.Helper()
	l, err := OpenLink(h.Connect, domain)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	t.Cleanup(l.Close)
	if r != nil {
		if err := l.Receive(context.Background(), r.handle); err != nil {
			t.Fatalf("receive: %v", err)
		}
	}
	return l
}

func publishN(t *testing.T, n *Node, from, count int) {
	t.Helper()
	for i := from; i < from+count; i++ {
		if _, err := n.Publish(context.Background(), "temp.boiler", []byte(strconv.Itoa(i)), "m-"+strconv.Itoa(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// checkInOrder: the deliveries are messages 1..want, each once, in order.
func checkInOrder(t *testing.T, ds []Delivery, want int) {
	t.Helper()
	if len(ds) != want {
		t.Fatalf("%d deliveries, want %d", len(ds), want)
	}
	for i, d := range ds {
		if d.NodeSeq != uint64(i+1) || string(d.Data) != strconv.Itoa(i+1) || d.MsgID != "m-"+strconv.Itoa(i+1) || d.Subject != "temp.boiler" || d.Lost != 0 {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}
}

// TestOutboxAcrossOutages: what a node publishes reaches the hub in order, none twice: while
// connected, while the hub is down (handed on after the hub's restart), and across a restart of
// the node while the hub is down, which keeps the node's assignment and unsent outbox.
func TestOutboxAcrossOutages(t *testing.T) {
	ctx := context.Background()
	hubDir, nodeDir, leafAddr := t.TempDir(), t.TempDir(), freeAddr(t)
	hub := startHub(t, hubDir, leafAddr, 2)
	node := startNode(t, nodeDir, leafAddr, "s1.a", nil)
	eventually(t, "the node to connect", node.Connected)
	r := &received{}
	link := openLink(t, hub, nodeDomain("s1.a"), r)

	// (a) While connected.
	publishN(t, node, 1, 50)
	eventually(t, "50 messages at the hub", func() bool { return r.count() >= 50 })
	checkInOrder(t, r.all(), 50)
	if _, err := link.Assign(ctx, "flows", []byte(`{"v":1}`)); err != nil {
		t.Fatalf("assign: %v", err)
	}
	if v, err := node.Assignment(ctx, "flows"); err != nil || string(v) != `{"v":1}` {
		t.Fatalf("the node's assignment: %q, %v", v, err)
	}

	// (b) The hub stops; the node goes on publishing.
	link.Close()
	hub.Close()
	eventually(t, "the node to see the hub gone", func() bool { return !node.Connected() })
	publishN(t, node, 51, 25)
	if _, err := link.Assign(ctx, "flows", []byte(`{"v":2}`)); err == nil {
		t.Fatal("an assignment was written with the hub down")
	}

	// (c) The node restarts while the hub is down: its assignment and outbox are there.
	node.Close()
	node = startNode(t, nodeDir, leafAddr, "s1.a", nil)
	if v, err := node.Assignment(ctx, "flows"); err != nil || string(v) != `{"v":1}` {
		t.Fatalf("the node's assignment after its restart: %q, %v", v, err)
	}
	publishN(t, node, 76, 25)
	if d := node.Dropped(); d != 0 {
		t.Fatalf("dropped %d; want none", d)
	}

	// The hub comes back (same data dir, same listener): the 50 it had are not handed on
	// again, the 50 it had not arrive in order.
	hub = startHub(t, hubDir, leafAddr, 2)
	r2 := &received{}
	openLink(t, hub, nodeDomain("s1.a"), r2)
	eventually(t, "the node to reconnect", node.Connected)
	// The hub's server retries the source with a back-off (it tried while the node was away,
	// and its first request after the node's return can go out before the node's interest
	// crossed): catching up can take tens of seconds.
	start := time.Now()
	for r2.count() < 50 {
		if time.Since(start) > 90*time.Second {
			t.Fatalf("after 90s, %d of the 50 messages of the outage", r2.count())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("caught up in %v", time.Since(start).Round(100*time.Millisecond))
	all := append(r.all(), r2.all()...)
	checkInOrder(t, all, 100)
}

// TestOutboxBound: a full outbox keeps its oldest messages and refuses the newest, counting
// them; the hub gets what it kept, in order, then the count, before the next message; the
// count outlives a restart of the node.
func TestOutboxBound(t *testing.T) {
	leafAddr, dir := freeAddr(t), t.TempDir() // nobody at leafAddr yet
	node := startNode(t, dir, leafAddr, "s1.a", func(c *NodeConfig) { c.OutboxMaxMsgs = 10 })
	publishN(t, node, 1, 10)
	for i := 11; i <= 30; i++ {
		if _, err := node.Publish(context.Background(), "m", []byte(strconv.Itoa(i)), ""); !errors.Is(err, ErrOutboxFull) {
			t.Fatalf("message %d into a full outbox: %v, want ErrOutboxFull", i, err)
		}
	}
	if d := node.Dropped(); d != 20 {
		t.Fatalf("dropped %d; want 20", d)
	}
	node.Close()
	node = startNode(t, dir, leafAddr, "s1.a", func(c *NodeConfig) { c.OutboxMaxMsgs = 10 })
	if d := node.Dropped(); d != 20 {
		t.Fatalf("dropped %d after a restart; want 20", d)
	}
	hub := startHub(t, t.TempDir(), leafAddr, 2)
	r := &received{}
	link := openLink(t, hub, nodeDomain("s1.a"), r)
	eventually(t, "the 10 kept messages at the hub", func() bool { return r.count() >= 10 })
	// Taken by the hub, they leave the outbox: the next message goes in, after the count.
	eventually(t, "the outbox to be empty", func() bool {
		st, err := node.js.Stream(context.Background(), OutboxStream)
		return err == nil && st.CachedInfo().State.Msgs == 0
	})
	if _, err := node.Publish(context.Background(), "m", []byte("31"), ""); err != nil {
		t.Fatalf("message 31 into the emptied outbox: %v", err)
	}
	eventually(t, "the count and the next message at the hub", func() bool { return r.count() >= 12 })
	ds := r.all()
	if len(ds) != 12 || ds[0].NodeSeq != 1 || ds[0].Lost != 0 || ds[9].NodeSeq != 10 || string(ds[9].Data) != "10" {
		t.Fatalf("deliveries %+v", ds)
	}
	if ds[10].Subject != LostSubject || ds[10].Lost != 20 || ds[11].Lost != 0 || string(ds[11].Data) != "31" {
		t.Fatalf("after the kept ones: %+v, %+v; want the count of 20, then message 31", ds[10], ds[11])
	}
	if link.Lost() != 20 || node.Dropped() != 0 {
		t.Fatalf("the hub counts %d lost, want 20; the node has %d to tell, want 0", link.Lost(), node.Dropped())
	}
	if _, err := node.Publish(context.Background(), LostSubject, []byte("5"), ""); err == nil {
		t.Fatal("a caller published under the node's own subject")
	}
}

// TestHandleFails: a message whose handling fails is offered again, and nothing overtakes it.
func TestHandleFails(t *testing.T) {
	leafAddr := freeAddr(t)
	hub := startHub(t, t.TempDir(), leafAddr, 2)
	node := startNode(t, t.TempDir(), leafAddr, "s1.a", nil)
	var mu sync.Mutex
	var got []uint64
	failed := false
	link := openLink(t, hub, nodeDomain("s1.a"), nil)
	err := link.Receive(context.Background(), func(_ context.Context, d Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if d.NodeSeq == 2 && !failed {
			failed = true
			return fmt.Errorf("not now")
		}
		got = append(got, d.NodeSeq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, node, 1, 3)
	eventually(t, "3 messages handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[1 2 3]" || !failed {
		t.Fatalf("handled %v (failed once: %v)", got, failed)
	}
}
