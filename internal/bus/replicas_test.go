package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/clustertest"
)

// TestReplicasOnCluster opens the bus on a 3-node cluster with each --replicas setting: 0
// settles on 3, a count the cluster places is kept and reaches the buckets created, and one
// beyond it (or beyond JetStream's bound) is refused with the reason, leaving no probe stream.
func TestReplicasOnCluster(t *testing.T) {
	c := clustertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, tc := range []struct {
		name    string
		want    int
		settled int
		err     string
	}{
		{name: "default is the cluster's size up to 3", want: 0, settled: 3},
		{name: "fewer than the cluster has", want: 2, settled: 2},
		{name: "as many as the cluster has", want: 3, settled: 3},
		{name: "more than the cluster has", want: 4, err: "place at most 3 replicas"},
		{name: "beyond JetStream's bound", want: 6, err: "want 1 to 5"},
		{name: "negative", want: -1, err: "want 1 to 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(ctx, Config{URL: c.URLs(), Name: "replicas-test", Replicas: tc.want})
			if tc.err != "" {
				if err == nil {
					b.Close()
					t.Fatalf("replicas %d on 3 nodes was accepted", tc.want)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %q does not say %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer b.Close()
			if got := b.Replicas(); got != tc.settled {
				t.Fatalf("replicas = %d, want %d", got, tc.settled)
			}
			bucket := fmt.Sprintf("replicas_%d", i)
			kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
			if err != nil {
				t.Fatalf("create bucket: %v", err)
			}
			st, err := kv.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; got != tc.settled {
				t.Fatalf("bucket has %d replicas, want %d", got, tc.settled)
			}
			names := b.JetStream().StreamNames(ctx)
			for n := range names.Name() {
				if strings.HasPrefix(n, "SWITCHBOARD_REPLICAS_") {
					t.Fatalf("probe stream %s left behind", n)
				}
			}
			if err := names.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReplicasWithANodeDown stops one node of three: it is still a member of the cluster,
// so the default still settles on 3 (the node catches up when it is back), a bucket of 3
// replicas takes writes with 2 of them up, and 4 is still refused, naming 3.
func TestReplicasWithANodeDown(t *testing.T) {
	c := clustertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Stop("n3"); err != nil {
		t.Fatal(err)
	}
	url := c.URL("n1") + "," + c.URL("n2")
	b, err := Open(ctx, Config{URL: url, Name: "replicas-test"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	if got := b.Replicas(); got != 3 {
		t.Fatalf("replicas = %d with one node of three down, want 3", got)
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "down"})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put with 2 of 3 replicas up: %v", err)
	}
	_, err = Open(ctx, Config{URL: url, Name: "replicas-test", Replicas: 4})
	var re *ReplicasError
	if !errors.As(err, &re) || re.Allowed != 3 {
		t.Fatalf("replicas 4: %v, want a ReplicasError allowing 3", err)
	}
}

// TestReplicasEmbedded: the embedded server keeps one copy; asking for more is refused.
func TestReplicasEmbedded(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, Config{DataDir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Replicas(); got != 1 {
		t.Fatalf("replicas = %d, want 1", got)
	}
	b.Close()
	_, err = Open(ctx, Config{DataDir: t.TempDir(), Name: "test", Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "embedded NATS server is a single node") {
		t.Fatalf("replicas 3 on the embedded server: %v", err)
	}
}

// TestReplicasDropsLeftoverProbes: a probe stream an instance left behind (killed between
// creating and deleting it) is deleted by the next instance's probe once it is old enough;
// other streams are left alone.
func TestReplicasDropsLeftoverProbes(t *testing.T) {
	c := clustertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Open(ctx, Config{URL: c.URLs(), Name: "replicas-test"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	js := b.JetStream()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "SWITCHBOARD_REPLICAS_LEFTOVER_3", Subjects: []string{"_sb.replicas.SWITCHBOARD_REPLICAS_LEFTOVER_3"}},
		{Name: "OTHER", Subjects: []string{"other.>"}},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// A young probe may be another instance's at work: kept.
	if _, err := placeableReplicas(ctx, js, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, "SWITCHBOARD_REPLICAS_LEFTOVER_3"); err != nil {
		t.Fatalf("a probe younger than %v was deleted: %v", staleProbeAge, err)
	}
	defer func(age time.Duration) { staleProbeAge = age }(staleProbeAge)
	staleProbeAge = 0
	if _, err := placeableReplicas(ctx, js, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, "SWITCHBOARD_REPLICAS_LEFTOVER_3"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("leftover probe: %v, want it deleted", err)
	}
	if _, err := js.Stream(ctx, "OTHER"); err != nil {
		t.Fatalf("another stream: %v", err)
	}
}
