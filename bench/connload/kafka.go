package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafka: franz-go's kfake, a Kafka cluster in this process on a loopback port the hub
// reaches too; produced synchronously, read in a consumer group whose offsets are committed
// by hand after each poll's records, as the connector does.
type kafkaBroker struct {
	cluster    *kfake.Cluster
	pub        *kgo.Client
	partitions int32
}

func newKafka(_ context.Context, c config) (broker, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	pub, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		cluster.Close()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &kafkaBroker{cluster: cluster, pub: pub, partitions: int32(c.kafkaPartitions)}, nil
}

func (b *kafkaBroker) close() { b.pub.Close(); b.cluster.Close() }

func (b *kafkaBroker) dest(ctx context.Context, tag string) (destination, error) {
	topic := "connload-" + tag
	if _, err := kadm.NewClient(b.pub).CreateTopic(ctx, b.partitions, 1, nil, topic); err != nil {
		return nil, fmt.Errorf("kafka create topic %s: %w", topic, err)
	}
	return &kafkaDest{b: b, topic: topic}, nil
}

type kafkaDest struct {
	b     *kafkaBroker
	topic string
}

func (d *kafkaDest) publish(ctx context.Context, _ string, body []byte) error {
	return d.b.pub.ProduceSync(ctx, &kgo.Record{Topic: d.topic, Value: body}).FirstErr()
}

func (d *kafkaDest) consume(ctx context.Context, inFlight int, got func([]byte)) (func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.b.cluster.ListenAddrs()...),
		kgo.ConsumerGroup("raw-"+d.topic), kgo.ConsumeTopics(d.topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			fs := cl.PollRecords(rctx, inFlight)
			if fs.IsClientClosed() {
				return
			}
			if rs := fs.Records(); len(rs) > 0 {
				for _, r := range rs {
					got(r.Value)
				}
				if cl.CommitRecords(rctx, rs...) != nil && rctx.Err() != nil {
					return
				}
			}
			cl.AllowRebalance()
		}
	}()
	return func() {
		cancel()
		<-done
		// A poll left unreleased (the loop ended between poll and commit) blocks leaving
		// the group, and so Close, for ever.
		cl.AllowRebalance()
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		cl.LeaveGroupContext(lctx) //nolint:errcheck // closing anyway
		cl.Close()
	}, nil
}

func (d *kafkaDest) connector(inFlight int) (string, map[string]any) {
	return "kafka", map[string]any{"brokers": d.b.cluster.ListenAddrs(), "topics": []string{d.topic},
		"group": "switchboard-" + d.topic, "start": "earliest", "max_in_flight": inFlight}
}

func (d *kafkaDest) close(ctx context.Context) {
	kadm.NewClient(d.b.pub).DeleteTopics(ctx, d.topic) //nolint:errcheck // best effort
}
