package clustertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/clustertest"
)

// TestCluster starts three nodes, keeps a stream on all three, and writes to it while one node
// is stopped (two of three are a quorum) and after it is back.
func TestCluster(t *testing.T) {
	c := clustertest.Start(t)
	if got := len(c.Names()); got != 3 {
		t.Fatalf("%d nodes, want 3", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to %s: %v", c.URLs(), err)
	}
	defer nc.Close()
	if nc.ConnectedClusterName() == "" {
		t.Fatal("the server connected to is not in a cluster")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("create a stream of 3 replicas: %v", err)
	}
	if got := len(st.CachedInfo().Cluster.Replicas) + 1; got != 3 {
		t.Fatalf("stream on %d nodes, want 3", got)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("1")); err != nil {
		t.Fatal(err)
	}
	leader := st.CachedInfo().Cluster.Leader
	if err := c.Stop(leader); err != nil {
		t.Fatal(err)
	}
	if c.Server(leader) != nil {
		t.Fatalf("node %s still has a server after Stop", leader)
	}
	// The others elect a new stream leader; a publish is acknowledged once they have (one
	// sent before goes unanswered). The message id makes a publish that was stored but whose
	// answer was lost count once.
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(pctx, "t.2", []byte("2"), jetstream.WithMsgID("t.2"))
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("publish with %s down: %v", leader, err)
		}
	}
	if err := c.Restart(ctx, leader); err != nil {
		t.Fatalf("restart %s: %v", leader, err)
	}
	if _, err := js.Publish(ctx, "t.3", []byte("3")); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("%d messages, want 3", info.State.Msgs)
	}
}
