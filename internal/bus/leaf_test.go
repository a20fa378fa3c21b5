package bus

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDomainKeepsStreams: a data dir made by a server without a JetStream domain (as before
// Config.Domain) keeps its streams and values when the hub opens it with its domain, which
// its API then answers under.
func TestDomainKeepsStreams(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := server.NewServer(&server.Options{JetStream: true, StoreDir: filepath.Join(dir, "jetstream"), DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go old.Start()
	if !old.ReadyForConnections(10 * time.Second) {
		t.Fatal("old server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(old))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "kept", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	old.Shutdown()
	old.WaitForShutdown()

	b, err := Open(ctx, Config{DataDir: dir, Name: "hub"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ai, err := b.JetStream().AccountInfo(ctx)
	if err != nil || ai.Domain != DefaultDomain {
		t.Fatalf("account info %+v, %v; want domain %q", ai, err, DefaultDomain)
	}
	kv, err = b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("the value after the domain was set: %v %v", e, err)
	}
	// Through the domain's prefix too.
	djs, _ := jetstream.NewWithDomain(b.Conn(), DefaultDomain)
	if _, err := djs.Stream(ctx, "KV_kept"); err != nil {
		t.Fatalf("the stream through $JS.%s.API: %v", DefaultDomain, err)
	}
}

// TestLeafDirections: on a leaf connection, the grant's Publish is what the node may send to
// the hub and Subscribe what the hub may send to the node, whatever the node asks for.
func TestLeafDirections(t *testing.T) {
	leaf := freeAddr(t)
	b, err := Open(context.Background(), Config{DataDir: t.TempDir(), Name: "hub", Leaf: &LeafConfig{
		Listen: leaf,
		Login: func(user, password string) LeafGrant {
			if user == "node" && password == "node-secret-0123456789" {
				return LeafGrant{Solution: "s1", Publish: []string{"up.>"}, Subscribe: []string{"down.>"}}
			}
			return LeafGrant{}
		},
		MaxConnections: 2, MaxConnectionsPerSolution: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.LeafAddr() != leaf {
		t.Fatalf("leaf listener at %q, want %q", b.LeafAddr(), leaf)
	}
	u, _ := url.Parse("nats-leaf://node:node-secret-0123456789@" + leaf)
	ns, err := server.NewServer(&server.Options{ServerName: "node", DontListen: true, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{ReconnectInterval: 100 * time.Millisecond, Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}}}})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	eventually(t, "the node to connect", func() bool { return ns.NumLeafNodes() == 1 })
	node, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	hub := b.Conn()

	// The node subscribes to everything; the hub publishes both ways' subjects.
	nodeAll, _ := node.SubscribeSync(">")
	hubAll, _ := hub.SubscribeSync("up.>")
	hubDown, _ := hub.SubscribeSync("down.>")
	if err := node.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := hub.Flush(); err != nil {
		t.Fatal(err)
	}
	// Interest crosses asynchronously: wait until a message each way gets through.
	eventually(t, "the hub's message to reach the node", func() bool {
		hub.Publish("down.x", []byte("probe")) //nolint:errcheck // checked by its arrival
		_, err := nodeAll.NextMsg(10 * time.Millisecond)
		return err == nil
	})
	eventually(t, "the node's message to reach the hub", func() bool {
		node.Publish("up.x", []byte("probe")) //nolint:errcheck // checked by its arrival
		_, err := hubAll.NextMsg(10 * time.Millisecond)
		return err == nil
	})
	// Not granted: the hub's up.y toward the node, the node's down.y toward the hub.
	hub.Publish("up.y", []byte("hub"))     //nolint:errcheck
	node.Publish("down.y", []byte("node")) //nolint:errcheck
	// Markers that follow on the same connections, each way.
	hub.Publish("down.end", []byte("end")) //nolint:errcheck
	node.Publish("up.end", []byte("end"))  //nolint:errcheck
	var fromHub, fromNode []string
	for {
		m, err := nodeAll.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal("no end marker from the hub")
		}
		if string(m.Data) == "hub" {
			fromHub = append(fromHub, m.Subject)
		}
		if m.Subject == "down.end" {
			break
		}
	}
	for {
		m, err := hubAll.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal("no end marker from the node")
		}
		if m.Subject == "up.end" {
			break
		}
	}
	for {
		m, err := hubDown.NextMsg(0)
		if err != nil {
			break
		}
		if string(m.Data) == "node" {
			fromNode = append(fromNode, m.Subject)
		}
	}
	if len(fromHub) != 0 || len(fromNode) != 0 {
		t.Fatalf("outside the grant: the node received %v, the hub %v", fromHub, fromNode)
	}
}
